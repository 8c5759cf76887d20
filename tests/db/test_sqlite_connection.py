"""SQLite connections whose statements take one trip to their thread (`scheduler.db.engine`) behave as aiosqlite's."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import CursorResult, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from scheduler.db.engine import create_engine, session_maker
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
