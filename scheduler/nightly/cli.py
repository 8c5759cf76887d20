"""`beamtime scheduler`: the nightly repairs for deployments that run them apart from the API.

Any number of these (and of API processes running the nightly jobs) may share one
PostgreSQL database: each round's night is decided once. The repairs themselves
run in the solve workers (`beamtime worker`, or the API's own).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import structlog

from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.nightly.service import NightlyScheduler, start_nightly
from scheduler.settings import Settings, get_settings

log = structlog.get_logger(__name__)


def add_scheduler_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        "scheduler",
        help="run the nightly repairs of published schedules (DATABASE_URL); stops on SIGTERM or Ctrl-C",
        description="Decides every night, at each round's nightly hour in its first facility's timezone, whether "
        "the round's published schedule needs a repair, and queues it for the solve workers. Start it with the "
        "API's own nightly jobs turned off, or beside them: a night is decided once however many run.",
    )
    command.add_argument(
        "--once",
        action="store_true",
        help="decide every round's latest night that has no run yet (a catch-up), then exit",
    )
    command.set_defaults(run=_scheduler)


def _scheduler(args: argparse.Namespace) -> int:
    settings = get_settings()
    upgrade_database(settings.database_url)
    asyncio.run(_serve(settings, once=args.once))
    return 0


async def _serve(settings: Settings, *, once: bool) -> None:
    engine = create_engine(settings.database_url)
    sessions = session_maker(engine)
    try:
        if once:
            decisions = await NightlyScheduler(sessions, settings).catch_up()
            log.info("nightly catch-up done", decided=[(d.run_id, d.state) for d in decisions])
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        nightly = await start_nightly(sessions, settings)
        log.info("nightly scheduler started", rounds=sorted(nightly.rounds))
        try:
            await stop.wait()
        finally:
            await nightly.stop()
        log.info("nightly scheduler stopped")
    finally:
        await engine.dispose()
