"""Solve runs as jobs, on SQLite and PostgreSQL, with real solver processes.

The medium fixture round runs for many seconds, which leaves time to cancel,
kill or stop a solve in the middle; the example round solves in well under one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel, col

from fixtures import FOLDER
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.db.tables import Allocation, Quota, Request, ScheduleVersion, SolveRun, now
from scheduler.jobs import (
    SolveRunPublic,
    Worker,
    claim_next,
    enqueue_solve,
    get_run,
    heartbeat,
    reap_stale_runs,
    request_cancel,
    run_input,
    run_output,
)
from scheduler.jobs.kinds import SOLVE, JobKind, register
from scheduler.jobs.queue import Reaped
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation, RoundFile, ScheduleFile
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import exclusions, priorities
from scheduler.roundfile.validate import validate_schedule
from scheduler.rounds.importer import import_round
from scheduler.schedules.export import export_schedule
from scheduler.settings import Settings

FIXTURES = FOLDER
EXAMPLE = FIXTURES / "example-round.json"
MEDIUM = FIXTURES / "rounds" / "medium.json"
SETTINGS = Settings(worker_poll_seconds=0.05)
LONG_SOLVE = 30.0


async def _import(sessions: async_sessionmaker[AsyncSession], round_file: RoundFile) -> int:
    async with sessions.begin() as session:
        return await import_round(session, round_file)


async def _enqueue(sessions: async_sessionmaker[AsyncSession], round_id: int, time_limit: float) -> int:
    async with sessions.begin() as session:
        return await enqueue_solve(session, round_id, requested_by=None, time_limit=time_limit, workers=1, seed=0)


async def _run(sessions: async_sessionmaker[AsyncSession], run_id: int) -> SolveRunPublic:
    async with sessions() as session:
        run = await get_run(session, run_id)
    assert run is not None
    return run


async def _first_progress(sessions: async_sessionmaker[AsyncSession], run_id: int) -> SolveRunPublic:
    deadline = time.monotonic() + LONG_SOLVE
    while time.monotonic() < deadline:
        run = await _run(sessions, run_id)
        if run.progress is not None:
            return run
        await asyncio.sleep(0.05)
    raise AssertionError("the solve reported no progress")


async def _assert_valid_draft(sessions: async_sessionmaker[AsyncSession], run: SolveRunPublic) -> None:
    """The run's draft version, exported as a schedule file, keeps every rule of the round it solved."""
    assert run.result is not None and run.result.schedule_version_id is not None
    async with sessions() as session:
        version = await session.get(ScheduleVersion, run.result.schedule_version_id)
        assert version is not None
        assert (version.status, version.source, version.solve_status) == ("draft", "solve", run.result.status)
        round_file = RoundFile.model_validate(await run_input(session, run.id))
        schedule = await export_schedule(session, run.result.schedule_version_id)
        output = await run_output(session, run.id)
    assert output is not None
    assert schedule.allocations, "the solve allocated nothing"
    assert {a.request for a in schedule.allocations} == {a["request"] for a in output["allocations"]}
    scores = score_round(round_file)
    assert validate_schedule(round_file, schedule, priorities(scores), exclusions(scores).keys()) == []


async def test_a_queued_solve_ends_done_with_a_valid_draft_version(sessions: async_sessionmaker[AsyncSession]) -> None:
    round_file = load_round(EXAMPLE)
    round_id = await _import(sessions, round_file)
    run_id = await _enqueue(sessions, round_id, time_limit=5.0)
    assert (await _run(sessions, run_id)).state == "queued"

    assert await Worker(sessions, SETTINGS).drain(asyncio.Event()) == [run_id]

    run = await _run(sessions, run_id)
    assert (run.state, run.error) == ("done", None)
    assert run.result is not None and run.result.status == "optimal"
    assert run.progress is not None and run.progress.objective == run.result.objective
    assert run.started_at is not None and run.finished_at is not None and run.has_input and run.has_output
    async with sessions() as session:
        assert await run_input(session, run_id) == round_file.model_dump(mode="json")
    await _assert_valid_draft(sessions, run)


async def test_a_round_that_breaks_the_format_fails_its_run_naming_the_problem(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A problem of the round itself (a quota naming an instrument it no longer has): no proposal's to set aside."""
    round_id = await _import(sessions, load_round(EXAMPLE))
    async with sessions.begin() as session:
        await session.execute(
            update(Quota)
            .where(col(Quota.round_id) == round_id, col(Quota.code) == "industrial-max")
            .values(scope={"instruments": ["GONE"]})
        )
    run_id = await _enqueue(sessions, round_id, time_limit=1.0)

    await Worker(sessions, SETTINGS).drain(asyncio.Event())

    run = await _run(sessions, run_id)
    assert (run.state, run.has_input, run.result) == ("failed", True, None)
    assert run.error is not None and "$.quotas[2].scope.instruments[0]" in run.error


async def test_proposals_that_break_the_format_are_set_aside_and_the_run_solves_the_rest(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    round_id = await _import(sessions, load_round(EXAMPLE))
    async with sessions.begin() as session:
        await session.execute(update(Request).where(col(Request.code) == "P-004-a").values(instruments=["GONE"]))
    run_id = await _enqueue(sessions, round_id, time_limit=1.0)

    await Worker(sessions, SETTINGS).drain(asyncio.Event())

    run = await _run(sessions, run_id)
    assert (run.state, run.error) == ("done", None)
    async with sessions() as session:
        output = await run_output(session, run_id)
    assert output is not None
    set_aside = {(u["proposal"], u["request"], u["reason"], u["detail"]) for u in output["unallocated"]}
    assert (
        "P-004",
        "P-004-a",
        "not_feasible",
        "set aside: P-004.requests[0].instruments[0]: unknown instrument 'GONE'",
    ) in set_aside


async def test_two_workers_claim_each_queued_run_exactly_once(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    round_id = await _import(sessions, load_round(EXAMPLE))
    queued = [await _enqueue(sessions, round_id, time_limit=1.0) for _ in range(40)]
    other_engine = create_engine(database_url)

    async def claim_all(claimer: async_sessionmaker[AsyncSession], worker: str) -> list[int]:
        claimed: list[int] = []
        while True:
            async with claimer.begin() as session:
                run_id = await claim_next(session, worker)
            if run_id is None:
                return claimed
            claimed.append(run_id)

    try:
        first, second = await asyncio.gather(
            claim_all(sessions, "first"), claim_all(session_maker(other_engine), "second")
        )
    finally:
        await other_engine.dispose()

    assert not set(first) & set(second)
    assert sorted(first + second) == queued
    async with sessions() as session:
        owners = dict((await session.execute(select(SolveRun.id, SolveRun.worker))).all())
    assert {run_id: owners[run_id] for run_id in first} == dict.fromkeys(first, "first")
    assert {run_id: owners[run_id] for run_id in second} == dict.fromkeys(second, "second")


@pytest.fixture
async def migrated_url(database_url: str) -> AsyncIterator[str]:
    """The test database rebuilt by the migrations, as `beamtime worker` expects to find it."""
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.drop_all)
    await asyncio.to_thread(upgrade_database, database_url)
    yield database_url
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE alembic_version"))
    await engine.dispose()


def _worker_process(database_url: str, *args: str) -> subprocess.Popen[bytes]:
    """`beamtime worker` in a process of its own."""
    environment = {**os.environ, "DATABASE_URL": database_url, "BEAMTIME_WORKER_POLL_SECONDS": "0.05"}
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler.cli", "worker", *args], env=environment, stderr=subprocess.PIPE
    )


POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
"""`beamtime worker` processes are for deployments on PostgreSQL; the loop they run is tested on both."""


@POSTGRESQL_ONLY
async def test_two_worker_processes_process_each_run_exactly_once(
    migrated_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    round_id = await _import(sessions, load_round(EXAMPLE))
    queued = [await _enqueue(sessions, round_id, time_limit=1.0) for _ in range(2)]

    workers = [_worker_process(migrated_url, "--once") for _ in range(2)]
    for worker in workers:
        _, errors = await asyncio.to_thread(worker.communicate, timeout=120)
        assert worker.returncode == 0, errors.decode()

    async with sessions() as session:
        runs = (await session.execute(select(SolveRun).order_by(SolveRun.id))).scalars().all()
        versions = (await session.execute(select(ScheduleVersion.id))).scalars().all()
    assert [run.id for run in runs] == queued
    assert {run.state for run in runs} == {"done"}
    assert sorted(run.schedule_version_id for run in runs if run.schedule_version_id) == sorted(versions)
    assert len(versions) == len(queued)


@POSTGRESQL_ONLY
async def test_a_worker_stopped_by_sigterm_ends_the_solve_early_keeping_its_best_schedule(
    migrated_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    round_id = await _import(sessions, load_round(MEDIUM))
    run_id = await _enqueue(sessions, round_id, time_limit=LONG_SOLVE)
    worker = _worker_process(migrated_url)
    await _first_progress(sessions, run_id)

    worker.send_signal(signal.SIGTERM)
    _, errors = await asyncio.to_thread(worker.communicate, timeout=LONG_SOLVE)

    assert worker.returncode == 0, errors.decode()
    run = await _run(sessions, run_id)
    assert run.state == "cancelled"
    assert run.error is not None and "shut down" in run.error
    await _assert_valid_draft(sessions, run)


async def test_cancelling_a_running_solve_keeps_the_best_schedule_so_far(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    round_id = await _import(sessions, load_round(MEDIUM))
    run_id = await _enqueue(sessions, round_id, time_limit=LONG_SOLVE)
    working = asyncio.create_task(Worker(sessions, SETTINGS).drain(asyncio.Event()))
    await _first_progress(sessions, run_id)

    async with sessions.begin() as session:
        assert await request_cancel(session, run_id) == "running"
    await asyncio.wait_for(working, LONG_SOLVE)

    run = await _run(sessions, run_id)
    assert (run.state, run.error, run.cancel_requested) == ("cancelled", None, True)
    assert run.started_at is not None and run.finished_at is not None
    assert run.finished_at - run.started_at < timedelta(seconds=LONG_SOLVE / 2)
    await _assert_valid_draft(sessions, run)


async def test_cancelling_a_queued_run_cancels_it_at_once_and_no_worker_takes_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    round_id = await _import(sessions, load_round(EXAMPLE))
    run_id = await _enqueue(sessions, round_id, time_limit=1.0)

    async with sessions.begin() as session:
        assert await request_cancel(session, run_id) == "cancelled"
        assert await request_cancel(session, run_id + 1) is None

    assert await Worker(sessions, SETTINGS).drain(asyncio.Event()) == []
    run = await _run(sessions, run_id)
    assert (run.state, run.result, run.has_input) == ("cancelled", None, False)
    assert run.finished_at is not None


def _with_published_schedule(round_file: RoundFile) -> RoundFile:
    """The round with one allocation in force, so that importing it publishes a schedule."""
    request = round_file.proposals[0].requests[0]
    kept = PreviousAllocation(request=request.id, instrument=request.instruments[0], start_shift=0, shifts=1)
    return round_file.model_copy(update={"previous_schedule": [kept]})


async def _schedules(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[object, ...]]:
    async with sessions() as session:
        rows = await session.execute(
            select(ScheduleVersion.id, ScheduleVersion.status, Allocation.request_id, Allocation.start_shift)
            .join(Allocation, Allocation.schedule_version_id == ScheduleVersion.id)
            .order_by(ScheduleVersion.id, Allocation.request_id)
        )
        return [tuple(row) for row in rows]


async def test_a_killed_solver_process_fails_the_run_and_leaves_the_published_schedule(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    round_id = await _import(sessions, _with_published_schedule(load_round(MEDIUM)))
    published = await _schedules(sessions)
    assert [status for _, status, *_ in published] == ["published"]
    run_id = await _enqueue(sessions, round_id, time_limit=LONG_SOLVE)
    worker = Worker(sessions, SETTINGS)
    working = asyncio.create_task(worker.drain(asyncio.Event()))
    await _first_progress(sessions, run_id)

    assert worker.solver_pid is not None
    os.kill(worker.solver_pid, signal.SIGKILL)
    assert await asyncio.wait_for(working, LONG_SOLVE) == [run_id]

    run = await _run(sessions, run_id)
    assert run.state == "failed"
    assert run.error is not None and "SIGKILL" in run.error
    assert (run.result, run.has_output, run.has_input) == (None, False, True)
    assert await _schedules(sessions) == published


async def test_a_solve_overrunning_its_deadline_is_stopped_and_failed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    round_id = await _import(sessions, load_round(MEDIUM))
    run_id = await _enqueue(sessions, round_id, time_limit=1.0)

    await Worker(sessions, SETTINGS, deadline_grace=0.0).drain(asyncio.Event())

    run = await _run(sessions, run_id)
    assert run.state == "failed"
    assert run.error is not None and "time limit" in run.error
    assert run.finished_at is not None and run.started_at is not None
    assert run.finished_at - run.started_at < timedelta(seconds=10)


async def _attempts(sessions: async_sessionmaker[AsyncSession], run_id: int) -> int:
    async with sessions() as session:
        attempts = await session.scalar(select(SolveRun.attempts).where(col(SolveRun.id) == run_id))
    assert attempts is not None
    return attempts


async def test_a_run_whose_worker_stopped_reporting_is_solved_again_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    round_id = await _import(sessions, load_round(EXAMPLE))
    stale, alive = await _enqueue(sessions, round_id, 1.0), await _enqueue(sessions, round_id, 1.0)
    async with sessions.begin() as session:
        assert await claim_next(session, "gone") == stale
        assert await claim_next(session, "alive") == alive
        last_heard = now() - timedelta(seconds=SETTINGS.stale_run_seconds + 1)
        await session.execute(update(SolveRun).where(SolveRun.id == stale).values(heartbeat_at=last_heard))

    assert await Worker(sessions, SETTINGS).drain(asyncio.Event()) == [stale], "reaped, queued again, solved"

    retried = await _run(sessions, stale)
    assert (retried.state, retried.error) == ("done", None)
    assert retried.worker is not None and retried.worker != "gone"
    assert await _attempts(sessions, stale) == 2
    assert (await _run(sessions, alive)).state == "running"
    async with sessions.begin() as session:
        assert await heartbeat(session, stale, "gone", None) is None, "a reaped run is no longer its worker's"
        assert await heartbeat(session, alive, "alive", None) is False
        assert await reap_stale_runs(session, SETTINGS.stale_run_seconds) == Reaped([], [])


async def test_a_run_reaped_on_its_second_attempt_fails_saying_it_was_retried(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    round_id = await _import(sessions, load_round(EXAMPLE))
    run_id = await _enqueue(sessions, round_id, 1.0)
    later = now() + timedelta(seconds=SETTINGS.stale_run_seconds + 1)
    async with sessions.begin() as session:
        assert await claim_next(session, "first") == run_id
        assert await reap_stale_runs(session, SETTINGS.stale_run_seconds, at=later) == Reaped([run_id], [])
    queued_again = await _run(sessions, run_id)
    assert (queued_again.state, queued_again.worker, queued_again.heartbeat_at) == ("queued", None, None)

    async with sessions.begin() as session:
        assert await claim_next(session, "second") == run_id
        assert await reap_stale_runs(session, SETTINGS.stale_run_seconds, at=later) == Reaped([], [run_id])

    failed = await _run(sessions, run_id)
    assert failed.state == "failed" and failed.finished_at is not None
    assert failed.error is not None and "heartbeat" in failed.error and "retried once" in failed.error
    assert await _attempts(sessions, run_id) == 2
    assert await Worker(sessions, SETTINGS).drain(asyncio.Event()) == [], "a failed run is not taken again"


async def test_the_worker_claims_nightly_repairs_before_manual_solves(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    round_id = await _import(sessions, load_round(EXAMPLE))
    manual = await _enqueue(sessions, round_id, 1.0)
    async with sessions.begin() as session:
        repair = await enqueue_solve(
            session, round_id, requested_by=None, time_limit=1.0, workers=1, seed=0, kind="nightly", run_key="night"
        )
    later_manual = await _enqueue(sessions, round_id, 1.0)

    async with sessions.begin() as session:
        claimed = [await claim_next(session, "worker") for _ in range(4)]

    assert claimed == [repair, manual, later_manual, None]


async def _note_the_solve(
    session: AsyncSession, run_id: int, version_id: int, schedule: ScheduleFile, *, complete: bool
) -> ScheduleFile:
    return schedule.model_copy(update={"notes": [*schedule.notes, f"concluded run {run_id} as version {version_id}"]})


async def _without_p001(session: AsyncSession, run_id: int, round_file: RoundFile) -> RoundFile:
    return round_file.model_copy(update={"proposals": [p for p in round_file.proposals if p.id != "P-001"]})


NOTED = register(JobKind("test-noted", _without_p001, _note_the_solve))


async def test_a_registered_kind_prepares_the_round_and_concludes_the_result(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    round_id = await _import(sessions, load_round(EXAMPLE))
    async with sessions.begin() as session:
        run_id = await enqueue_solve(
            session, round_id, requested_by=None, time_limit=5.0, workers=1, seed=0, kind=NOTED.name
        )

    assert await Worker(sessions, SETTINGS).drain(asyncio.Event()) == [run_id]

    run = await _run(sessions, run_id)
    assert (run.state, run.kind) == ("done", "test-noted")
    assert run.result is not None and run.result.schedule_version_id is not None
    async with sessions() as session:
        solved = await run_input(session, run_id)
        output = await run_output(session, run_id)
    assert solved is not None and "P-001" not in {proposal["id"] for proposal in solved["proposals"]}
    assert output is not None
    assert output["notes"][-1] == f"concluded run {run_id} as version {run.result.schedule_version_id}"


async def test_a_run_of_a_kind_nobody_registered_fails_naming_it(sessions: async_sessionmaker[AsyncSession]) -> None:
    round_id = await _import(sessions, load_round(EXAMPLE))
    async with sessions.begin() as session:
        run_id = await enqueue_solve(
            session, round_id, requested_by=None, time_limit=1.0, workers=1, seed=0, kind="mystery"
        )

    assert await Worker(sessions, SETTINGS).drain(asyncio.Event()) == [run_id]

    run = await _run(sessions, run_id)
    assert (run.state, run.has_input, run.result) == ("failed", False, None)
    assert run.error is not None and "no job kind 'mystery' is registered" in run.error


def test_a_kind_is_registered_once_and_the_queue_imports_no_kind() -> None:
    with pytest.raises(ValueError, match="registered already"):
        register(JobKind(SOLVE.name, SOLVE.prepare, SOLVE.conclude))
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, scheduler.jobs; print(sorted(m for m in sys.modules if 'nightly' in m))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == "[]", "scheduler.jobs must not import scheduler.nightly"
