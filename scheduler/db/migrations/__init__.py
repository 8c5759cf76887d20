"""The database schema's history (Alembic), applied from code at start-up, from the CLI and in tests.

Several replicas starting together against one PostgreSQL database migrate one at a
time: each waits for a session-level advisory lock, and those that get it after the
first find the schema at head already. Deployments that migrate as a separate step
run `beamtime migrate` and start the processes with BEAMTIME_MIGRATE_ON_START=false.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from scheduler.settings import private_sqlite_database

MIGRATIONS = Path(__file__).resolve().parent
MIGRATION_LOCK = int.from_bytes(b"beamtime", "big")
"""The PostgreSQL advisory lock key every beamtime process takes to migrate ("beamtime" in ASCII, a bigint)."""


def alembic_config(url: str) -> Config:
    """A configuration without alembic.ini, so an installed package migrates too; it leaves logging alone."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    config.attributes["configure_logger"] = False
    return config


def upgrade_database(url: str) -> None:
    """Brings the database at `url` to the newest schema; a no-op when it is there already.

    It runs its own event loop: from async code, call it in a thread (`await asyncio.to_thread(...)`).
    """
    if make_url(url).get_backend_name() == "postgresql":
        asyncio.run(_upgrade_under_lock(url))
        return
    private_sqlite_database(url)
    command.upgrade(alembic_config(url), "head")


async def _upgrade_under_lock(url: str) -> None:
    """Alembic migrates on a connection of its own while this one holds the advisory lock."""
    engine = create_async_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    finally:
        await engine.dispose()
