"""Who a verified token names now: the account's active flag, role, token version and facilities.

A token alone would keep a deactivated or demoted account working until it
expires. Every request therefore checks the account, but through a short
per-process cache, so the hot read paths pay one dictionary lookup and a change
(deactivation, new role, new facilities, logout) takes effect within
`ttl_seconds` everywhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from scheduler.accounts.schemas import Claims, as_role
from scheduler.db.tables import CoordinatorFacility, User


@dataclass(frozen=True, slots=True)
class _Account:
    claims: Claims | None
    """None for an account that does not exist or is not active."""
    token_version: int
    expires: float


class Identities:
    """The accounts behind tokens, each read at most once per `ttl_seconds` in this process."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_seconds: float) -> None:
        self._sessions = sessions
        self._ttl = ttl_seconds
        self._accounts: dict[int, _Account] = {}

    async def claims(self, user_id: int, token_version: int) -> Claims | None:
        """The caller's claims, or None when the account is gone, inactive, or the token is of an older version."""
        account = self._accounts.get(user_id)
        if account is None or account.expires < time.monotonic():
            account = await self._read(user_id)
            self._accounts[user_id] = account
        if account.claims is None or account.token_version != token_version:
            return None
        return account.claims

    def forget(self, user_id: int) -> None:
        """This process's own changes take effect at once; other processes wait out the cache."""
        self._accounts.pop(user_id, None)

    def forget_when_committed(self, session: AsyncSession, user_id: int) -> None:
        """Forgets the account once `session` commits a change to it: forgotten earlier, a request in
        between could cache the account as it was for another `ttl_seconds`."""
        event.listen(session.sync_session, "after_commit", lambda _: self.forget(user_id), once=True)

    async def _read(self, user_id: int) -> _Account:
        expires = time.monotonic() + self._ttl
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(col(User.role), col(User.active), col(User.token_version)).where(col(User.id) == user_id)
                )
            ).one_or_none()
            if row is None or not row.active:
                return _Account(claims=None, token_version=-1, expires=expires)
            facilities = await session.scalars(
                select(col(CoordinatorFacility.facility_id)).where(col(CoordinatorFacility.user_id) == user_id)
            )
            claims = Claims(user_id=user_id, role=as_role(row.role), facilities=frozenset(facilities))
        return _Account(claims=claims, token_version=row.token_version, expires=expires)
