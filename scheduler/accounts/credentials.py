"""Signing in and out, and changing passwords: everything that checks or sets a password or ends a session.

A refused sign-in is written to the audit log (`auth.login_failed`, with the e-mail
and the client's address, never the password) in a transaction of its own, so the
refusal's rollback keeps it. Those entries are what the lock counts: after
`settings.login_failures_per_account` refusals on one e-mail address within
`settings.login_failure_window_minutes`, every attempt on it is refused, the right
password too, until the oldest of them leaves the window. Attempts refused by the
lock are not counted, so the lock ends when the window says. The lock is per
e-mail address, with an account or not, so it tells no one which addresses have
accounts; per client address, the API's rate limit holds.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from scheduler.accounts.identity import Identities
from scheduler.accounts.schemas import Claims, PasswordChange, PasswordReset
from scheduler.accounts.tokens import (
    email_as_password,
    end_tokens,
    hash_password,
    issue_token,
    unknown_user_hash,
    verify_password,
)
from scheduler.db.repository import record
from scheduler.db.tables import AuditEntry, User
from scheduler.errors import found
from scheduler.roundfile.checks import InputError, InputProblem
from scheduler.settings import Settings

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LOGIN_FAILED = "auth.login_failed"
LOGIN = "login"
"""The audit entity of sign-in attempts; its id is the e-mail address tried (`_login_key`)."""

NOT_YOUR_PASSWORD = "this is not your current password"


class SignInRefused(Exception):  # noqa: N818 (named for what the caller gets)
    """A wrong e-mail or password, or an ended account: the caller learns nothing more."""


class TooManyFailures(Exception):  # noqa: N818 (named for what the caller gets)
    """The e-mail address is locked after too many refused sign-ins."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins on this e-mail address: try again in {retry_after} s")
        self.retry_after = retry_after
        """Whole seconds until the lock ends."""


async def sign_in(
    sessions: async_sessionmaker[AsyncSession], email: str, password: str, client: str, settings: Settings
) -> str:
    """An access token for an active user with this e-mail and password, as slowly whether or not the
    account exists. Raises TooManyFailures while the address is locked, SignInRefused otherwise."""
    email = _normalised(email)
    async with sessions() as session:
        await _refuse_while_locked(session, email, settings)
        user = (await session.execute(select(User).where(col(User.email) == email))).scalar_one_or_none()
    password_hash = unknown_user_hash() if user is None else user.password_hash
    matches = await asyncio.to_thread(verify_password, password, password_hash)
    if user is None or not matches or not user.active:
        await _record_failure(sessions, email, client)
        raise SignInRefused
    assert user.id is not None
    return issue_token(user.id, user.token_version, settings=settings)


async def sign_out(session: AsyncSession, identities: Identities, user_id: int) -> None:
    """Ends every token of the account, on every device: a token cannot be taken back alone."""
    user = await session.get(User, user_id)
    if user is None:
        return
    end_tokens(session, identities, user)
    await record(session, user_id, "auth.logout", "user", user_id)


async def change_password(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    identities: Identities,
    user_id: int,
    change: PasswordChange,
    client: str,
    settings: Settings,
) -> str:
    """Sets the caller's new password after checking the current one, and answers a new token: every other
    token of theirs ends. A wrong current password counts as a refused sign-in, so a stolen token cannot be
    used to guess the password faster than the sign-in form allows."""
    user = await found(session, User, user_id, "user")
    await _refuse_while_locked(session, user.email, settings)
    if not await asyncio.to_thread(verify_password, change.current_password, user.password_hash):
        await _record_failure(sessions, user.email, client)
        raise InputError([InputProblem("$.current_password", NOT_YOUR_PASSWORD)])
    await _set_password(session, identities, user, change.new_password, "$.new_password")
    await record(session, user_id, "user.password_change", "user", user_id)
    return issue_token(user_id, user.token_version, settings=settings)


async def reset_password(
    session: AsyncSession, identities: Identities, actor: Claims, user_id: int, reset: PasswordReset
) -> None:
    """An admin sets a user's password (a forgotten one, or one that leaked): every token of the user ends."""
    user = await found(session, User, user_id, "user")
    await _set_password(session, identities, user, reset.password, "$.password")
    await record(session, actor.user_id, "user.password_reset", "user", user_id)


async def _set_password(session: AsyncSession, identities: Identities, user: User, password: str, path: str) -> None:
    problems = email_as_password(password, user.email, path)
    if problems:
        raise InputError(problems)
    user.password_hash = await asyncio.to_thread(hash_password, password)
    end_tokens(session, identities, user)


async def _refuse_while_locked(session: AsyncSession, email: str, settings: Settings) -> None:
    window = timedelta(minutes=settings.login_failure_window_minutes)
    now = datetime.now(UTC)
    failures = (
        await session.scalars(
            select(col(AuditEntry.at))
            .where(
                col(AuditEntry.action) == LOGIN_FAILED,
                col(AuditEntry.entity) == LOGIN,
                col(AuditEntry.entity_id) == _login_key(email),
                col(AuditEntry.at) > now - window,
            )
            .order_by(col(AuditEntry.at).desc())
            .limit(settings.login_failures_per_account)
        )
    ).all()
    if len(failures) >= settings.login_failures_per_account:
        unlocked = failures[-1] + window
        raise TooManyFailures(max(1, math.ceil((unlocked - now).total_seconds())))


async def _record_failure(sessions: async_sessionmaker[AsyncSession], email: str, client: str) -> None:
    async with sessions.begin() as session:
        await record(session, None, LOGIN_FAILED, LOGIN, _login_key(email), {"email": email, "client": client})


def _normalised(email: str) -> str:
    """As accounts keep it; control characters, which no account's address has and no database column
    takes, are spelled out, so the attempt is refused and logged like any other."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", email.strip().lower())


def _login_key(email: str) -> str:
    """The e-mail address as an audit entity id: itself when it fits the column, its SHA-256 otherwise."""
    return email if len(email) <= 64 else hashlib.sha256(email.encode()).hexdigest()
