"""The proposer's hot read: one proposal and its slots in the published schedule, in one query.

This is the request a facility sees most (every proposer refreshing before their
beamtime), so it skips what a request usually carries: no ORM session and no
transaction (one SELECT in autocommit is its own snapshot). Its statements are
built once at import, one per role: building one per request, as other endpoints
do, cost about as much as the rest of the request (0.3–0.5 ms), and a prebuilt one
hits SQLAlchemy's compiled cache and asyncpg's prepared statements every time.
Who may see the proposal is `scheduler.access.visible_to` (owner, the round's
coordinators, assigned reviewers, admins; to anyone else it does not exist), with the
caller as a bound parameter so that it can be prebuilt.

`status` is the plain one without reasons: `unallocated` means the published
schedule gives the proposal no time; `GET /me/proposals` says why (which may
need the round scored, too slow for this path).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Integer, Select, and_, bindparam, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlmodel import col

from scheduler.access import visible_to
from scheduler.accounts.schemas import Claims, Role
from scheduler.db.tables import (
    Allocation,
    Facility,
    Instrument,
    Proposal,
    Request,
    Round,
    ScheduleVersion,
)
from scheduler.errors import NotFound
from scheduler.schedules.versions import PUBLISHED

SlotState = Literal["submitted", "under_review", "scored", "scheduled", "unallocated", "withdrawn"]
PHASE_STATES: dict[str, SlotState] = {"open": "submitted", "review": "under_review"}
"""Before a schedule is published, as `GET /me/proposals` says; any later phase reads `scored`."""


class PublishedSlot(msgspec.Struct, frozen=True):
    """An allocation in a published schedule, as every proposer view answers it (here and `GET /me/proposals`).

    msgspec rather than pydantic: built and encoded in a few microseconds on the hottest path."""

    request: str
    instrument: str
    instrument_name: str
    facility: str
    facility_name: str
    timezone: str
    start: Annotated[datetime, msgspec.Meta(description="In the facility's timezone.")]
    end: Annotated[datetime, msgspec.Meta(description="In the facility's timezone.")]
    shifts: int
    pinned: bool


class ProposalSlots(msgspec.Struct, frozen=True):
    id: int
    proposal: str
    title: str
    round_id: int
    round: str
    status: Annotated[
        SlotState,
        msgspec.Meta(
            description="Before publication the call's phase; then `scheduled`, or `unallocated` when the "
            "published schedule gives it no time (GET /me/proposals says why)."
        ),
    ]
    slots: Annotated[
        list[PublishedSlot],
        msgspec.Meta(description="Its allocations in the round's published schedule, earliest first."),
    ]


SLOT_COLUMNS = (
    col(Request.code),
    col(Instrument.code),
    col(Instrument.name),
    col(Facility.code),
    col(Facility.name),
    col(Facility.timezone),
    col(Allocation.start_shift),
    col(Allocation.shifts),
    col(Allocation.pinned),
)
"""What a slot is made of (`published_slot`, after the round's start and shift length), from an allocation with its
request, instrument and the instrument's facility."""


def published_allocations(*first: Any) -> Select[Any]:
    """The `first` columns, the round's start and shift length and the `SLOT_COLUMNS` of every allocation in a
    published version, earliest first: the read of many proposals' slots (one proposal's is `read_slots`)."""
    return (
        select(*first, col(Round.start), col(Round.shift_hours), *SLOT_COLUMNS)
        .select_from(Allocation)
        .join(ScheduleVersion, col(ScheduleVersion.id) == col(Allocation.schedule_version_id))
        .join(Round, col(Round.id) == col(ScheduleVersion.round_id))
        .join(Request, col(Request.id) == col(Allocation.request_id))
        .join(Proposal, col(Proposal.id) == col(Request.proposal_id))
        .join(Instrument, col(Instrument.id) == col(Allocation.instrument_id))
        .join(Facility, col(Facility.id) == col(Instrument.facility_id))
        .where(col(ScheduleVersion.status) == PUBLISHED)
        .order_by(col(Allocation.start_shift), col(Request.position))
    )


_PROPOSAL_ID = bindparam("proposal_id", type_=Integer)
_USER_ID = bindparam("user_id", type_=Integer)


def _statement(role: Role) -> Select[*tuple[Any, ...]]:
    """One row per request, with NULL allocation columns for a request the published schedule leaves out.

    Every join starts from the proposal's own rows (its requests by `proposal_id`, their allocations by
    version and request), so that PostgreSQL's generic plan for the prepared statement stays a handful of
    index lookups; `'published'` is a literal for the same reason, and matches the partial unique index.
    """
    return (
        select(
            col(Proposal.code),
            col(Proposal.title),
            col(Proposal.round_id),
            col(Proposal.withdrawn),
            col(Round.code),
            col(Round.phase),
            col(Round.start),
            col(Round.shift_hours),
            col(ScheduleVersion.id),
            *SLOT_COLUMNS,
        )
        .select_from(Proposal)
        .join(Round, col(Round.id) == col(Proposal.round_id))
        .outerjoin(
            ScheduleVersion,
            and_(
                col(ScheduleVersion.round_id) == col(Proposal.round_id),
                col(ScheduleVersion.status) == literal_column(f"'{PUBLISHED}'"),
            ),
        )
        .outerjoin(Request, col(Request.proposal_id) == col(Proposal.id))
        .outerjoin(
            Allocation,
            and_(
                col(Allocation.schedule_version_id) == col(ScheduleVersion.id),
                col(Allocation.request_id) == col(Request.id),
            ),
        )
        .outerjoin(Instrument, col(Instrument.id) == col(Allocation.instrument_id))
        .outerjoin(Facility, col(Facility.id) == col(Instrument.facility_id))
        .where(col(Proposal.id) == _PROPOSAL_ID, visible_to(role, _USER_ID))
        .order_by(col(Allocation.start_shift), col(Request.position))
    )


_STATEMENTS: dict[Role, Select[*tuple[Any, ...]]] = {
    role: _statement(role) for role in ("admin", "coordinator", "reviewer", "proposer")
}


async def proposal_slots(engine: AsyncEngine, actor: Claims, proposal_id: int) -> ProposalSlots:
    """On a pooled connection in autocommit: no BEGIN and ROLLBACK around the one SELECT."""
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        return await read_slots(connection, actor, proposal_id)


async def read_slots(db: AsyncConnection | AsyncSession, actor: Claims, proposal_id: int) -> ProposalSlots:
    """The read on whatever the caller holds; NotFound when the proposal does not exist or the caller may not see it."""
    result = await db.execute(_STATEMENTS[actor.role], {"proposal_id": proposal_id, "user_id": actor.user_id})
    rows = result.all()
    if not rows:
        raise NotFound(f"no proposal {proposal_id}")
    # The proposal's columns come first and are the same on every row.
    code, title, round_id, withdrawn, round_code, phase, round_start, shift_hours, version_id = rows[0][:9]
    step = timedelta(hours=shift_hours)
    placed = [] if withdrawn else [row[9:] for row in rows if row.start_shift is not None]
    slots = [published_slot(round_start, step, *columns) for columns in placed]
    if withdrawn:
        status: SlotState = "withdrawn"
    elif version_id is None:
        status = PHASE_STATES.get(phase, "scored")
    else:
        status = "scheduled" if slots else "unallocated"
    return ProposalSlots(
        id=proposal_id, proposal=code, title=title, round_id=round_id, round=round_code, status=status, slots=slots
    )


def published_slot(
    round_start: datetime,
    step: timedelta,
    request: str,
    instrument: str,
    instrument_name: str,
    facility: str,
    facility_name: str,
    timezone: str,
    start_shift: int,
    shifts: int,
    pinned: bool,
) -> PublishedSlot:
    """The one construction of a slot: times from the round's shifts, shown in the facility's timezone."""
    zone = ZoneInfo(timezone)
    start = round_start + start_shift * step
    return PublishedSlot(
        request=request,
        instrument=instrument,
        instrument_name=instrument_name,
        facility=facility,
        facility_name=facility_name,
        timezone=timezone,
        start=start.astimezone(zone),
        end=(start + shifts * step).astimezone(zone),
        shifts=shifts,
        pinned=pinned,
    )
