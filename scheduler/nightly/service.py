"""The nightly job: an APScheduler cron trigger per round, in the API process or in `beamtime scheduler`.

Each round with a published schedule that has not ended gets a job at its
`nightly_hour` in the IANA timezone of its first facility (coalesced, one instance
at a time, with a misfire grace). A job only decides the night and, when a repair
is needed, queues it (`scheduler.nightly.decide`); the solve workers run it, out of
process, as they run every solve. The run key makes the decision once per round
and night, however many processes run this scheduler and however often a trigger
fires: on the night clocks go back, a 02:00 trigger in Europe/Berlin fires twice,
and the second finds the night's run.

At start-up and every `REFRESH_SECONDS` the jobs are brought in line with the
rounds (new ones published, hours or facilities changed, rounds ended) and any
night that is due and has no run is decided at once: a catch-up after a restart
or a misfire past the grace. A night due before the round's schedule was published
is not caught up. The clock is injectable, so tests drive nights, DST changes and
restarts without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from scheduler.db.tables import Facility, Round, RoundFacility, ScheduleVersion
from scheduler.nightly.decide import Decision, decide_night, has_run, night_of, nightly_time
from scheduler.settings import Settings

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
REFRESH_SECONDS = 600.0
MISFIRE_GRACE_SECONDS = 3600
"""A trigger that fires this late (the process was busy or suspended) still runs; later ones wait for the catch-up."""
REFRESH_JOB = "nightly-refresh"


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WatchedRound:
    round_id: int
    hour: int
    timezone: str
    published_at: datetime


class NightlyScheduler:
    """The nightly jobs of one process; any number of processes may run one against the same database."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, *, clock: Clock = system_clock
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
        )
        self.rounds: dict[int, WatchedRound] = {}
        self._active: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Schedules the rounds' jobs and catches up, then refreshes every REFRESH_SECONDS."""
        self.scheduler.start()
        await self._guarded(self.refresh(), "nightly start-up")
        self.scheduler.add_job(
            self._refresh_job, IntervalTrigger(seconds=REFRESH_SECONDS, timezone=UTC), id=REFRESH_JOB
        )

    async def stop(self) -> None:
        """Ends the jobs; a decision under way is cancelled, and its transaction rolled back."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # the shutdown runs as a callback of the event loop
        await asyncio.gather(*self._active, return_exceptions=True)

    async def refresh(self) -> list[Decision]:
        """Brings the cron jobs in line with the rounds, then decides every due night that has no run."""
        rounds = await self._watched()
        for gone in self.rounds.keys() - rounds.keys():
            self.scheduler.remove_job(_job_id(gone))
        for watched in rounds.values():
            if self.rounds.get(watched.round_id) != watched:
                self.scheduler.add_job(
                    self._nightly_job,
                    nightly_trigger(watched),
                    args=[watched.round_id],
                    id=_job_id(watched.round_id),
                    name=f"nightly repair of round {watched.round_id}",
                    replace_existing=True,
                )
        self.rounds = rounds
        return await self._catch_up(rounds)

    async def catch_up(self) -> list[Decision]:
        """Decides, for every round, the night due now if it has no run yet."""
        return await self._catch_up(await self._watched())

    async def run_night(self, round_id: int) -> Decision | None:
        """A round's cron job: decides the night due now; None when it has its run already."""
        watched = self.rounds.get(round_id)
        return None if watched is None else await self._decide_due(watched)

    async def _catch_up(self, rounds: Mapping[int, WatchedRound]) -> list[Decision]:
        decisions = [await self._decide_due(watched) for watched in rounds.values()]
        return [decision for decision in decisions if decision is not None]

    async def _decide_due(self, watched: WatchedRound) -> Decision | None:
        at = self.clock()
        zone = ZoneInfo(watched.timezone)
        night = night_of(zone, watched.hour, at)
        if nightly_time(zone, watched.hour, night) < watched.published_at:
            return None
        async with self.sessions() as session:
            if await has_run(session, watched.round_id, night):
                return None
        return await decide_night(self.sessions, watched.round_id, night, at, self.settings)

    async def _watched(self) -> dict[int, WatchedRound]:
        async with self.sessions() as session:
            return await watched_rounds(session, self.clock())

    async def _nightly_job(self, round_id: int) -> None:
        await self._guarded(self.run_night(round_id), f"nightly decision of round {round_id}")

    async def _refresh_job(self) -> None:
        await self._guarded(self.refresh(), "nightly refresh")

    async def _guarded(self, work: Awaitable[object], what: str) -> None:
        """Logs a failure (the next refresh tries again) and tracks the task, so that `stop` can wait for it."""
        task = asyncio.current_task()
        assert task is not None
        self._active.add(task)
        try:
            await work
        except Exception:
            log.exception("nightly job failed", job=what)
        finally:
            self._active.discard(task)


def nightly_trigger(watched: WatchedRound) -> CronTrigger:
    return CronTrigger(hour=watched.hour, minute=0, timezone=ZoneInfo(watched.timezone))


def _job_id(round_id: int) -> str:
    return f"nightly-{round_id}"


async def watched_rounds(session: AsyncSession, at: datetime) -> dict[int, WatchedRound]:
    """The rounds a nightly repair is for: a published schedule, not ended at `at`, at least one facility."""
    rows = await session.execute(
        select(
            col(Round.id),
            col(Round.nightly_hour),
            col(Facility.timezone),
            col(ScheduleVersion.published_at),
            col(ScheduleVersion.created_at),
        )
        .join(
            ScheduleVersion,
            and_(col(ScheduleVersion.round_id) == col(Round.id), col(ScheduleVersion.status) == "published"),
        )
        .join(RoundFacility, col(RoundFacility.round_id) == col(Round.id))
        .join(Facility, col(Facility.id) == col(RoundFacility.facility_id))
        .where(col(Round.end) > at)
        .order_by(col(Round.id), col(RoundFacility.position), col(Facility.id))
    )
    rounds: dict[int, WatchedRound] = {}
    for round_id, hour, zone, published_at, created_at in rows:
        assert round_id is not None
        rounds.setdefault(round_id, WatchedRound(round_id, hour, zone, published_at or created_at))
    return rounds


async def start_nightly(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, *, clock: Clock = system_clock
) -> NightlyScheduler:
    """Starts the nightly jobs in this process, after a catch-up; `await handle.stop()` ends them."""
    nightly = NightlyScheduler(sessions, settings, clock=clock)
    await nightly.start()
    return nightly
