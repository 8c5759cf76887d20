"""The migrations build exactly the schema the tables declare, on SQLite and PostgreSQL, and undo it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from scheduler.db import tables  # noqa: F401  (registers the tables)
from scheduler.db.migrations import alembic_config, upgrade_database


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (the shared fixture creates them without migrations)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'beamtime.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    _run(url, _empty_public_schema)
    yield url
    _run(url, _empty_public_schema)


def _empty_public_schema(connection: Connection) -> None:
    connection.execute(text("DROP SCHEMA public CASCADE"))
    connection.execute(text("CREATE SCHEMA public"))


def _run(url: str, work: Any) -> Any:
    """`work(sync_connection)` in a committed transaction of its own."""

    async def go() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def test_upgrade_builds_the_declared_schema_and_downgrade_removes_it(empty_database_url: str) -> None:
    upgrade_database(empty_database_url)
    upgrade_database(empty_database_url)  # already at head: nothing to do

    assert _run(empty_database_url, _differences) == []
    indexes = _run(empty_database_url, lambda connection: inspect(connection).get_indexes("scheduleversion"))
    published = next(index for index in indexes if index["name"] == "one_published_per_round")
    assert published["unique"]

    command.downgrade(alembic_config(empty_database_url), "base")
    assert _run(empty_database_url, _table_names) == {"alembic_version"}
