"""The solve queue is the `solverun` table: queued → running → done / failed / cancelled.

Every state change is one conditional UPDATE, so API replicas and workers on
other machines agree on a run's state without locks held across requests.
Work is bounded: a round has at most one manual run under way, a user a few
(settings.solve_runs_per_user), each within the settings' caps on time and
workers; scheduled runs (nightly repairs) are claimed before manual ones; a run
whose worker died is queued again once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Update, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.tables import SolveRun, now
from scheduler.errors import Conflict
from scheduler.jobs.kinds import SOLVE
from scheduler.roundfile.checks import InputError, InputProblem
from scheduler.settings import Settings
from solver.solution import Progress

RunState = Literal["queued", "running", "done", "failed", "cancelled", "skipped"]
"""`skipped`: a scheduled run (a nightly repair) that found nothing to do; it never reaches a worker."""
UNDER_WAY: tuple[RunState, ...] = ("queued", "running")
CLAIMS_PER_RUN = 2
"""A run is claimed at most twice: a run reaped after its worker died is queued again once."""
MANUAL_STARTS_LOCK = 0x736F6C76
"""The PostgreSQL advisory lock that makes manual starts take turns, so two cannot both pass the limits."""


async def enqueue_solve(
    session: AsyncSession,
    round_id: int,
    *,
    requested_by: int | None,
    time_limit: float,
    workers: int,
    seed: int,
    kind: str = SOLVE.name,
    run_key: str | None = None,
) -> int:
    """A queued run for any worker to take; a `run_key` already used returns that key's run instead,
    so a scheduled solve fired by several processes is queued once."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(SolveRun)
        .values(
            round_id=round_id,
            state="queued",
            kind=kind,
            run_key=run_key,
            settings={"time_limit": time_limit, "workers": workers, "seed": seed},
            cancel_requested=False,
            requested_by=requested_by,
            created_at=now(),
        )
        .on_conflict_do_nothing(index_elements=["run_key"])
        .returning(col(SolveRun.id))
    )
    run_id = await session.scalar(statement)
    if run_id is None:
        run_id = await session.scalar(select(col(SolveRun.id)).where(col(SolveRun.run_key) == run_key))
    assert run_id is not None
    return run_id


async def enqueue_manual_solve(
    session: AsyncSession,
    round_id: int,
    *,
    requested_by: int,
    time_limit: float | None,
    workers: int | None,
    seed: int,
    settings: Settings,
) -> int:
    """A coordinator's solve, queued within the limits: InputError naming `$.time_limit` or `$.workers` above
    the settings' caps (None takes the default), Conflict naming the round's run under way or the user's runs
    when they have settings.solve_runs_per_user under way already."""
    problems = []
    if time_limit is not None and time_limit > settings.solve_max_time_limit:
        message = f"at most {settings.solve_max_time_limit:g} seconds, got {time_limit:g}"
        problems.append(InputProblem("$.time_limit", message))
    if workers is not None and workers > settings.solve_max_workers:
        problems.append(InputProblem("$.workers", f"at most {settings.solve_max_workers}, got {workers}"))
    if problems:
        raise InputError(problems)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(MANUAL_STARTS_LOCK)))
    manual_under_way = (col(SolveRun.kind) == SOLVE.name, col(SolveRun.state).in_(UNDER_WAY))
    active = await session.scalar(
        select(col(SolveRun.id)).where(col(SolveRun.round_id) == round_id, *manual_under_way).limit(1)
    )
    if active is not None:
        raise Conflict(f"the round has solve {active} under way: cancel it or wait for it to end")
    users_run_ids = await session.scalars(
        select(col(SolveRun.id))
        .where(col(SolveRun.requested_by) == requested_by, *manual_under_way)
        .order_by(col(SolveRun.id))
    )
    users_runs = [run_id for run_id in users_run_ids if run_id is not None]
    if len(users_runs) >= settings.solve_runs_per_user:
        shown = ", ".join(map(str, users_runs))
        raise Conflict(f"you have {len(users_runs)} solves under way ({shown}), the most one may: wait for one to end")
    return await enqueue_solve(
        session,
        round_id,
        requested_by=requested_by,
        time_limit=settings.solve_time_limit if time_limit is None else time_limit,
        workers=settings.solve_workers if workers is None else workers,
        seed=seed,
    )


async def request_cancel(session: AsyncSession, run_id: int) -> RunState | None:
    """A queued run is cancelled at once; a running one is flagged for its worker, which stops the
    solver and keeps the best schedule found so far. Returns the run's state after the request
    (None when there is no such run); a finished run is left as it is."""
    run = col(SolveRun.id) == run_id
    queued = update(SolveRun).where(run, col(SolveRun.state) == "queued")
    if await _updated(session, queued.values(state="cancelled", cancel_requested=True, finished_at=now())):
        return "cancelled"
    running = update(SolveRun).where(run, col(SolveRun.state) == "running")
    if await _updated(session, running.values(cancel_requested=True)):
        return "running"
    state = await session.scalar(select(col(SolveRun.state)).where(run))
    return cast(RunState | None, state)


async def claim_next(session: AsyncSession, worker: str) -> int | None:
    """Takes the oldest queued scheduled run (a nightly repair), else the oldest queued manual run, for
    `worker`; None when the queue is empty. Each claim counts as an attempt.

    On PostgreSQL the inner SELECT locks the row it picks and skips rows other
    workers have locked (FOR UPDATE SKIP LOCKED), and the outer `state` test is
    rechecked on the locked row, so two workers never take the same run.
    SQLite serialises writers and SQLAlchemy drops the FOR UPDATE there, so the
    same statement is a single atomic write.
    """
    oldest = (
        select(col(SolveRun.id))
        .where(col(SolveRun.state) == "queued")
        .order_by(col(SolveRun.kind) == SOLVE.name, col(SolveRun.id))
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    at = now()
    return await session.scalar(
        update(SolveRun)
        .where(col(SolveRun.id) == oldest, col(SolveRun.state) == "queued")
        .values(state="running", worker=worker, started_at=at, heartbeat_at=at, attempts=col(SolveRun.attempts) + 1)
        .returning(col(SolveRun.id))
    )


@dataclass(frozen=True)
class Reaped:
    requeued: list[int]
    """Runs claimed once: queued again for any worker."""
    failed: list[int]
    """Runs that had been queued again already: failed for good."""


async def reap_stale_runs(session: AsyncSession, stale_seconds: float, at: datetime | None = None) -> Reaped:
    """Takes back the running runs whose worker has not reported for `stale_seconds` (its machine died or
    lost the database): queued again after a first claim, failed after a second. Clocks of workers are
    assumed to agree (NTP)."""
    at = at or now()
    stale = (col(SolveRun.state) == "running", col(SolveRun.heartbeat_at) < at - timedelta(seconds=stale_seconds))
    requeued = await session.scalars(
        update(SolveRun)
        .where(*stale, col(SolveRun.attempts) < CLAIMS_PER_RUN)
        .values(state="queued", worker=None, started_at=None, heartbeat_at=None, progress=None)
        .returning(col(SolveRun.id))
    )
    requeued_ids = [run_id for run_id in requeued if run_id is not None]
    failed = await session.scalars(
        update(SolveRun)
        .where(*stale)
        .values(
            state="failed",
            finished_at=at,
            error=f"the worker stopped reporting (no heartbeat for {stale_seconds:g} s); "
            "it had been retried once already",
        )
        .returning(col(SolveRun.id))
    )
    return Reaped(requeued_ids, [run_id for run_id in failed if run_id is not None])


async def start_run(
    session: AsyncSession, run_id: int, worker: str, round_file: dict[str, Any], input_revision: int
) -> bool:
    """Keeps the round file the run will solve and the round's input revision it was exported at; False when
    the run is no longer `worker`'s."""
    values = {"input": round_file, "input_revision": input_revision, "heartbeat_at": now()}
    return await _updated(session, _owned(run_id, worker).values(values))


async def link_version(session: AsyncSession, run_id: int, worker: str, version_id: int) -> bool:
    """Names the draft the run saved, before its kind concludes (a conclusion may publish it, and publishing asks
    which solve made a draft); False when the run is no longer `worker`'s."""
    return await _updated(session, _owned(run_id, worker).values(schedule_version_id=version_id))


async def heartbeat(session: AsyncSession, run_id: int, worker: str, progress: Progress | None) -> bool | None:
    """Shows the worker is alive and the search's latest progress; returns whether a cancel was
    requested, or None when the run is no longer `worker`'s (reaped, say)."""
    values: dict[str, Any] = {"heartbeat_at": now()}
    if progress is not None:
        values["progress"] = progress_document(progress)
    return await session.scalar(_owned(run_id, worker).values(**values).returning(col(SolveRun.cancel_requested)))


async def finish_run(
    session: AsyncSession,
    run_id: int,
    worker: str,
    *,
    state: RunState,
    output: dict[str, Any] | None = None,
    error: str | None = None,
    progress: Progress | None = None,
    schedule_version_id: int | None = None,
) -> bool:
    """Records how the run ended; False when the run is no longer `worker`'s."""
    at = now()
    values: dict[str, Any] = {"state": state, "error": error, "finished_at": at, "heartbeat_at": at}
    if output is not None:
        values["output"] = output
    if progress is not None:
        values["progress"] = progress_document(progress)
    if schedule_version_id is not None:
        values["schedule_version_id"] = schedule_version_id
    return await _updated(session, _owned(run_id, worker).values(**values))


def progress_document(progress: Progress) -> dict[str, Any]:
    return {
        "elapsed": round(progress.elapsed, 3),
        "objective": progress.objective,
        "bound": progress.bound,
        "phase": progress.phase,
    }


def _owned(run_id: int, worker: str) -> Update:
    """An update of the run only while it is running under `worker`: a reaped run stays failed."""
    return update(SolveRun).where(
        col(SolveRun.id) == run_id, col(SolveRun.state) == "running", col(SolveRun.worker) == worker
    )


async def _updated(session: AsyncSession, statement: Update) -> bool:
    return await session.scalar(statement.returning(col(SolveRun.id))) is not None
