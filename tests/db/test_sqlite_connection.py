"""SQLite connections whose statements take one trip to their thread, or none once they hold the write lock
(`scheduler.db.engine`), behave as aiosqlite's and leave the event loop to others."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import CursorResult, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from scheduler.db.engine import IN_PLACE_SLICE, create_engine, session_maker
from scheduler.db.tables import Facility


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'one-trip.db'}"


async def test_rows_ids_counts_and_streams(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    sessions = session_maker(engine)
    async with sessions.begin() as session:
        await session.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
        inserted = await session.execute(text("INSERT INTO item (name) VALUES ('first')"))
        assert cast(CursorResult[Any], inserted).lastrowid == 1
        await session.execute(text("INSERT INTO item (name) VALUES (:name)"), [{"name": f"n{i}"} for i in range(150)])
        changed = await session.execute(text("UPDATE item SET name = name || '!' WHERE id > 100"))
        assert cast(CursorResult[Any], changed).rowcount == 51
    async with sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM item"))).scalar_one() == 151
        streamed = await session.stream(text("SELECT id FROM item ORDER BY id"))
        assert [row.id async for row in streamed] == list(range(1, 152))
        parts = await session.stream(text("SELECT id FROM item ORDER BY id"))
        assert [len(part) async for part in parts.partitions(100)] == [100, 51]
        first = await session.stream(text("SELECT id FROM item ORDER BY id"))
        assert (await first.fetchone()) == (1,)
        await first.close()
        assert (await session.execute(text("SELECT id FROM item WHERE id > 1000"))).all() == []
    await engine.dispose()


async def test_a_failed_change_is_rolled_back_and_the_connection_serves_on(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    sessions = session_maker(engine)
    async with engine.begin() as connection:
        await connection.run_sync(Facility.metadata.create_all)
    async with sessions.begin() as session:
        session.add(Facility(code="SKIF", name="SKIF", country="RU", timezone="Asia/Novosibirsk"))
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(Facility(code="PIK", name="PIK", country="RU", timezone="Europe/Moscow"))
            await session.flush()
            session.add(Facility(code="SKIF", name="again", country="RU", timezone="Asia/Novosibirsk"))
    async with sessions() as session:
        assert list(await session.scalars(select(col(Facility.code)))) == ["SKIF"]
    await engine.dispose()


class _Ticker:
    """Counts the turns the event loop gives other work while it runs."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0)

    def __enter__(self) -> _Ticker:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def test_a_long_write_transaction_lets_the_event_loop_run_others(sqlite_url: str) -> None:
    """Once it holds the write lock its statements run in place, and the loop still runs others every few ms."""
    engine = create_engine(sqlite_url)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)"))
    async with session_maker(engine).begin() as session:
        await session.execute(text("INSERT INTO item (name) VALUES ('first')"))
        with _Ticker() as ticker:
            began = time.perf_counter()
            while time.perf_counter() - began < 20 * IN_PLACE_SLICE:
                await session.execute(text("UPDATE item SET name = name || '.' WHERE id = 1"))
            ticks = ticker.ticks
    assert ticks >= 5
    await engine.dispose()


@pytest.mark.parametrize("nested", [False, True], ids=["transaction", "savepoint"])
async def test_a_write_waiting_for_another_connections_lock_does_not_hold_the_event_loop(
    sqlite_url: str, nested: bool
) -> None:
    """The statement that takes the write lock waits for it on the connection's thread, even in a transaction that a
    savepoint opened without it."""
    engine = create_engine(sqlite_url)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)"))
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    async with session_maker(engine)() as session:
        if nested:
            await session.begin_nested()
        with _Ticker() as ticker:
            write = asyncio.create_task(session.execute(text("INSERT INTO item (name) VALUES ('waited')")))
            await asyncio.sleep(0.3)
            assert not write.done()
            ticks_while_waiting = ticker.ticks
            holder.execute("COMMIT")
            await write
        await session.commit()
    holder.close()
    assert ticks_while_waiting >= 5
    async with session_maker(engine)() as session:
        assert (await session.execute(text("SELECT name FROM item"))).scalars().all() == ["waited"]
    await engine.dispose()
