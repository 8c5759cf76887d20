"""Schedule versions of a round: draft → published → superseded, compared, pinned and edited by hand.

Rules kept here, so that every caller gets them:
- Exactly one version of a round is published. Publishing bumps `Round.revision`
  with a conditional UPDATE, so two coordinators publishing from the same
  revision cannot both win; the partial unique index `one_published_per_round`
  stands behind it.
- Only drafts are published, pinned or unpinned. A pin or unpin takes back the sign-off
  of the facility whose instrument holds the allocation. Pins of a draft take effect when
  it is published: the published version's allocations, pins included, are the
  `previous_schedule` of the round's next solve.
- A draft is published only if it keeps every rule of the round as it is now: a
  window, quota or withdrawal since it was made may have broken one (StaleDraftError).
- A manual move never edits a version: its moves (one, or several together such as the
  two halves of a swap) are checked against every rule of the round file format on the
  would-be schedule as a whole and, if it keeps them all, saved as one new draft
  (source "edit") that copies the other allocations; else nothing is saved. The same
  check answers without saving (`check_moves`), for the page to judge a drag live.
- Versions, diffs and exports are for the round's coordinators and admins
  (`require_round_reader`, `require_readers`); a draft is unknown to anyone else. An export
  carries priorities and reasons only of the proposals the reader may read in confidence
  (`export_for`): in a shared round, those asking for their facilities' instruments.
- A move or pin is made only where every facility it touches is the coordinator's
  (`require_manager`); a shared round's draft is published once every facility it changes
  signed off, or by an admin (`require_publisher`, `scheduler.schedules.signoffs`).
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler import access
from scheduler.access import Answer, Facts, Operation
from scheduler.accounts.schemas import Claims
from scheduler.db.repository import TableService, lock_all, locked, record
from scheduler.db.tables import Allocation, Instrument, Proposal, Request, Round, ScheduleVersion
from scheduler.errors import Conflict, DomainError, NotFound, found
from scheduler.fields import MAX_INT, Input
from scheduler.proposals.service import proposal_facts
from scheduler.roundfile.contract import Allocation as AllocationEntry
from scheduler.roundfile.contract import RoundFile, ScheduleChanges, ScheduleFile
from scheduler.roundfile.grid import Grid
from scheduler.roundfile.measure import measure
from scheduler.roundfile.resolve import changes_between
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import exclusions, priorities, set_aside
from scheduler.roundfile.validate import Violation, validate_schedule
from scheduler.rounds.exporter import export_round
from scheduler.rounds.fair_return import later_rounds
from scheduler.rounds.kept import KeptRound, kept_round
from scheduler.rounds.revision import require_current_input, touch_rounds
from scheduler.rounds.service import round_facts
from scheduler.schedules import signoffs
from scheduler.schedules.confidential import withhold
from scheduler.schedules.export import export_schedule
from scheduler.schedules.notices import record_changes
from scheduler.schedules.signoffs import facilities_of_instruments
from scheduler.schedules.versions import (
    DRAFT,
    PUBLISHED,
    SUPERSEDED,
    VersionSource,
    VersionStatus,
    save_version,
    version_schedule,
)


class RevisionConflictError(Conflict):
    """Someone published since the caller read the round: the member `current_revision` is the round's now."""


class MoveRejectedError(DomainError):
    """The moved allocation would break rules of the round (the member `errors`, `broken`); nothing was saved."""

    def __init__(self, violations: list[Violation]) -> None:
        message = f"the move breaks {len(violations)} rule(s) of the round; nothing was saved"
        super().__init__(message, errors=broken(violations))


class StaleDraftError(Conflict):
    """The draft breaks rules of the round as it is now (it changed since the draft was made; the member `errors`,
    `broken`); nothing was published."""

    def __init__(self, number: int, violations: list[Violation]) -> None:
        message = (
            f"version {number} breaks {len(violations)} rule(s) of the round as it is now; nothing was published: "
            "solve or edit the round again"
        )
        super().__init__(message, errors=broken(violations))


class VersionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    round_id: int
    number: int
    status: VersionStatus
    source: VersionSource
    objective: float | None
    bound: float | None
    solve_status: str | None
    note: str
    created_by: int | None
    created_at: datetime
    published_by: int | None
    published_at: datetime | None


@dataclass
class RoundVersions(OffsetPagination[VersionPublic]):
    """A page of a round's versions, oldest first, with the round's revision read in the same transaction."""

    items: Sequence[VersionPublic]
    revision: int
    """Send it as expected_revision to publish."""


class AllocationPublic(BaseModel):
    proposal: str
    request: str
    instrument: str
    start_shift: int
    shifts: int
    start: datetime
    end: datetime
    pinned: bool


class VersionDetail(VersionPublic):
    round_revision: int = Field(description="Send it as expected_revision to publish.")
    allocations: list[AllocationPublic]


class Published(BaseModel):
    version: VersionPublic
    revision: int = Field(description="The round's revision after this publish.")
    superseded: int | None = Field(description="Id of the version that was published before, if any.")


class VersionDiff(ScheduleChanges):
    """How version `to_version` differs from `from_version`, per request (`ScheduleChanges` terms)."""

    from_version: int
    to_version: int
    unchanged: int = Field(description="Requests with the same instrument, start and length in both.")


class PublishRequest(Input):
    expected_revision: int = Field(
        ge=0, le=MAX_INT, description="The round's revision as last read; a stale one gets 409, nothing published."
    )


class Move(Input):
    """Place one request anew: on `instrument`, shifts [start_shift, start_shift + shifts) of the round's grid."""

    request: str = Field(min_length=1, max_length=64)
    instrument: str = Field(min_length=1, max_length=64)
    start_shift: int = Field(ge=0, le=MAX_INT)
    shifts: int = Field(ge=1, le=MAX_INT)


MAX_MOVES = 100
"""The most requests one hand edit places anew: a swap is two, a reshuffled week a few dozen."""
MOVED_ONCE = "each request is moved at most once per change"


class Moves(Input):
    """Requests placed anew together: judged on the would-be schedule as a whole and saved as one draft or not at
    all, since each move alone may break a rule that all of them keep (the two halves of a swap overlap alone)."""

    moves: list[Move] = Field(min_length=1, max_length=MAX_MOVES, description=f"In any order; {MOVED_ONCE}.")

    @field_validator("moves")
    @classmethod
    def _each_request_once(cls, moves: list[Move]) -> list[Move]:
        repeated = sorted(code for code, count in Counter(move.request for move in moves).items() if count > 1)
        if repeated:
            raise ValueError(f"{MOVED_ONCE}: {', '.join(repeated)} more than once")
        return moves


class BrokenRule(BaseModel):
    rule: int = Field(description="The hard rule's number in the round file format (docs/round-format.md).")
    path: str = Field(description="Where: `$.moves[i]` for a move itself, `$.allocations[i]` in the would-be schedule.")
    message: str


def broken(violations: list[Violation]) -> list[dict[str, Any]]:
    """Each rule broken as the validator words it, with the rule's number in the spec, as a refusal's member."""
    return [BrokenRule(**asdict(v)).model_dump() for v in violations]


class MoveCheck(BaseModel):
    """What the moves would do if saved: nothing is saved by a check."""

    keeps_every_rule: bool
    errors: list[BrokenRule] = Field(
        description="Every rule the would-be schedule breaks, as a refused move names them."
    )


class ScheduleVersionService(TableService[ScheduleVersion]):
    noun = "schedule version"


def _public(version: ScheduleVersion) -> VersionPublic:
    return VersionPublic.model_validate(version)


async def _version(session: AsyncSession, version_id: int) -> ScheduleVersion:
    return await found(session, ScheduleVersion, version_id, "schedule version")


async def _round(session: AsyncSession, round_id: int) -> Round:
    return await found(session, Round, round_id, "round")


async def require_round_reader(session: AsyncSession, actor: Claims, round_id: int) -> None:
    """A round's versions, with their figures, are for its coordinators and admins (`READ_SCHEDULE`);
    proposers read their own slots through /me/proposals and /proposals/{id}/slots."""
    round_ = await _round(session, round_id)
    access.require(actor, Operation.READ_SCHEDULE, await round_facts(session, round_id), f"round {round_.code}")


async def require_readers(session: AsyncSession, actor: Claims, *version_ids: int) -> None:
    """`READ_SCHEDULE` on every version named; a draft the actor may not know of answers NotFound first."""
    checks = []
    for version_id in version_ids:
        version = await _version(session, version_id)
        checks.append((await _facts(session, version), version_id))
    checks.sort(key=lambda check: access.decide(actor, Operation.READ_SCHEDULE, check[0]) is not Answer.HIDE)
    for facts, version_id in checks:
        access.require(actor, Operation.READ_SCHEDULE, facts, f"schedule version {version_id}")


async def require_manager(
    session: AsyncSession,
    actor: Claims,
    version_id: int,
    *,
    requests: Sequence[str],
    instruments: Sequence[str] = (),
) -> None:
    """`CHANGE_SCHEDULE`: a pin or move is the coordinator's where every facility it touches is theirs: the
    facilities of the instruments the version gives the `requests` and of the `instruments` named."""
    version = await _version(session, version_id)
    placed = await session.execute(
        select(col(Allocation.instrument_id))
        .join(Request, col(Request.id) == col(Allocation.request_id))
        .where(col(Allocation.schedule_version_id) == version_id, col(Request.code).in_(requests))
    )
    named = await session.execute(select(col(Instrument.id)).where(col(Instrument.code).in_(instruments)))
    touched = await facilities_of_instruments(session, {*placed.scalars(), *named.scalars()})
    facts = await _facts(session, version, asks_for=touched)
    access.require(actor, Operation.CHANGE_SCHEDULE, facts, f"schedule version {version_id}")


async def require_publisher(session: AsyncSession, actor: Claims, version_id: int) -> None:
    """`PUBLISH_SCHEDULE`, and in a shared round the sign-offs of every facility the draft changes
    (`signoffs.require_signed_off`: the publisher's own facilities sign with the publish)."""
    version = await _version(session, version_id)
    access.require(actor, Operation.PUBLISH_SCHEDULE, await _facts(session, version), f"schedule version {version_id}")
    if version.status == DRAFT:
        await signoffs.require_signed_off(session, actor, version)


async def _facts(session: AsyncSession, version: ScheduleVersion, asks_for: frozenset[int] = frozenset()) -> Facts:
    facts = await round_facts(session, version.round_id)
    return replace(facts, draft=version.status == DRAFT, asks_for=asks_for)


_CONFIDED_COLUMNS = select(col(Proposal.id), col(Proposal.code), col(Proposal.round_id), col(Proposal.owner_id))


async def confided(session: AsyncSession, actor: Claims, round_id: int) -> frozenset[str]:
    """The codes of the round's proposals whose panel results the actor may read (`READ_CONFIDENTIAL`).

    The proposals are read as rows of the columns `proposal_facts` reads (id, round, owner) and the code: a facility
    round's ~2,700 proposals loaded as ORM objects were most of this function's CPU (~150 ms -> ~75 ms)."""
    proposals = (await session.execute(_CONFIDED_COLUMNS.where(col(Proposal.round_id) == round_id))).all()
    facts = await proposal_facts(session, proposals)
    return frozenset(p.code for p in proposals if access.may(actor, Operation.READ_CONFIDENTIAL, facts[p.id or 0]))


async def export_for(session: AsyncSession, actor: Claims, version_id: int) -> ScheduleFile:
    """The version as a schedule file as the actor may read it: the priority (0 when withheld) and reasons
    of proposals they may not read in confidence are left out (`withhold`)."""
    version = await _version(session, version_id)
    return withhold(await export_schedule(session, version_id), await confided(session, actor, version.round_id))


async def list_versions(session: AsyncSession, round_id: int, page: LimitOffset | None = None) -> RoundVersions:
    """The round's versions by number: a page of them, or all (the dashboard's list)."""
    round_ = await _round(session, round_id)
    query = (
        select(ScheduleVersion).where(col(ScheduleVersion.round_id) == round_id).order_by(col(ScheduleVersion.number))
    )
    every = LimitOffset(limit=MAX_INT, offset=0)
    listed = await ScheduleVersionService(session=session).page(page or every, query, VersionPublic)
    return RoundVersions(listed.items, listed.limit, listed.offset, listed.total, revision=round_.revision)


async def get_version(session: AsyncSession, version_id: int) -> VersionDetail:
    version = await _version(session, version_id)
    round_ = await _round(session, version.round_id)
    allocations = await _allocations(session, version_id)
    return VersionDetail(**_public(version).model_dump(), round_revision=round_.revision, allocations=allocations)


async def _allocations(session: AsyncSession, version_id: int, request: str | None = None) -> list[AllocationPublic]:
    """A version's allocations (or only `request`'s) by instrument and start, times in the round's own offset."""
    schedule = await version_schedule(session, version_id, request=request)
    placed = sorted(schedule.allocations, key=lambda a: (a.instrument, a.start_shift, a.request))
    return [AllocationPublic.model_validate(allocation.model_dump(exclude={"priority"})) for allocation in placed]


async def publish(session: AsyncSession, version_id: int, *, expected_revision: int, user_id: int | None) -> Published:
    """Publishes a draft and supersedes the version in force, if `expected_revision` is still the round's
    and the draft keeps every rule of the round as it is now (StaleDraftError lists those it breaks);
    proposers whose slots changed get change notices (`scheduler.schedules.notices`) in the same transaction.
    Publishes of a round take turns on its locked row, each checking the draft as the last one left it."""
    version = await _version(session, version_id)
    await lock_all(session, Round, [version.round_id])
    version = await locked(session, ScheduleVersion, version_id, "schedule version")
    if version.status != DRAFT:
        raise Conflict(f"version {version.number} is {version.status}; only drafts can be published")
    round_id = version.round_id
    solved_at = await require_current_input(session, version)
    violations = await _broken_rules(session, version_id, round_id)
    if violations:
        raise StaleDraftError(version.number, violations)
    unchanged_input = () if solved_at is None else (col(Round.input_revision) == solved_at,)
    bumped = await session.execute(
        update(Round)
        .where(col(Round.id) == round_id, col(Round.revision) == expected_revision, *unchanged_input)
        .values(revision=col(Round.revision) + 1)
        .returning(col(Round.revision))
    )
    revision = bumped.scalar_one_or_none()
    if revision is None:
        await require_current_input(session, version)
        current = await session.scalar(select(col(Round.revision)).where(col(Round.id) == round_id))
        raise RevisionConflictError(
            f"the round is at revision {current}, not {expected_revision}: someone published since; reload",
            current_revision=current,
        )
    superseded = await session.scalar(
        update(ScheduleVersion)
        .where(col(ScheduleVersion.round_id) == round_id, col(ScheduleVersion.status) == PUBLISHED)
        .values(status=SUPERSEDED)
        .returning(col(ScheduleVersion.id))
    )
    try:
        made_published = await session.execute(
            update(ScheduleVersion)
            .where(col(ScheduleVersion.id) == version_id, col(ScheduleVersion.status) == DRAFT)
            .values(status=PUBLISHED, published_at=datetime.now(UTC), published_by=user_id)
            .returning(col(ScheduleVersion.id))
        )
    except IntegrityError as error:
        raise Conflict("another version of the round was published at the same time; reload") from error
    if made_published.scalar_one_or_none() is None:
        raise Conflict(f"version {version.number} is no longer a draft; reload")
    await record_changes(session, version_id, superseded)
    # Later rounds under the round's fair-return policy read what it delivered as history: their drafts are stale.
    await touch_rounds(session, await later_rounds(session, round_id))
    await session.refresh(version)
    await record(
        session, user_id, "schedule.publish", "schedule", version_id, {"revision": revision, "superseded": superseded}
    )
    return Published(version=_public(version), revision=revision, superseded=superseded)


async def _broken_rules(session: AsyncSession, version_id: int, round_id: int) -> list[Violation]:
    """The hard rules the version's allocations break in the round as it is now (a window, a quota or a
    withdrawal may have come since it was made). Allocations of withdrawn proposals are left out, as
    every reader of a published schedule leaves them out; the pins of the version in force are not
    rules for the one that supersedes it. Proposals that break the round file's rules are set aside (`set_aside`)."""
    exported = (await export_round(session, round_id)).model_copy(update={"previous_schedule": None})
    round_file = set_aside(exported).round_file
    in_round = {proposal.id for proposal in round_file.proposals}
    placed = [a for a in (await version_schedule(session, version_id)).allocations if a.proposal in in_round]
    return await asyncio.to_thread(_violations, round_file, placed)


def _violations(round_file: RoundFile, placed: list[AllocationEntry]) -> list[Violation]:
    """CPU-bound: measured as the engine measures a schedule (`measure`), then refereed."""
    scores = score_round(round_file)
    measured = measure(round_file, scores, placed)
    return validate_schedule(round_file, measured, priorities(scores), exclusions(scores).keys())


async def diff(session: AsyncSession, from_id: int, to_id: int) -> VersionDiff:
    """Per request, what changed from one version of a round to another."""
    before_version, after_version = await _version(session, from_id), await _version(session, to_id)
    if before_version.round_id != after_version.round_id:
        raise NotFound(f"versions {from_id} and {to_id} belong to different rounds")
    before, after = await export_schedule(session, from_id), await export_schedule(session, to_id)
    changes = changes_between(before, after)
    kept = {(a.request, a.instrument, a.start_shift, a.shifts) for a in before.allocations}
    unchanged = sum((a.request, a.instrument, a.start_shift, a.shifts) in kept for a in after.allocations)
    return VersionDiff(**changes.model_dump(), from_version=from_id, to_version=to_id, unchanged=unchanged)


async def set_pinned(
    session: AsyncSession, version_id: int, request_code: str, pinned: bool, *, user_id: int | None
) -> AllocationPublic:
    """Pins or unpins one allocation of a draft; pinning twice is harmless."""
    version = await _version(session, version_id)
    if version.status != DRAFT:
        raise Conflict(f"version {version.number} is {version.status}; only drafts can be pinned or unpinned")
    allocation = await session.scalar(
        select(Allocation)
        .join(Request, col(Request.id) == col(Allocation.request_id))
        .where(col(Allocation.schedule_version_id) == version_id, col(Request.code) == request_code)
    )
    if allocation is None:
        raise NotFound(f"version {version.number} has no allocation for request {request_code}")
    if allocation.pinned != pinned:
        touched = await facilities_of_instruments(session, [allocation.instrument_id])
        await signoffs.take_back(session, version_id, touched, user_id=user_id, reason=f"{request_code} (un)pinned")
    allocation.pinned = pinned
    await record(
        session,
        user_id,
        "schedule.pin" if pinned else "schedule.unpin",
        "schedule",
        version_id,
        {"request": request_code},
    )
    await session.flush()
    (changed,) = await _allocations(session, version_id, request_code)
    return changed


async def check_moves(session: AsyncSession, version_id: int, changes: Moves) -> MoveCheck:
    """`move` without saving: the rules the moves would break, which the page shows while a block is dragged.

    Sent every 300 ms of a drag, so it reads the round, its scores and the base version as kept for the round's
    inputs (`kept_round`, `export_schedule`): only the rules are judged anew."""
    violations = (await _judged(session, await _version(session, version_id), changes)).violations
    return MoveCheck(keeps_every_rule=not violations, errors=[BrokenRule(**asdict(v)) for v in violations])


async def move(session: AsyncSession, version_id: int, changes: Moves, *, user_id: int | None) -> VersionDetail:
    """A new draft with the requests of `changes` placed anew, if the whole schedule then keeps every rule of the
    round (MoveRejectedError lists those it breaks, and nothing is saved). One move is the one-item case.

    The round is taken as it is now (`kept_round`): its windows, quotas, links and
    the pins of the published version all apply. Allocations of proposals withdrawn
    since the base version was made are not carried into the new draft. The round's row
    is locked first, so no change of its inputs commits before the draft is saved: the
    kept round judged is the one the transaction holds (its key is read after the lock).
    """
    base = await _version(session, version_id)
    await lock_all(session, Round, [base.round_id])
    judged = await _judged(session, base, changes)
    if judged.violations:
        raise MoveRejectedError(judged.violations)
    assert base.id is not None
    stored = (await version_schedule(session, base.id)).allocations
    carried = [allocation for allocation in stored if allocation.request in judged.kept]
    return await _save_edit(session, base, changes, carried, judged.objective, user_id)


@dataclass(frozen=True)
class _Judged:
    """A hand edit's would-be schedule: the requests of the round it does not move (their allocations in the base,
    pins included, are carried over), its objective and the rules it breaks."""

    kept: Collection[str]
    objective: float
    violations: list[Violation]


async def _pinned(session: AsyncSession, version_id: int) -> set[str]:
    """The requests the version pins, whoever's proposal they are."""
    pinned = await session.scalars(
        select(col(Request.code))
        .join(Allocation, col(Allocation.request_id) == col(Request.id))
        .where(col(Allocation.schedule_version_id) == version_id, col(Allocation.pinned))
    )
    return set(pinned)


async def _judged(session: AsyncSession, base: ScheduleVersion, changes: Moves) -> _Judged:
    """Each move on its own (a request of the round, on the grid, not pinned), then the schedule with all of them."""
    assert base.id is not None
    round_ = await kept_round(session, base.round_id)
    owners, grid = round_.owners, Grid(round_.round_file.round)
    pinned = await _pinned(session, base.id)
    moving = {change.request for change in changes.moves}
    kept = owners.keys() - moving
    misplaced = [
        Violation(rule, f"$.moves[{index}].{field}", message)
        for index, change in enumerate(changes.moves)
        for rule, field, message in _misplaced(change, owners, grid.count, pinned, base.number)
    ]
    if misplaced:
        return _Judged(kept, 0.0, misplaced)
    moved = [
        AllocationEntry(
            proposal=owners[change.request],
            request=change.request,
            instrument=change.instrument,
            start_shift=change.start_shift,
            shifts=change.shifts,
            start=grid.time(change.start_shift),
            end=grid.time(change.start_shift + change.shifts),
            priority=0.0,
        )
        for change in changes.moves
    ]
    schedule = await export_schedule(session, base.id)
    objective, violations = await asyncio.to_thread(_would_break, round_, schedule, kept, moved)
    return _Judged(kept, objective, violations)


def _misplaced(
    change: Move, owners: dict[str, str], shifts: int, pinned: set[str], number: int
) -> list[tuple[int, str, str]]:
    """What is wrong with one move whatever the others do: (rule, field, message) each."""
    if change.request not in owners:
        return [(1, "request", f"request {change.request} is not in the round")]
    problems = []
    if change.start_shift + change.shifts > shifts:
        end = change.start_shift + change.shifts
        problems.append((2, "start_shift", f"shifts [{change.start_shift}, {end}) leave the grid of {shifts}"))
    if change.request in pinned:
        problems.append((8, "request", f"request {change.request} is pinned in version {number}; unpin it first"))
    return problems


def _would_break(
    round_: KeptRound, schedule: ScheduleFile, kept: Collection[str], moved: list[AllocationEntry]
) -> tuple[float, list[Violation]]:
    """CPU-bound: the schedule with the `kept` requests' allocations and the `moved` ones, at the kept round's
    priorities (`KeptRound.scores`): its objective and every hard rule it breaks (`KeptRound.referee`, the round's
    rules indexed once per kept round: a drag judges many would-be schedules)."""
    priority_of = priorities(round_.scores)
    allocations = [
        _priced(allocation, priority_of.get(allocation.proposal, allocation.priority))
        for allocation in [*(a for a in schedule.allocations if a.request in kept), *moved]
    ]
    would_be = schedule.model_copy(
        update={
            "allocations": allocations,
            "unallocated": [u for u in schedule.unallocated if u.request in kept],
            "objective": math.fsum(a.priority * a.shifts for a in allocations),
        }
    )
    return would_be.objective, round_.referee.violations(would_be, priority_of, exclusions(round_.scores).keys())


def _priced(allocation: AllocationEntry, priority: float) -> AllocationEntry:
    """The allocation at `priority` (itself when it has it: the kept export is read-only, never changed)."""
    return allocation if allocation.priority == priority else allocation.model_copy(update={"priority": priority})


async def _save_edit(
    session: AsyncSession,
    base: ScheduleVersion,
    changes: Moves,
    carried: list[AllocationEntry],
    objective: float,
    user_id: int | None,
) -> VersionDetail:
    """The carried-over allocations, pins included, and the moved ones, as a new draft."""
    moved = [_Moved(change.request, change.instrument, change.start_shift, change.shifts) for change in changes.moves]
    where = ", ".join(
        f"{change.request} moved to {change.instrument} [{change.start_shift}, {change.start_shift + change.shifts})"
        for change in changes.moves
    )
    try:
        draft_id = await save_version(
            session,
            base.round_id,
            [*carried, *moved],
            source="edit",
            objective=objective,
            bound=base.bound,
            note=f"version {base.number} with {where}",
            created_by=user_id,
        )
    except IntegrityError as error:
        raise Conflict("another version of the round was saved at the same time; try again") from error
    await record(
        session, user_id, "schedule.move", "schedule", draft_id, {"from_version": base.id, **changes.model_dump()}
    )
    await session.flush()
    return await get_version(session, draft_id)


@dataclass(frozen=True)
class _Moved:
    """A moved request's new allocation, never pinned: a coordinator pins it on the draft if they want."""

    request: str
    instrument: str
    start_shift: int
    shifts: int
    pinned: bool = False
