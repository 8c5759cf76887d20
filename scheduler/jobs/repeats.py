"""A solve that repeats a version: the result allocates exactly as the round's published or newest version.

Such a result makes no draft (a kind's `draft_when_unchanged`): the run ends done, its
output says which version it repeats, and `SolveResult.same_as_version_id` names it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.tables import ScheduleVersion, SolveRun
from scheduler.roundfile.contract import ScheduleFile
from scheduler.schedules.versions import version_schedule

SAME_AS_VERSION = "same_as_version"
"""The key of the run's settings naming the version its result repeats."""


@dataclass(frozen=True)
class Repeat:
    version_id: int
    number: int
    status: str


def _placements(schedule: ScheduleFile) -> frozenset[tuple[str, str, int, int, bool]]:
    return frozenset((a.request, a.instrument, a.start_shift, a.shifts, a.pinned) for a in schedule.allocations)


async def repeated_version(session: AsyncSession, round_id: int, schedule: ScheduleFile) -> Repeat | None:
    """The round's published version, else its newest, when `schedule` allocates exactly as it does."""
    of_round = col(ScheduleVersion.round_id) == round_id
    published = await session.execute(
        select(col(ScheduleVersion.id), col(ScheduleVersion.number), col(ScheduleVersion.status)).where(
            of_round, col(ScheduleVersion.status) == "published"
        )
    )
    newest = await session.execute(
        select(col(ScheduleVersion.id), col(ScheduleVersion.number), col(ScheduleVersion.status))
        .where(of_round)
        .order_by(col(ScheduleVersion.number).desc())
        .limit(1)
    )
    placed = _placements(schedule)
    for version_id, number, status in [*published, *newest]:
        if _placements(await version_schedule(session, version_id)) == placed:
            return Repeat(version_id, number, status)
    return None


async def record_repeat(session: AsyncSession, run_id: int, repeat: Repeat) -> None:
    settings = await session.scalar(select(col(SolveRun.settings)).where(col(SolveRun.id) == run_id))
    await session.execute(
        update(SolveRun)
        .where(col(SolveRun.id) == run_id)
        .values(settings={**(settings or {}), SAME_AS_VERSION: repeat.version_id})
    )


def repeat_note(repeat: Repeat) -> str:
    return f"no draft made: the result allocates exactly as version {repeat.number} ({repeat.status})"
