"""A solve that repeats the schedule in force: the result allocates exactly as the round's published version.

Such a result makes no draft (a kind's `draft_when_unchanged`): publishing it would bump the
round's revision for nothing. The run ends done, its output says which version it repeats,
and `SolveResult.same_as_version_id` names it. Two drafts alike are left alone: neither is in force.
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
    """The round's published version, when `schedule` allocates exactly as it does."""
    published = (
        await session.execute(
            select(col(ScheduleVersion.id), col(ScheduleVersion.number), col(ScheduleVersion.status)).where(
                col(ScheduleVersion.round_id) == round_id, col(ScheduleVersion.status) == "published"
            )
        )
    ).one_or_none()
    if published is None or published.id is None:
        return None
    version_id, number, status = published.id, published.number, published.status
    if _placements(await version_schedule(session, version_id)) != _placements(schedule):
        return None
    return Repeat(version_id, number, status)


async def record_repeat(session: AsyncSession, run_id: int, repeat: Repeat) -> None:
    settings = await session.scalar(select(col(SolveRun.settings)).where(col(SolveRun.id) == run_id))
    await session.execute(
        update(SolveRun)
        .where(col(SolveRun.id) == run_id)
        .values(settings={**(settings or {}), SAME_AS_VERSION: repeat.version_id})
    )


def repeat_note(repeat: Repeat) -> str:
    return f"no draft made: the result allocates exactly as version {repeat.number} ({repeat.status})"
