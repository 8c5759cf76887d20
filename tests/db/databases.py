"""Work on a database outside the app, for the tests of migrations and start-up: an empty PostgreSQL schema,
and a synchronous step run in a committed transaction of its own."""

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
