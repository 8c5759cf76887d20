"""A connection lost under a repository service's query reaches the API as what it is (PostgreSQL).

advanced-alchemy's services wrapped every SQLAlchemy error of their repository, and a lost connection (a
`StatementError`) came out as its integrity error, answered 409 as if the data conflicted. The services here
raise it unwrapped, so the recovery of `api.database` sees it: asked again once, then 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from scheduler.rounds.service import RoundService
from tests.api_helpers import PASSWORD, make_user, served

Sessions = async_sessionmaker[AsyncSession]
on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def _end_connection_of(session: AsyncSession, database_url: str) -> None:
    """Ends the session's connection from the server's side, as a restart or failover would."""
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        async with admin.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()
    await asyncio.sleep(0.2)  # the connection learns it was ended


@on_postgresql
async def test_a_service_raises_a_lost_connection_unwrapped(database_url: str, sessions: Sessions) -> None:
    async with sessions() as session:
        await _end_connection_of(session, database_url)
        with pytest.raises(DBAPIError) as raised:
            await RoundService(session=session).count()
        await session.invalidate()

    assert raised.value.connection_invalidated


@on_postgresql
async def test_a_connection_lost_twice_under_a_service_is_answered_503_never_409(
    database_url: str, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = RoundService.list_page
    tries = 0

    async def losing(self: RoundService, *args: Any, **options: Any) -> Any:
        nonlocal tries
        tries += 1
        await _end_connection_of(self.repository.session, database_url)
        return await listed(self, *args, **options)

    await make_user(sessions, "admin", "admin@example.org")
    async with served(database_url) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        signed_in = await client.post("/auth/login", json={"email": "admin@example.org", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        monkeypatch.setattr(RoundService, "list_page", losing)
        answered = await client.get("/rounds", headers=headers)
        monkeypatch.setattr(RoundService, "list_page", listed)
        again = await client.get("/rounds", headers=headers)

    assert (answered.status_code, tries) == (503, 2), answered.text
    assert answered.headers["retry-after"] == "1"
    assert again.status_code == 200, again.text
