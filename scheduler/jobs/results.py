"""A solve's schedule file becomes a draft schedule version of its round."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.tables import Allocation, Instrument, Request, ScheduleVersion
from scheduler.roundfile.contract import ScheduleFile


class RoundChangedError(Exception):
    """The schedule names requests or instruments the round no longer has (edited during the solve)."""


async def save_draft_version(
    session: AsyncSession, round_id: int, schedule: ScheduleFile, *, created_by: int | None, note: str
) -> int:
    """A draft ScheduleVersion (source "solve") with one Allocation row per allocated request; its id."""
    request_rows = await session.execute(
        select(col(Request.code), col(Request.id)).where(col(Request.round_id) == round_id)
    )
    requests = {code: request_id for code, request_id in request_rows if request_id is not None}
    codes = {allocation.instrument for allocation in schedule.allocations}
    instrument_rows = await session.execute(
        select(col(Instrument.code), col(Instrument.id)).where(col(Instrument.code).in_(codes))
    )
    instruments = {code: instrument_id for code, instrument_id in instrument_rows if instrument_id is not None}
    missing = sorted({a.request for a in schedule.allocations} - requests.keys()) + sorted(codes - instruments.keys())
    if missing:
        raise RoundChangedError(f"the round no longer has {', '.join(missing)}; solve it again")
    latest = await session.scalar(
        select(func.max(col(ScheduleVersion.number))).where(col(ScheduleVersion.round_id) == round_id)
    )
    version = ScheduleVersion(
        round_id=round_id,
        number=(latest or 0) + 1,
        status="draft",
        source="solve",
        objective=schedule.objective,
        bound=schedule.bound,
        solve_status=schedule.status,
        created_by=created_by,
        note=note,
    )
    session.add(version)
    await session.flush()
    assert version.id is not None
    session.add_all(
        Allocation(
            schedule_version_id=version.id,
            request_id=requests[allocation.request],
            instrument_id=instruments[allocation.instrument],
            start_shift=allocation.start_shift,
            shifts=allocation.shifts,
            pinned=allocation.pinned,
        )
        for allocation in schedule.allocations
    )
    await session.flush()
    return version.id
