"""Databases for the tests: every persistence test runs on SQLite and on PostgreSQL.

PostgreSQL is the machine's server on 127.0.0.1:5432 (trust auth); each pytest run and
xdist worker gets a database of its own, emptied per test by dropping and creating the
tables and dropped at the end, so parallel workers and concurrent runs never meet.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel

from scheduler.db import tables  # noqa: F401  (registers the tables)
from scheduler.db.engine import create_engine, session_maker

POSTGRES_ADMIN_URL = os.environ.get("BEAMTIME_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def _database_name() -> str:
    """Unique to this pytest run and worker, so that concurrent runs on one server never meet."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))[:12].replace("-", "")
    return f"beamtime_test_{run}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


async def _admin(statement: str) -> None:
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(statement))
    await admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this run's own, dropped at the end."""
    name = _database_name()
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database with every table, on each backend in turn."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'beamtime.db'}"
    else:
        url = request.getfixturevalue("postgres_url")

    async def reset() -> None:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.drop_all)
            await connection.run_sync(SQLModel.metadata.create_all)
        await engine.dispose()

    asyncio.run(reset())
    yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_maker(engine)
