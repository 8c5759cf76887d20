"""The one writer and the one reader of a schedule version with its allocations.

A version is stored by a solve (its result), by a manual move (a new draft) and by
a round import (the file's `previous_schedule`); all three go through
`save_version`, which numbers versions per round and maps the round's codes to
rows. Everything that reads a version's allocations back (exports, diffs, notices,
repairs, the API) goes through `version_schedule`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta, timezone
from typing import Any, Final, Literal, Protocol, Required, TypedDict, Unpack

from sqlalchemy import Select, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.tables import (
    Allocation,
    Instrument,
    Proposal,
    Request,
    Round,
    ScheduleVersion,
    now,
)
from scheduler.roundfile import contract as c
from scheduler.roundfile.grid import Grid

VersionStatus = Literal["draft", "published", "superseded"]
DRAFT: Final = "draft"
PUBLISHED: Final = "published"
SUPERSEDED: Final = "superseded"
VersionSource = Literal["solve", "import", "edit"]


class RoundChangedError(Exception):
    """The schedule names requests or instruments the round no longer has (edited during the solve)."""


class Placing(Protocol):
    """An allocation in the round's codes: what a solve, a move and a round file's previous schedule all give."""

    @property
    def request(self) -> str: ...
    @property
    def instrument(self) -> str: ...
    @property
    def start_shift(self) -> int: ...
    @property
    def shifts(self) -> int: ...
    @property
    def pinned(self) -> bool: ...


class VersionFacts(TypedDict, total=False):
    """What the writer of a version says about it, named as its columns: stored as given, NULL when left out."""

    source: Required[VersionSource]
    note: Required[str]
    created_by: int | None
    objective: float | None
    bound: float | None
    solve_status: str | None


async def save_version(
    session: AsyncSession,
    round_id: int,
    allocations: Iterable[Placing],
    *,
    published: bool = False,
    **facts: Unpack[VersionFacts],
) -> int:
    """Stores a version numbered after the round's highest, with one row per allocation in the given order; its id.

    A draft unless `published` (an imported round's schedule in force). Two versions
    saved at once get the same number and one fails on the unique constraint
    (IntegrityError): the caller retries or reports a conflict.
    """
    placed = list(allocations)
    request_rows = await session.execute(
        select(col(Request.code), col(Request.id)).where(col(Request.round_id) == round_id)
    )
    requests = {code: request_id for code, request_id in request_rows if request_id is not None}
    codes = {allocation.instrument for allocation in placed}
    instrument_rows = await session.execute(
        select(col(Instrument.code), col(Instrument.id)).where(col(Instrument.code).in_(codes))
    )
    instruments = {code: instrument_id for code, instrument_id in instrument_rows if instrument_id is not None}
    missing = sorted({a.request for a in placed} - requests.keys()) + sorted(codes - instruments.keys())
    if missing:
        raise RoundChangedError(f"the round no longer has {', '.join(missing)}; solve it again")
    highest = await session.scalar(
        select(func.max(col(ScheduleVersion.number))).where(col(ScheduleVersion.round_id) == round_id)
    )
    created_at = now()
    version_id: int | None = await session.scalar(
        insert(ScheduleVersion)
        .values(
            round_id=round_id,
            number=(highest or 0) + 1,
            status=PUBLISHED if published else DRAFT,
            created_at=created_at,
            published_at=created_at if published else None,
            **facts,
        )
        .returning(col(ScheduleVersion.id))
    )
    assert version_id is not None
    if placed:
        await session.execute(
            insert(Allocation),
            [
                {
                    "schedule_version_id": version_id,
                    "request_id": requests[allocation.request],
                    "instrument_id": instruments[allocation.instrument],
                    "start_shift": allocation.start_shift,
                    "shifts": allocation.shifts,
                    "pinned": allocation.pinned,
                }
                for allocation in placed
            ],
        )
    return version_id


def allocations_in_codes(*first: Any) -> Select[Any]:
    """Stored allocations after the `first` columns, each in the round's codes and named as a `Placing` names them
    (proposal, request, instrument, start_shift, shifts, pinned), with its version joined, in the order they were
    written: the one join every reader of stored allocations starts from."""
    return (
        select(
            *first,
            col(Proposal.code).label("proposal"),
            col(Request.code).label("request"),
            col(Instrument.code).label("instrument"),
            col(Allocation.start_shift),
            col(Allocation.shifts),
            col(Allocation.pinned),
        )
        .join(Request, col(Request.id) == col(Allocation.request_id))
        .join(Proposal, col(Proposal.id) == col(Request.proposal_id))
        .join(Instrument, col(Instrument.id) == col(Allocation.instrument_id))
        .join(ScheduleVersion, col(ScheduleVersion.id) == col(Allocation.schedule_version_id))
        .order_by(col(Allocation.id))
    )


def round_zone(round_: Round) -> timezone:
    """The round's own UTC offset, in which its files give every time."""
    return timezone(timedelta(minutes=round_.utc_offset_minutes))


def round_heading(round_: Round) -> dict[str, Any]:
    """The round's heading as its files give it (a round file's `round`), times in the round's own offset."""
    zone = round_zone(round_)
    return {
        "id": round_.code,
        "name": round_.name,
        "start": round_.start.astimezone(zone),
        "end": round_.end.astimezone(zone),
        "shift_hours": round_.shift_hours,
    }


async def version_schedule(session: AsyncSession, version_id: int, *, request: str | None = None) -> c.ScheduleFile:
    """A version's allocations (or only `request`'s) as a schedule file, read from its rows alone.

    Allocations come in the order they were written, times in the round's own UTC
    offset; withdrawn proposals' allocations are included. A version stores no
    priorities, so they are 0, and the headline fields (`status`, `objective`) say
    nothing: `scheduler.schedules.export` gives the full file. LookupError for no such version.
    """
    round_ = await session.scalar(
        select(Round)
        .join(ScheduleVersion, col(ScheduleVersion.round_id) == col(Round.id))
        .where(col(ScheduleVersion.id) == version_id)
    )
    if round_ is None:
        raise LookupError(f"no schedule version {version_id}")
    grid = Grid(c.RoundInfo.model_validate(round_heading(round_)))
    query = allocations_in_codes().where(col(Allocation.schedule_version_id) == version_id)
    if request is not None:
        query = query.where(col(Request.code) == request)
    allocations = [
        c.Allocation(
            **placing._mapping,
            start=grid.time(placing.start_shift),
            end=grid.time(placing.start_shift + placing.shifts),
            priority=0.0,
        )
        for placing in await session.execute(query)
    ]
    return c.ScheduleFile(
        format=c.SCHEDULE_FORMAT,
        round=round_.code,
        status="unknown",
        objective=0.0,
        bound=None,
        solve_seconds=0.0,
        allocations=allocations,
        unallocated=[],
        quotas=[],
    )
