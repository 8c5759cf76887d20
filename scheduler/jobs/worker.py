"""The worker: takes queued solve runs one at a time and runs each in a solver process of its own.

The same loop runs in `beamtime worker` (on any machine that reaches the
database) and, when settings.run_worker_in_api, as a background task of the
API. Each database step is a short transaction of its own; the solver process
is watched from async code, so an API process stays responsive meanwhile. The
run's kind (`scheduler.jobs.kinds`) prepares the round file it solves and concludes
its result in the transaction that saves the draft.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import secrets
import signal
import socket
import time
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from scheduler.db.tables import SolveRun
from scheduler.jobs.child import STOP, Message, solve_in_process
from scheduler.jobs.kinds import job_kind
from scheduler.jobs.queue import (
    RunState,
    claim_next,
    finish_run,
    heartbeat,
    link_version,
    reap_stale_runs,
    start_run,
)
from scheduler.jobs.repeats import record_repeat, repeat_note, repeated_version
from scheduler.roundfile.checks import check_round
from scheduler.roundfile.contract import ScheduleFile
from scheduler.roundfile.solving import set_aside
from scheduler.rounds.exporter import export_round
from scheduler.rounds.revision import input_revision
from scheduler.schedules.versions import RoundChangedError, save_version
from scheduler.settings import Settings
from solver.problem import Settings as SolverSettings
from solver.solution import Progress

log = structlog.get_logger(__name__)

PROGRESS_SECONDS = 0.5
"""How often a running solve's progress and heartbeat are written."""
POLL_SECONDS = 0.05
"""How often the solver process's pipe is read."""
DEADLINE_GRACE_SECONDS = 60.0
"""Past its time limit, a solver process gets this long (start-up, scoring, the schedule file) before it is killed."""
EXIT_SECONDS = 5.0
VERSION_ATTEMPTS = 3
"""Two runs of one round finishing at once may pick the same version number; the loser retries."""


STALE_NOTE = "stale: the round changed"
"""In the note of a draft solved from an older input revision of its round: publishing it is refused."""

STOPPED_BECAUSE = {"cancel": None, "shutdown": "the worker shut down; the best schedule found so far is kept"}


@dataclass
class _Outcome:
    state: RunState
    progress: Progress | None
    schedule: ScheduleFile | None = None
    error: str | None = None


class _RunTakenAwayError(Exception):
    """The run stopped being this worker's (the reaper failed it): nothing more is written."""


class Worker:
    """Runs queued solves one at a time; any number of workers, in any processes, may share a database."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        deadline_grace: float = DEADLINE_GRACE_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.deadline_grace = deadline_grace
        self.name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        """Unique per worker, also for several in one process: it marks the runs this worker owns."""
        self.solver_pid: int | None = None
        """The pid of the solver process of the current run, for operators and tests."""

    async def run(self, stop: asyncio.Event) -> None:
        """Processes runs until `stop`; an empty queue is polled every settings.worker_poll_seconds."""
        while not stop.is_set():
            try:
                processed = await self.run_next(stop)
            except Exception:
                log.exception("worker step failed", worker=self.name)
                processed = None
            if processed is None:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.worker_poll_seconds)

    async def drain(self, stop: asyncio.Event) -> list[int]:
        """Processes runs until the queue is empty or `stop`; the ids of the runs processed."""
        processed: list[int] = []
        while not stop.is_set() and (run_id := await self.run_next(stop)) is not None:
            processed.append(run_id)
        return processed

    async def run_next(self, stop: asyncio.Event) -> int | None:
        """Reaps stale runs, then takes and processes the next queued run (`claim_next`); None when there is none."""
        async with self.sessions.begin() as session:
            reaped = await reap_stale_runs(session, self.settings.stale_run_seconds)
        if reaped.requeued:
            log.warning("stale solve runs queued again", runs=reaped.requeued, worker=self.name)
        if reaped.failed:
            log.warning("stale solve runs retried once already marked failed", runs=reaped.failed, worker=self.name)
        async with self.sessions.begin() as session:
            run_id = await claim_next(session, self.name)
        if run_id is not None:
            await self.process(run_id, stop)
        return run_id

    async def process(self, run_id: int, stop: asyncio.Event) -> None:
        """Solves a run this worker has claimed and records how it ended. An unexpected error fails
        the run at once, rather than leaving it running until the reaper finds it."""
        logger = log.bind(run=run_id, worker=self.name)
        try:
            outcome = await self._outcome(run_id, stop)
        except _RunTakenAwayError:
            logger.warning("solve run taken away from this worker (reaped); its result is dropped")
            return
        except Exception as error:
            logger.exception("solve run failed in the worker")
            outcome = _Outcome("failed", None, error=f"the worker failed: {type(error).__name__}: {error}")
        try:
            await self._finish(run_id, outcome)
        except _RunTakenAwayError:
            logger.warning("solve run taken away from this worker (reaped); its result is dropped")
            return
        logger.info("solve finished", state=outcome.state, error=outcome.error)

    async def _outcome(self, run_id: int, stop: asyncio.Event) -> _Outcome:
        """Exports the round as the run's input, then solves it unless it breaks the format's rules."""
        async with self.sessions.begin() as session:
            query = select(col(SolveRun.round_id), col(SolveRun.kind), col(SolveRun.settings)).where(
                col(SolveRun.id) == run_id
            )
            run = (await session.execute(query)).one()
            # Read before the export: a change committed in between makes the result stale, never wrongly current.
            revision = await input_revision(session, run.round_id)
            round_file = await job_kind(run.kind).prepare(session, run_id, await export_round(session, run.round_id))
            round_document = round_file.model_dump(mode="json")
            if not await start_run(session, run_id, self.name, round_document, revision):
                raise _RunTakenAwayError
        problems = check_round(set_aside(round_file).round_file)
        if problems:
            return _Outcome("failed", None, error="the round is not valid:\n" + "\n".join(map(str, problems)))
        log.info("solve started", run=run_id, worker=self.name, settings=run.settings)
        return await self._solve(run_id, round_document, run.settings, stop)

    async def _solve(
        self, run_id: int, round_document: dict[str, Any], settings: dict[str, Any], stop: asyncio.Event
    ) -> _Outcome:
        context = multiprocessing.get_context("spawn")
        messages, child_messages = context.Pipe(duplex=False)
        child_commands, commands = context.Pipe(duplex=False)
        solver_settings = SolverSettings(
            time_limit=float(settings["time_limit"]), workers=int(settings["workers"]), seed=int(settings["seed"])
        )
        process = context.Process(
            target=solve_in_process,
            args=(round_document, solver_settings, child_messages, child_commands),
            name=f"beamtime-solve-{run_id}",
            daemon=True,
        )
        await asyncio.to_thread(process.start)
        child_messages.close()
        child_commands.close()
        self.solver_pid = process.pid
        outcome: _Outcome | None = None
        try:
            outcome = await self._watch(run_id, process, messages, commands, solver_settings.time_limit, stop)
            return outcome
        finally:
            self.solver_pid = None
            if outcome is None or outcome.schedule is None:
                process.terminate()
            await _end(process)
            messages.close()
            commands.close()

    async def _watch(
        self,
        run_id: int,
        process: SpawnProcess,
        messages: Connection,
        commands: Connection,
        time_limit: float,
        stop: asyncio.Event,
    ) -> _Outcome:
        """Relays progress and cancels until the solver process sends its schedule, fails, dies or overruns."""
        deadline = time.monotonic() + time_limit + self.deadline_grace
        latest: Progress | None = None
        stopped_by: str | None = None
        reported_at = time.monotonic()
        while True:
            alive = process.is_alive()
            for message in _received(messages):
                match message:
                    case ("progress", Progress() as progress):
                        latest = progress
                    case ("schedule", dict() as document):
                        schedule = ScheduleFile.model_validate(document)
                        if stopped_by is None:
                            return _Outcome("done", latest, schedule)
                        return _Outcome("cancelled", latest, schedule, STOPPED_BECAUSE[stopped_by])
                    case ("error", str() as error):
                        return _Outcome("failed", latest, error=f"the solver failed: {error}")
            if not alive:
                return _Outcome("failed", latest, error=_death(process))
            if time.monotonic() >= deadline:
                error = f"the solver overran its time limit of {time_limit:g} s and was stopped"
                return _Outcome("failed", latest, error=error)
            if time.monotonic() - reported_at >= PROGRESS_SECONDS:
                reported_at = time.monotonic()
                if await self._report(run_id, latest) and stopped_by is None:
                    stopped_by = "cancel"
                    _tell_to_stop(commands)
            if stop.is_set() and stopped_by is None:
                stopped_by = "shutdown"
                _tell_to_stop(commands)
            await asyncio.sleep(POLL_SECONDS)

    async def _report(self, run_id: int, progress: Progress | None) -> bool:
        """Writes heartbeat and progress; whether a cancel was requested."""
        async with self.sessions.begin() as session:
            cancel = await heartbeat(session, run_id, self.name, progress)
        if cancel is None:
            raise _RunTakenAwayError
        return cancel

    async def _finish(self, run_id: int, outcome: _Outcome) -> None:
        """One transaction: the run's end, its output and, for a schedule, the draft version."""
        for attempt in range(1, VERSION_ATTEMPTS + 1):
            try:
                async with self.sessions.begin() as session:
                    await self._record(session, run_id, outcome)
                return
            except IntegrityError:
                if attempt == VERSION_ATTEMPTS:
                    raise

    async def _record(self, session: AsyncSession, run_id: int, outcome: _Outcome) -> None:
        state, error, version_id = outcome.state, outcome.error, None
        schedule = outcome.schedule
        if schedule is not None and schedule.status in ("optimal", "feasible"):
            query = select(
                col(SolveRun.round_id), col(SolveRun.requested_by), col(SolveRun.kind), col(SolveRun.input_revision)
            ).where(col(SolveRun.id) == run_id)
            run = (await session.execute(query)).one()
            current = await input_revision(session, run.round_id)
            stale = "" if run.input_revision == current else f" {STALE_NOTE} since (input revision {current})"
            kind = job_kind(run.kind)
            repeated = None if kind.draft_when_unchanged else await repeated_version(session, run.round_id, schedule)
            if repeated is not None:
                await record_repeat(session, run_id, repeated)
                schedule = schedule.model_copy(update={"notes": [*schedule.notes, repeat_note(repeated)]})
            else:
                try:
                    version_id = await save_version(
                        session,
                        run.round_id,
                        schedule.allocations,
                        source="solve",
                        objective=schedule.objective,
                        bound=schedule.bound,
                        solve_status=schedule.status,
                        created_by=run.requested_by,
                        note=f"solve {run_id} of input revision {run.input_revision}{stale}",
                    )
                except RoundChangedError as changed:
                    state, error = "failed", str(changed)
                else:
                    if not await link_version(session, run_id, self.name, version_id):
                        raise _RunTakenAwayError
                    schedule = await kind.conclude(session, run_id, version_id, schedule, complete=state == "done")
        recorded = await finish_run(
            session,
            run_id,
            self.name,
            state=state,
            output=None if schedule is None else schedule.model_dump(mode="json"),
            error=error,
            progress=outcome.progress,
            schedule_version_id=version_id,
        )
        if not recorded:
            raise _RunTakenAwayError


def _received(messages: Connection) -> list[Message]:
    """The messages waiting in the pipe; none once the solver process has closed it."""
    waiting: list[Message] = []
    with suppress(EOFError, OSError):
        while messages.poll():
            waiting.append(messages.recv())
    return waiting


def _tell_to_stop(commands: Connection) -> None:
    """A solver process that has just ended has closed its end: its schedule is already on the way."""
    with suppress(BrokenPipeError):
        commands.send(STOP)


def _death(process: SpawnProcess) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"the solver process was killed by {signal.Signals(-code).name}"
    return f"the solver process ended without a schedule (exit code {code})"


async def _end(process: SpawnProcess) -> None:
    """Waits for the solver process to exit, and kills it when it will not."""
    await asyncio.to_thread(process.join, EXIT_SECONDS)
    if process.is_alive():
        process.kill()
        await asyncio.to_thread(process.join, EXIT_SECONDS)
    process.close()
