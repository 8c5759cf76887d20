"""The tables on both databases: aware instants, and one published schedule per round."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scheduler.db.tables import Round, ScheduleVersion

MSK = timezone(timedelta(hours=3))


def _round(code: str = "2027-I") -> Round:
    return Round(
        code=code,
        name="first half",
        start=datetime(2027, 2, 1, 8, tzinfo=MSK),
        end=datetime(2027, 8, 1, 8, tzinfo=MSK),
    )


async def test_instants_come_back_aware_and_equal(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        session.add(_round())
    async with sessions() as session:
        stored = (await session.execute(select(Round))).scalar_one()
    assert stored.start == datetime(2027, 2, 1, 5, tzinfo=UTC)
    assert stored.start.tzinfo is not None


async def test_naive_instants_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    naive = _round()
    naive.start = datetime(2027, 2, 1, 8)
    with pytest.raises(StatementError, match="naive datetime"):
        async with sessions.begin() as session:
            session.add(naive)


async def test_a_round_has_at_most_one_published_schedule(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        round_ = _round()
        session.add(round_)
        await session.flush()
        assert round_.id is not None
        session.add(ScheduleVersion(round_id=round_.id, number=1, status="published"))
        session.add(ScheduleVersion(round_id=round_.id, number=2, status="draft"))
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(ScheduleVersion(round_id=round_.id, number=3, status="published"))
