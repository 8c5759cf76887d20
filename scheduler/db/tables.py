"""The database tables (SQLModel). They never leave `scheduler/`: the API speaks in schemas.

Ids from round files are kept as `code` beside integer keys. Lists that are
values rather than entities (a request's acceptable instruments, in order;
unavailable intervals; a quota's scope and category) are JSON columns, so a
round file goes in and comes out key for key. Each child row has a `position`
so exports keep the file's order. Relationships are queried explicitly:
async sessions must not lazy-load.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

from scheduler.db.types import UTCDateTime


def now() -> datetime:
    return datetime.now(UTC)


class Keyed(SQLModel):
    """A row known by a surrogate integer key, None until the database assigns it."""

    id: int | None = Field(default=None, primary_key=True)


class Versioned:
    """A row people edit: its `version` column is SQLAlchemy's version counter, bumped by every UPDATE of the row
    and checked in that UPDATE's WHERE (a write that read an older version fails, StaleDataError); the API sends it
    as the ETag that a write's If-Match names."""

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 (a class-level directive)
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


# Catalogue: facilities outlive rounds.


class FacilityBase(SQLModel):
    code: str = Field(min_length=1, max_length=64, unique=True, index=True)
    name: str
    country: str = Field(min_length=2, max_length=2)
    timezone: str


class Facility(FacilityBase, Keyed, Versioned, table=True):
    version: int = 1
    """Bumped by every change (`Versioned`): the ETag that a write's If-Match must name."""


class InstrumentBase(SQLModel):
    code: str = Field(min_length=1, max_length=64, unique=True, index=True)
    name: str
    techniques: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    changeover_shifts: int = Field(default=0, ge=0)
    reserve_share: float = Field(default=0.0, ge=0.0, lt=1.0)


class Instrument(InstrumentBase, Keyed, Versioned, table=True):
    version: int = 1
    facility_id: int = Field(foreign_key="facility.id", index=True)
    position: int = 0


class WindowBase(SQLModel):
    start: datetime = Field(sa_type=UTCDateTime)
    end: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=32)
    reason: str = ""


class Window(WindowBase, Keyed, Versioned, table=True):
    """Time an instrument cannot be used: on a whole facility, or on one instrument."""

    facility_id: int | None = Field(default=None, foreign_key="facility.id", index=True)
    instrument_id: int | None = Field(default=None, foreign_key="instrument.id", index=True)
    position: int = 0
    version: int = 1


class EquipmentBase(SQLModel):
    code: str = Field(min_length=1, max_length=64, unique=True, index=True)
    name: str
    units: int = Field(default=1, ge=1)


class Equipment(EquipmentBase, Keyed, Versioned, table=True):
    facility_id: int | None = Field(default=None, foreign_key="facility.id", index=True)
    """The facility that keeps it, whose coordinators change it; none for items from before ownership (admins only)."""
    version: int = 1


# Rounds


class RoundBase(SQLModel):
    code: str = Field(min_length=1, max_length=64, unique=True, index=True)
    name: str
    start: datetime = Field(sa_type=UTCDateTime)
    end: datetime = Field(sa_type=UTCDateTime)
    shift_hours: int = Field(default=8, gt=0, le=24)
    phase: str = Field(default="open", max_length=16)
    """open → review → allocation → published → running → closed."""
    call_closes: datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_closes: datetime | None = Field(default=None, sa_type=UTCDateTime)
    frozen_horizon_days: int = Field(default=14, ge=0)
    auto_publish: bool = False
    """Publish a nightly repair by itself when nothing inside the frozen horizon changed."""
    auto_publish_max_moved_share: float = Field(default=0.02, ge=0.0, le=1.0)
    """Above this share of published allocations moved, a nightly repair waits for a coordinator."""
    nightly_hour: int = Field(default=2, ge=0, le=23)
    """Local hour (the first facility's timezone) of the nightly repair."""


class FairReturnPolicy(Keyed, Versioned, table=True):
    """A consortium's fair return, configured once: the targets its rounds balance over the years, as the round
    file's `fair_return` without history (`scheduler.rounds.fair_return` fills that in from published schedules)."""

    name: str = Field(min_length=1, max_length=200, unique=True)
    targets: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """`FairReturnTarget` documents, validated by the contract before they are stored."""
    attribution: str = Field(default="team", max_length=8)
    price_per_shift: float | None = None
    version: int = 1
    created_at: datetime = Field(default_factory=now, sa_type=UTCDateTime)


class Round(RoundBase, Keyed, Versioned, table=True):
    fair_return_policy_id: int | None = Field(default=None, foreign_key="fairreturnpolicy.id", index=True)
    """The consortium policy the round's export takes its `fair_return` from, with history from earlier rounds."""
    fair_return: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    """`fair_return` as an imported round file gave it (the coordinators' word), exported when no policy is set."""
    utc_offset_minutes: int = 0
    """The offset the round file was written in, so exports read as the file did."""
    scoring: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    revision: int = 0
    """Bumped on every publish: the optimistic-concurrency token."""
    input_revision: int = 0
    """Bumped by every change a solve reads (the round, its catalogue, quotas, proposals, reviews): a solve's result is
    for the input revision it read."""
    version: int = 1
    created_at: datetime = Field(default_factory=now, sa_type=UTCDateTime)


class RoundFacility(SQLModel, table=True):
    round_id: int = Field(foreign_key="round.id", primary_key=True)
    facility_id: int = Field(foreign_key="facility.id", primary_key=True)
    position: int = 0


class RoundInstrument(SQLModel, table=True):
    """The instruments of a round: a round may use some of a facility's instruments only."""

    round_id: int = Field(foreign_key="round.id", primary_key=True)
    instrument_id: int = Field(foreign_key="instrument.id", primary_key=True)
    position: int = 0


class RoundEquipment(SQLModel, table=True):
    round_id: int = Field(foreign_key="round.id", primary_key=True)
    equipment_id: int = Field(foreign_key="equipment.id", primary_key=True)
    position: int = 0


class CountryGroup(Keyed, table=True):
    __table_args__ = (UniqueConstraint("round_id", "name"),)

    round_id: int = Field(foreign_key="round.id", index=True)
    name: str
    countries: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    position: int = 0


class QuotaBase(SQLModel):
    code: str = Field(min_length=1, max_length=64)
    scope: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    category: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    min_share: float | None = None
    max_share: float | None = None
    attribution: str = "pi"
    soft: bool = False
    penalty: float | None = None


class Quota(QuotaBase, Keyed, Versioned, table=True):
    __table_args__ = (UniqueConstraint("round_id", "code"),)

    round_id: int = Field(foreign_key="round.id", index=True)
    position: int = 0
    version: int = 1


# Proposals


class ProposalBase(SQLModel):
    code: str = Field(min_length=1, max_length=64)
    title: str
    type: str = Field(max_length=16)
    pi_name: str
    pi_institution: str = ""
    pi_country: str = Field(min_length=2, max_length=2)
    priority: float | None = None
    technically_feasible: bool = True
    missed_rounds: int = 0
    first_time_users: bool = False
    early_career_pi: bool = False
    bonus_facts_confirmed: bool = False
    """The three facts above as a coordinator confirmed them; unconfirmed claims earn no bonus."""
    pi_email: str | None = Field(default=None, max_length=254)
    """The PI's account e-mail: conflicts of interest are decided on accounts, never on display names."""
    type_confirmed: bool = False
    """An `in_house` or `industrial` type as the facility's coordinators confirmed it at the feasibility review."""
    inadmissible_reason: str | None = None
    submitted: bool = False
    """Submitted through the API by a proposer, whose people's countries count only as their accounts confirm them;
    a proposal from a coordinator's round file keeps the file's."""
    """Set by the coordinators of the facilities it asks for: out of the solve, and the proposer sees why."""


class Proposal(ProposalBase, Keyed, Versioned, table=True):
    __table_args__ = (
        UniqueConstraint("round_id", "code"),
        Index("ix_proposal_round_id_position", "round_id", "position"),
    )
    """A round's proposals in their order: a submission's place after the last one (`repository.after_last`) is read
    from the index's end under the round's lock, not from every proposal of the round."""

    round_id: int = Field(foreign_key="round.id")
    owner_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    withdrawn: bool = False
    position: int = 0
    version: int = 1
    created_at: datetime = Field(default_factory=now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=now, sa_type=UTCDateTime)


class TeamMember(Keyed, table=True):
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    name: str
    institution: str = ""
    country: str = Field(min_length=2, max_length=2)
    email: str | None = Field(default=None, max_length=254)
    """The member's account e-mail, when they have one: the identity conflicts of interest are decided on."""
    position: int = 0


class RequestBase(SQLModel):
    code: str = Field(min_length=1, max_length=64)
    instruments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Instrument codes in the proposer's order of preference."""
    shifts: int = Field(ge=1)
    min_shifts: int | None = Field(default=None, ge=1)
    equipment: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    earliest: datetime | None = Field(default=None, sa_type=UTCDateTime)
    latest: datetime | None = Field(default=None, sa_type=UTCDateTime)
    unavailable: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """[{start, end}] as ISO 8601 with offsets."""


class Request(RequestBase, Keyed, table=True):
    __table_args__ = (UniqueConstraint("round_id", "code"),)

    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    round_id: int = Field(foreign_key="round.id", index=True)
    position: int = 0


class Link(Keyed, table=True):
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    type: str = Field(max_length=16)
    requests: list[str] | None = Field(default=None, sa_column=Column(JSON))
    first: str | None = None
    then: str | None = None
    min_gap_shifts: int = 0
    max_gap_shifts: int | None = None
    position: int = 0


class Review(Keyed, table=True):
    __table_args__ = (UniqueConstraint("proposal_id", "reviewer"),)

    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    reviewer: str
    """The reviewer's name as the round file gives it."""
    reviewer_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    grade: float
    conflict: bool = False
    comment: str = ""
    position: int = 0
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """A voided review no longer counts (its reviewer was unassigned, or a coordinator set it aside)."""
    void_reason: str | None = None
    voided_by: int | None = Field(default=None, foreign_key="user.id")


class ReviewAssignment(SQLModel, table=True):
    proposal_id: int = Field(foreign_key="proposal.id", primary_key=True)
    user_id: int = Field(foreign_key="user.id", primary_key=True)


# Solves and schedules


class SolveRun(Keyed, table=True):
    """One execution of the solver: queued → running → done / failed / cancelled, input and output kept."""

    round_id: int = Field(foreign_key="round.id", index=True)
    state: str = Field(default="queued", max_length=16, index=True)
    kind: str = Field(default="manual", max_length=16)
    run_key: str | None = Field(default=None, unique=True, max_length=128)
    """Set for scheduled runs, so that one key runs once however many processes try."""
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    input: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    output: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    progress: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    error: str | None = None
    cancel_requested: bool = False
    requested_by: int | None = Field(default=None, foreign_key="user.id")
    worker: str | None = None
    attempts: int = 0
    input_revision: int | None = None
    """The round's input revision the solve read: a result for an older one is stale, never publishable."""
    """How many times a worker claimed it: a run reaped after a crash is queued again once."""
    schedule_version_id: int | None = Field(default=None, foreign_key="scheduleversion.id")
    created_at: datetime = Field(default_factory=now, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ScheduleVersion(Keyed, table=True):
    __table_args__ = (
        UniqueConstraint("round_id", "number"),
        Index(
            "one_published_per_round",
            "round_id",
            unique=True,
            sqlite_where=text("status = 'published'"),
            postgresql_where=text("status = 'published'"),
        ),
    )

    round_id: int = Field(foreign_key="round.id", index=True)
    number: int
    status: str = Field(default="draft", max_length=16)
    """draft → published → superseded."""
    source: str = Field(default="solve", max_length=16)
    """solve, import (a round file's previous_schedule) or edit."""
    objective: float | None = None
    bound: float | None = None
    solve_status: str | None = None
    note: str = ""
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=now, sa_type=UTCDateTime)
    published_by: int | None = Field(default=None, foreign_key="user.id")
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ScheduleMeasurement(SQLModel, table=True):
    """A version no solve made (an imported round's schedule), measured once as the engine measures its own
    (`scheduler.schedules.export`): a version made by a solve carries its run's output instead."""

    schedule_version_id: int = Field(foreign_key="scheduleversion.id", primary_key=True)
    round_inputs: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    """The round's inputs it was measured at, as `scheduler.rounds.kept` keys a kept round (`RoundInputs.stored`):
    when they move, the measurement is stale."""
    digest: str = Field(max_length=64)
    """sha256 of the round file and the allocations measured: what the input revision cannot tell apart (a change
    later in the transaction that measured it moves no revision a second time)."""
    schedule: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    """The measured schedule file."""
    measured_at: datetime = Field(default_factory=now, sa_type=UTCDateTime)


class Allocation(Keyed, table=True):
    __table_args__ = (UniqueConstraint("schedule_version_id", "request_id"),)

    schedule_version_id: int = Field(foreign_key="scheduleversion.id", index=True)
    request_id: int = Field(foreign_key="request.id", index=True)
    instrument_id: int = Field(foreign_key="instrument.id")
    start_shift: int = Field(ge=0)
    shifts: int = Field(ge=1)
    pinned: bool = False


class ChangeNotice(Keyed, table=True):
    """What changed for a proposal's slot when a schedule was published, and why; drives the ICS SEQUENCE."""

    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    request_code: str = Field(max_length=64)
    schedule_version_id: int = Field(foreign_key="scheduleversion.id", index=True)
    kind: str = Field(max_length=16)
    """moved, resized, dropped or added."""
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    reason: str = ""
    created_at: datetime = Field(default_factory=now, sa_type=UTCDateTime)


# Accounts


class User(Keyed, table=True):
    email: str = Field(unique=True, index=True, max_length=254)
    name: str
    role: str = Field(max_length=16)
    """admin, coordinator, reviewer or proposer."""
    password_hash: str
    active: bool = True
    token_version: int = 0
    country: str | None = Field(default=None, min_length=2, max_length=2)
    institution: str | None = Field(default=None, max_length=200)
    country_confirmed: bool = False
    """Set or confirmed by an admin or coordinator: only a confirmed country counts in a country's quota."""
    """Part of every access token; bumped on deactivation, role or password change and logout, which ends old tokens."""
    calendar_token_hash: str | None = Field(default=None, unique=True, index=True, max_length=64)
    """SHA-256 of the secret in the address of the user's calendar feed; None until they make one."""
    created_at: datetime = Field(default_factory=now, sa_type=UTCDateTime)


class CoordinatorFacility(SQLModel, table=True):
    user_id: int = Field(foreign_key="user.id", primary_key=True)
    facility_id: int = Field(foreign_key="facility.id", primary_key=True)


class AuditEntry(Keyed, table=True):
    """Who changed what, written in the same transaction as the change."""

    at: datetime = Field(default_factory=now, sa_type=UTCDateTime, index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id")
    action: str = Field(max_length=64)
    entity: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ScheduleSignOff(Keyed, table=True):
    """A facility coordinator's approval of a draft's changes on their facility's instruments (shared rounds)."""

    __table_args__ = (UniqueConstraint("schedule_version_id", "facility_id"),)

    schedule_version_id: int = Field(foreign_key="scheduleversion.id", index=True)
    facility_id: int = Field(foreign_key="facility.id")
    user_id: int = Field(foreign_key="user.id")
    at: datetime = Field(default_factory=now, sa_type=UTCDateTime)


class IdempotencyKey(Keyed, table=True):
    """The answer a creating POST gave for a client's key, so a repeat gets the same answer and creates nothing."""

    __table_args__ = (UniqueConstraint("user_id", "key"),)

    user_id: int = Field(foreign_key="user.id")
    key: str = Field(max_length=128)
    request: str = Field(max_length=64)
    """A digest of the method, path and body: the same key with another request is a conflict."""
    status_code: int
    body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    location: str | None = Field(default=None, max_length=512)
    created_at: datetime = Field(default_factory=now, sa_type=UTCDateTime, index=True)
