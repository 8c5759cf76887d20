"""Whether a round's night needs a repair, decided exactly once per round and night.

A decision is one transaction that ends in a SolveRun row (kind `nightly`) under the
unique run key `nightly:{round id}:{local date}`: `queued` for the solve workers when
the round changed since the schedule in force, `skipped` with the reason when it did
not. Any number of processes may decide the same night at once: on PostgreSQL a
transaction-level advisory lock per round makes them wait for each other, so the
later ones find the first one's run and stand down; the unique key stands behind the
lock, and is all SQLite (one process) needs. A decider that fails leaves the night
to the next one.

What counts as a change is a fingerprint of the round as exported: its inputs (the
round file without `previous_schedule`: proposals, requests, windows, quotas, scoring)
and the published allocations with their pins. A round is unchanged when its inputs
are those the published schedule was solved from, or when nothing at all changed
since the last nightly run (whose repair may be waiting for review).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Row, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from scheduler.db.tables import Round, ScheduleVersion, SolveRun, now
from scheduler.roundfile.checks import InputError
from scheduler.rounds.exporter import export_round
from scheduler.settings import Settings

log = structlog.get_logger(__name__)

NIGHTLY = "nightly"
LOCK_SPACE = 0x6E696768
"""First key of the PostgreSQL advisory locks of nightly decisions (the round id is the second)."""
BASELINE_STATES = ("skipped", "queued", "running", "done")
"""Nightly runs whose fingerprint is a baseline: a failed or cancelled run leaves the night to be tried again."""

DecisionState = Literal["queued", "skipped", "failed"]


@dataclass(frozen=True)
class Decision:
    run_id: int
    state: DecisionState
    reason: str | None


@dataclass(frozen=True)
class Fingerprint:
    inputs: str
    """sha256 of the canonical JSON of the round file without `previous_schedule`."""
    state: str
    """sha256 of the inputs with the published allocations and their pins."""

    @classmethod
    def of(cls, round_document: Mapping[str, Any]) -> Fingerprint:
        """Of a round file as `model_dump(mode="json")` gives it, or as a solve run keeps it."""
        inputs = _digest({key: value for key, value in round_document.items() if key != "previous_schedule"})
        published = sorted(round_document.get("previous_schedule") or [], key=lambda allocation: allocation["request"])
        return cls(inputs, _digest([inputs, published]))


def _digest(value: object) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def nightly_time(zone: ZoneInfo, hour: int, night: date) -> datetime:
    """When the night's run is due: `hour` o'clock local time, in UTC.

    An hour that a spring-forward skips is the instant an hour later on the wall
    clock, and one that autumn repeats is its first occurrence: the instants at which
    APScheduler's CronTrigger fires.
    """
    return datetime.combine(night, time(hour), tzinfo=zone).astimezone(UTC)


def night_of(zone: ZoneInfo, hour: int, at: datetime) -> date:
    """The local date of the latest nightly run due at or before `at`: the night a run at `at` is for."""
    night = at.astimezone(zone).date()
    return night if nightly_time(zone, hour, night) <= at else night - timedelta(days=1)


def run_key(round_id: int, night: date) -> str:
    return f"{NIGHTLY}:{round_id}:{night.isoformat()}"


async def decide_night(
    sessions: async_sessionmaker[AsyncSession], round_id: int, night: date, at: datetime, settings: Settings
) -> Decision | None:
    """Records the round's run for `night`, a repair as of `at` or a skip; None when that night has its run already."""
    try:
        async with sessions.begin() as session:
            decision = await _decide(session, round_id, night, at, settings)
    except IntegrityError:
        decision = None
    if decision is not None:
        log.info("nightly decision", round=round_id, night=str(night), run=decision.run_id, state=decision.state)
    return decision


async def has_run(session: AsyncSession, round_id: int, night: date) -> bool:
    key = run_key(round_id, night)
    return await session.scalar(select(col(SolveRun.id)).where(col(SolveRun.run_key) == key)) is not None


async def _decide(
    session: AsyncSession, round_id: int, night: date, at: datetime, settings: Settings
) -> Decision | None:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(LOCK_SPACE, round_id)))
    round_ = await session.get(Round, round_id)
    if round_ is None or await has_run(session, round_id, night):
        return None
    run_settings: dict[str, Any] = {
        "time_limit": settings.solve_time_limit,
        "workers": settings.solve_workers,
        "seed": 0,
        "night": night.isoformat(),
        "now": at.astimezone(UTC).isoformat(),
        "frozen_days": round_.frozen_horizon_days,
    }
    published = await session.scalar(
        select(ScheduleVersion).where(
            col(ScheduleVersion.round_id) == round_id, col(ScheduleVersion.status) == "published"
        )
    )
    if published is None:
        return await _record(session, round_id, night, "skipped", run_settings, "the round has no published schedule")
    try:
        round_file = await export_round(session, round_id)
    except InputError as error:
        return await _record(session, round_id, night, "failed", run_settings, f"the round is not valid:\n{error}")
    fingerprint = Fingerprint.of(round_file.model_dump(mode="json"))
    run_settings |= {"inputs": fingerprint.inputs, "fingerprint": fingerprint.state}
    reason = await _unchanged_since(session, published, fingerprint)
    return await _record(session, round_id, night, "skipped" if reason else "queued", run_settings, reason)


async def _unchanged_since(session: AsyncSession, published: ScheduleVersion, fingerprint: Fingerprint) -> str | None:
    """Why the round needs no repair, or None when it does."""
    made_by = (
        await session.execute(
            select(col(SolveRun.kind), col(SolveRun.settings), col(SolveRun.input))
            .where(col(SolveRun.schedule_version_id) == published.id)
            .order_by(col(SolveRun.id).desc())
            .limit(1)
        )
    ).one_or_none()
    if made_by is not None and _solved_inputs(made_by) == fingerprint.inputs:
        return f"nothing changed since the published schedule (version {published.number}) was solved"
    fingerprint_of = col(SolveRun.settings)["fingerprint"].as_string()
    last = (
        await session.execute(
            select(
                col(SolveRun.id),
                col(SolveRun.settings)["night"].as_string().label("night"),
                fingerprint_of.label("fingerprint"),
            )
            .where(
                col(SolveRun.round_id) == published.round_id,
                col(SolveRun.kind) == NIGHTLY,
                col(SolveRun.state).in_(BASELINE_STATES),
                fingerprint_of.is_not(None),
            )
            .order_by(col(SolveRun.id).desc())
            .limit(1)
        )
    ).one_or_none()
    if last is not None and last.fingerprint == fingerprint.state:
        return f"nothing changed since the nightly run of {last.night} (run {last.id})"
    return None


def _solved_inputs(run: Row[Any]) -> str | None:
    """The inputs digest of the round a solve run solved: a nightly run keeps it (its input is the repair's)."""
    if run.kind == NIGHTLY:
        inputs: str | None = run.settings.get("inputs")
        return inputs
    return None if run.input is None else Fingerprint.of(run.input).inputs


async def _record(
    session: AsyncSession,
    round_id: int,
    night: date,
    state: DecisionState,
    settings: dict[str, Any],
    reason: str | None,
) -> Decision:
    """The night's run; the unique run key fails the flush when another process recorded it meanwhile."""
    run = SolveRun(
        round_id=round_id,
        state=state,
        kind=NIGHTLY,
        run_key=run_key(round_id, night),
        settings=settings if reason is None or state == "failed" else settings | {"reason": reason},
        error=reason if state == "failed" else None,
        finished_at=None if state == "queued" else now(),
    )
    session.add(run)
    await session.flush()
    assert run.id is not None
    return Decision(run.id, state, reason)
