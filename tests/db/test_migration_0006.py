"""Migration 0006 (fair-return policies) on a database that holds a round: the round keeps its rows, has no policy,
and going back to 0005 removes the policy table and the round's two columns."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Connection, inspect, text

from scheduler.db.migrations import alembic_config
from tests.db.databases import add_round, run_sync


def _round_policy_columns(connection: Connection) -> list[tuple[object, object]]:
    return [tuple(row) for row in connection.execute(text("SELECT fair_return_policy_id, fair_return FROM round"))]


def _columns_of_round(connection: Connection) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns("round")}


def test_0006_leaves_rounds_without_a_policy_and_goes_back(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0005")
    run_sync(empty_database_url, add_round)

    command.upgrade(config, "0006")
    assert run_sync(empty_database_url, _round_policy_columns) == [(None, None)]
    assert "fairreturnpolicy" in run_sync(empty_database_url, lambda c: inspect(c).get_table_names())

    command.downgrade(config, "0005")
    assert not {"fair_return_policy_id", "fair_return"} & run_sync(empty_database_url, _columns_of_round)
    assert "fairreturnpolicy" not in run_sync(empty_database_url, lambda c: inspect(c).get_table_names())
