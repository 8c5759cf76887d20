"""Work on a database outside the app, for the tests of migrations and start-up: an empty PostgreSQL schema,
a synchronous step run in a committed transaction of its own, and a round as the migrations since 0004 store it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine


def run_sync(url: str, work: Callable[[Connection], Any]) -> Any:
    """`work(sync_connection)` in a committed transaction of its own."""

    async def go() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def empty_public_schema(connection: Connection) -> None:
    connection.execute(text("DROP SCHEMA public CASCADE"))
    connection.execute(text("CREATE SCHEMA public"))


def add_round(connection: Connection) -> None:
    """A round in the columns every migration since 0004 has, as plain SQL (the tables' models may be newer)."""
    connection.execute(
        text(
            'INSERT INTO round (code, name, start, "end", shift_hours, phase, frozen_horizon_days, auto_publish, '
            "auto_publish_max_moved_share, nightly_hour, utc_offset_minutes, revision, input_revision, version, "
            "created_at) VALUES ('2026-II', 'Autumn', '2026-09-01 00:00:00+00', '2026-12-01 00:00:00+00', 8, "
            "'closed', 14, false, 0.02, 2, 0, 1, 0, 1, '2026-06-01 00:00:00+00')"
        )
    )
