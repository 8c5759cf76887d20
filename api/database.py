"""The database for the API: one engine per process, one transaction per request."""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    """Commits when the handler returns, rolls back when anything raises, so a failed request changes nothing.

    Handlers report errors by raising (the problem-details handlers turn exceptions into
    responses): a handler that returned an error response instead would be committed.
    """
    async with state.sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
