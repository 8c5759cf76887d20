"""Access tokens and passwords: what a token says and how a password is kept.

A token carries the user's id and the version of their tokens: the API's auth
backends (Litestar's JWT middleware) check its signature and expiry, and
`scheduler.accounts.identity` checks the account behind it (active, role,
facilities, and that the version is still the account's).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

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
