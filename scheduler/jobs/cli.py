"""`beamtime worker`: runs queued solves against the configured database, on this or another machine."""

from __future__ import annotations

import argparse
import asyncio
import signal

import structlog

from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.jobs.worker import Worker
from scheduler.settings import get_settings

log = structlog.get_logger(__name__)


def add_worker_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = subparsers.add_parser(
        "worker",
        help="run queued solves (DATABASE_URL); stops cleanly on SIGTERM or Ctrl-C",
        description="Runs queued solve runs one at a time, each in a solver process of its own. "
        "Any number of workers may share one PostgreSQL database: each run is taken by exactly one. "
        "On SIGTERM or SIGINT the current solve stops early and keeps the best schedule found so far.",
    )
    worker.add_argument("--once", action="store_true", help="process the queue until it is empty, then exit")
    worker.set_defaults(run=_worker)


def _worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    upgrade_database(settings.database_url)
    asyncio.run(_work(once=args.once))
    return 0


async def _work(*, once: bool) -> None:
    settings = get_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    engine = create_engine(settings.database_url)
    worker = Worker(session_maker(engine), settings)
    log.info("worker started", worker=worker.name, once=once)
    try:
        if once:
            await worker.drain(stop)
        else:
            await worker.run(stop)
    finally:
        await engine.dispose()
    log.info("worker stopped", worker=worker.name)
