"""How the service's long-running processes start and stop: one bootstrap for all of them.

`beamtime worker`, `beamtime scheduler`, the demo's set-up and the API's
in-process solve worker and nightly jobs share it: settings, a migrated database,
its engine and sessions, and a stop on SIGTERM or Ctrl-C. This module sits above
`scheduler.jobs` and `scheduler.nightly` and puts them together: importing
`scheduler.nightly` registers the nightly job kind with the queue, so every worker
started here runs nightly repairs as well as plain solves.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.jobs.worker import Worker
from scheduler.nightly.service import NightlyScheduler, start_nightly
from scheduler.settings import Settings, get_settings

log = structlog.get_logger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    stop: asyncio.Event
    """Set by SIGTERM or SIGINT when the runtime handles signals."""


@asynccontextmanager
async def service_runtime(settings: Settings | None = None, *, signals: bool = True) -> AsyncIterator[Runtime]:
    """The database of `settings` (from the environment by default) brought to the newest schema (unless
    `migrate_on_start` is off), and sessions on it until the block ends. `signals` turns SIGTERM and SIGINT
    into `Runtime.stop`; only the main thread's event loop may take them."""
    settings = settings or get_settings()
    if settings.migrate_on_start:
        await asyncio.to_thread(upgrade_database, settings.database_url)
    engine = create_engine(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = STOP_SIGNALS if signals else ()
    for signum in handled:
        loop.add_signal_handler(signum, stop.set)
    try:
        yield Runtime(settings, session_maker(engine), stop)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await engine.dispose()


@asynccontextmanager
async def background_work(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, *, solves: bool, nightly: bool
) -> AsyncIterator[None]:
    """Runs queued solves (`solves`) and the nightly jobs (`nightly`) in this process until the block ends;
    a solve under way then stops early and keeps the best schedule found so far."""
    async with AsyncExitStack() as stack:
        if solves:
            await stack.enter_async_context(_solve_worker(sessions, settings))
        if nightly:
            scheduler = await start_nightly(sessions, settings)
            log.info("nightly jobs started", rounds=sorted(scheduler.rounds))
            stack.push_async_callback(scheduler.stop)
        yield


@asynccontextmanager
async def _solve_worker(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> AsyncIterator[None]:
    worker = Worker(sessions, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    log.info("worker started", worker=worker.name)
    try:
        yield
    finally:
        stop.set()
        await task
        log.info("worker stopped", worker=worker.name)


def add_process_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`beamtime migrate`, `beamtime worker` and `beamtime scheduler`."""
    migrate = subparsers.add_parser(
        "migrate",
        help="bring the database (DATABASE_URL) to the newest schema, then exit",
        description="Applies the schema migrations the database lacks; nothing to do when it is at the newest. "
        "Processes migrate as they start unless BEAMTIME_MIGRATE_ON_START=false; deployments that migrate "
        "as a step of their own run this first. Concurrent runs on PostgreSQL take turns (an advisory lock).",
    )
    migrate.set_defaults(run=lambda args: _migrate())
    worker = subparsers.add_parser(
        "worker",
        help="run queued solves (DATABASE_URL); stops cleanly on SIGTERM or Ctrl-C",
        description="Runs queued solve runs one at a time, each in a solver process of its own. "
        "Any number of workers may share one PostgreSQL database: each run is taken by exactly one. "
        "On SIGTERM or SIGINT the current solve stops early and keeps the best schedule found so far.",
    )
    worker.add_argument("--once", action="store_true", help="process the queue until it is empty, then exit")
    worker.set_defaults(run=lambda args: _run(_drain if args.once else _work))

    scheduler = subparsers.add_parser(
        "scheduler",
        help="run the nightly repairs of published schedules (DATABASE_URL); stops on SIGTERM or Ctrl-C",
        description="Decides every night, at each round's nightly hour in its first facility's timezone, whether "
        "the round's published schedule needs a repair, and queues it for the solve workers. Start it with the "
        "API's own nightly jobs turned off, or beside them: a night is decided once however many run. "
        "The repairs themselves run in the solve workers (`beamtime worker`, or the API's own).",
    )
    scheduler.add_argument(
        "--once",
        action="store_true",
        help="decide every round's latest night that has no run yet (a catch-up), then exit",
    )
    scheduler.set_defaults(run=lambda args: _run(_catch_up if args.once else _schedule))


def _migrate() -> int:
    url = get_settings().database_url
    upgrade_database(url)
    log.info("database at the newest schema", database=make_url(url).render_as_string(hide_password=True))
    return 0


def _run(body: Callable[[Runtime], Awaitable[None]]) -> int:
    async def main() -> None:
        async with service_runtime() as runtime:
            await body(runtime)

    asyncio.run(main())
    return 0


async def _work(runtime: Runtime) -> None:
    async with background_work(runtime.sessions, runtime.settings, solves=True, nightly=False):
        await runtime.stop.wait()


async def _drain(runtime: Runtime) -> None:
    worker = Worker(runtime.sessions, runtime.settings)
    processed = await worker.drain(runtime.stop)
    log.info("queue drained", worker=worker.name, runs=processed)


async def _schedule(runtime: Runtime) -> None:
    async with background_work(runtime.sessions, runtime.settings, solves=False, nightly=True):
        await runtime.stop.wait()


async def _catch_up(runtime: Runtime) -> None:
    decisions = await NightlyScheduler(runtime.sessions, runtime.settings).catch_up()
    log.info("nightly catch-up done", decided=[(decision.run_id, decision.state) for decision in decisions])
