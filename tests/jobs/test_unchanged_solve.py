"""A coordinator's solve whose result allocates exactly as a version the round has makes no draft."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import ScheduleVersion
from scheduler.jobs import Worker, enqueue_solve, get_run, run_output
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation
from scheduler.rounds.importer import import_round
from scheduler.settings import Settings

SETTINGS = Settings(worker_poll_seconds=0.05)
EVERY_SLOT_PINNED = [
    PreviousAllocation(request="P-001-a", instrument="SKIF-1-1", start_shift=9, shifts=9, pinned=True),
    PreviousAllocation(request="P-004-a", instrument="SKIF-1-4", start_shift=0, shifts=6, pinned=True),
    PreviousAllocation(request="P-003-a", instrument="SKIF-1-4", start_shift=9, shifts=3, pinned=True),
    PreviousAllocation(request="P-002-a", instrument="SKIF-1-4", start_shift=12, shifts=6, pinned=True),
    PreviousAllocation(request="P-006-a", instrument="PIK-SANS", start_shift=0, shifts=12, pinned=True),
    PreviousAllocation(request="P-003-b", instrument="PIK-SANS", start_shift=13, shifts=9, pinned=True),
]
"""An optimal schedule of the example round with every slot pinned: a solve can only repeat it (P-005 is below
the cut-off)."""

Sessions = async_sessionmaker[AsyncSession]


async def _versions(sessions: Sessions, round_id: int) -> list[tuple[int, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(col(ScheduleVersion.number), col(ScheduleVersion.status))
            .where(col(ScheduleVersion.round_id) == round_id)
            .order_by(col(ScheduleVersion.number))
        )
        return [(number, status) for number, status in rows]


async def _solve(sessions: Sessions, round_id: int) -> int:
    async with sessions.begin() as session:
        run_id = await enqueue_solve(session, round_id, requested_by=None, time_limit=3.0, workers=1, seed=0)
    assert await Worker(sessions, SETTINGS).drain(asyncio.Event()) == [run_id]
    return run_id


async def test_a_solve_repeating_the_published_version_makes_no_draft_and_says_so(sessions: Sessions) -> None:
    round_file = load_round(EXAMPLE_ROUND).model_copy(update={"previous_schedule": EVERY_SLOT_PINNED})
    async with sessions.begin() as session:
        round_id = await import_round(session, round_file)
    assert await _versions(sessions, round_id) == [(1, "published")]

    run_id = await _solve(sessions, round_id)

    async with sessions() as session:
        run = await get_run(session, run_id)
        output = await run_output(session, run_id)
        published_id = await session.scalar(
            select(func.min(col(ScheduleVersion.id))).where(col(ScheduleVersion.round_id) == round_id)
        )
    assert run is not None and run.state == "done" and run.error is None
    assert run.result is not None and run.result.status == "optimal"
    assert (run.result.schedule_version_id, run.result.same_as_version_id) == (None, published_id)
    assert output is not None
    assert "no draft made: the result allocates exactly as version 1 (published)" in output["notes"]
    assert await _versions(sessions, round_id) == [(1, "published")]


async def test_a_solve_that_changes_the_schedule_makes_a_draft(sessions: Sessions) -> None:
    unpinned = [slot.model_copy(update={"pinned": False}) for slot in EVERY_SLOT_PINNED[:2]]
    round_file = load_round(EXAMPLE_ROUND).model_copy(update={"previous_schedule": unpinned})
    async with sessions.begin() as session:
        round_id = await import_round(session, round_file)

    run_id = await _solve(sessions, round_id)

    async with sessions() as session:
        run = await get_run(session, run_id)
    assert run is not None and run.result is not None
    assert run.result.same_as_version_id is None and run.result.schedule_version_id is not None
    assert await _versions(sessions, round_id) == [(1, "published"), (2, "draft")]
