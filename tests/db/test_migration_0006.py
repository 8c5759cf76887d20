"""Migration 0006 (fair-return policies) on a database that holds a round: the round keeps its rows, has no policy,
and going back to 0005 removes the policy table and the round's two columns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text

from scheduler.db.migrations import alembic_config
from tests.db.databases import run_sync


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'beamtime.db'}"
        return
    yield request.getfixturevalue("empty_postgres")


def _add_round(connection: Connection) -> None:
    connection.execute(
        text(
            'INSERT INTO round (code, name, start, "end", shift_hours, phase, frozen_horizon_days, auto_publish, '
            "auto_publish_max_moved_share, nightly_hour, utc_offset_minutes, revision, input_revision, version, "
            "created_at) VALUES ('2026-II', 'Autumn', '2026-09-01 00:00:00+00', '2026-12-01 00:00:00+00', 8, "
            "'closed', 14, false, 0.02, 2, 0, 1, 0, 1, '2026-06-01 00:00:00+00')"
        )
    )


def _round_policy_columns(connection: Connection) -> list[tuple[object, object]]:
    return [tuple(row) for row in connection.execute(text("SELECT fair_return_policy_id, fair_return FROM round"))]


def _columns_of_round(connection: Connection) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns("round")}


def test_0006_leaves_rounds_without_a_policy_and_goes_back(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0005")
    run_sync(empty_database_url, _add_round)

    command.upgrade(config, "0006")
    assert run_sync(empty_database_url, _round_policy_columns) == [(None, None)]
    assert "fairreturnpolicy" in run_sync(empty_database_url, lambda c: inspect(c).get_table_names())

    command.downgrade(config, "0005")
    assert not {"fair_return_policy_id", "fair_return"} & run_sync(empty_database_url, _columns_of_round)
    assert "fairreturnpolicy" not in run_sync(empty_database_url, lambda c: inspect(c).get_table_names())
