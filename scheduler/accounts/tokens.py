"""Access tokens and passwords: what a token says and how a password is kept.

A token carries the user's id and the version of their tokens: the API's auth
backends (Litestar's JWT middleware) check its signature and expiry, and
`scheduler.accounts.identity` checks the account behind it (active, role,
facilities, and that the version is still the account's). Bumping the version
(`end_tokens`) therefore ends every token issued to the account so far.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.accounts.identity import Identities
from scheduler.db.tables import User
from scheduler.roundfile.checks import InputProblem
from scheduler.settings import Settings

TOKEN_ALGORITHM = "HS256"

_passwords = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19 * 1024, parallelism=1),))
"""Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane): a login costs one core tens of milliseconds,
so a few login attempts cannot starve a small server; hashes record their parameters, so they can be raised."""


class InvalidTokenError(Exception):
    """The token names no user and role we know how to read."""


def hash_password(password: str) -> str:
    return _passwords.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _passwords.verify(password, password_hash)


def email_as_password(password: str, email: str, path: str) -> list[InputProblem]:
    """The rule the password's own type cannot check, for want of the account's e-mail."""
    if password.strip().casefold() == email.strip().casefold():
        return [InputProblem(path, "a password may not be the account's e-mail address")]
    return []


@cache
def unknown_user_hash() -> str:
    """Checked when the e-mail is unknown, so a login takes as long whether or not the account exists."""
    return _passwords.hash(secrets.token_urlsafe(16))


def issue_token(user_id: int, token_version: int, *, settings: Settings) -> str:
    now = datetime.now(UTC)
    payload = {
        "sub": str(user_id),
        "ver": token_version,
        "iat": now,
        "exp": now + timedelta(minutes=settings.jwt_minutes),
    }
    return jwt.encode(payload, settings.jwt_secret, algorithm=TOKEN_ALGORITHM)


def token_subject(subject: str, version: object) -> tuple[int, int]:
    """The user id and token version of a token whose signature and expiry were checked."""
    if not subject.isdigit() or not isinstance(version, int) or isinstance(version, bool):
        raise InvalidTokenError("the token names no user")
    return int(subject), version


def end_tokens(session: AsyncSession, identities: Identities, user: User) -> None:
    """Every token issued to `user` so far stops working: in this process as soon as `session` commits,
    in others within their account cache. Deactivation, a new role or facilities, a new password and
    signing out all end them."""
    assert user.id is not None
    user.token_version += 1
    identities.forget_when_committed(session, user.id)
