"""Migration 0007 (stored measurements) on a database that holds a round with an imported version: the version is
left unmeasured (it is measured when first read, as before), a measurement can be stored for it, and going back to
0006 removes the table."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Connection, inspect, text

from scheduler.db.migrations import alembic_config
from tests.db.databases import add_round, run_sync


def _add_round_with_a_version(connection: Connection) -> None:
    add_round(connection)
    connection.execute(
        text(
            "INSERT INTO scheduleversion (round_id, number, status, source, note, created_at) "
            "SELECT id, 1, 'published', 'import', '', '2026-06-01 00:00:00+00' FROM round"
        )
    )


def _store_a_measurement(connection: Connection) -> None:
    connection.execute(
        text(
            "INSERT INTO schedulemeasurement (schedule_version_id, round_inputs, digest, schedule, measured_at) "
            "SELECT id, '[]', 'digest', '{}', '2026-06-01 00:00:00+00' FROM scheduleversion"
        )
    )


def _measurements(connection: Connection) -> list[tuple[object, ...]]:
    return [
        tuple(row) for row in connection.execute(text("SELECT schedule_version_id, digest FROM schedulemeasurement"))
    ]


def _tables(connection: Connection) -> list[str]:
    return inspect(connection).get_table_names()


def test_0007_stores_no_measurement_for_existing_versions_and_goes_back(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0006")
    run_sync(empty_database_url, _add_round_with_a_version)

    command.upgrade(config, "0007")
    assert run_sync(empty_database_url, _measurements) == []
    run_sync(empty_database_url, _store_a_measurement)
    assert [digest for _, digest in run_sync(empty_database_url, _measurements)] == ["digest"]

    command.downgrade(config, "0006")
    assert "schedulemeasurement" not in run_sync(empty_database_url, _tables)
    assert "scheduleversion" in run_sync(empty_database_url, _tables)
