"""The migrations build exactly the schema the tables declare, on SQLite and PostgreSQL, and undo it."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlmodel import SQLModel

from scheduler.db import tables  # noqa: F401  (registers the tables)
from scheduler.db.migrations import alembic_config, upgrade_database
from tests.db.databases import run_sync


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def test_upgrade_builds_the_declared_schema_and_downgrade_removes_it(empty_database_url: str) -> None:
    upgrade_database(empty_database_url)
    upgrade_database(empty_database_url)  # already at head: nothing to do

    assert run_sync(empty_database_url, _differences) == []
    indexes = run_sync(empty_database_url, lambda connection: inspect(connection).get_indexes("scheduleversion"))
    published = next(index for index in indexes if index["name"] == "one_published_per_round")
    assert published["unique"]

    command.downgrade(alembic_config(empty_database_url), "base")
    assert run_sync(empty_database_url, _table_names) == {"alembic_version"}
