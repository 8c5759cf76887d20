"""Access tokens and passwords: what a token says and how a password is kept.

A token carries the user's id and role, so that a request is authorised without a
database read. The API's auth backends (Litestar's JWT middleware) check the
signature and expiry; `claims` turns what a verified token says into `Claims`.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from scheduler.accounts.schemas import ROLES, Claims, Role, as_role
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


def issue_token(user_id: int, role: Role, *, settings: Settings) -> str:
    now = datetime.now(UTC)
    payload = {"sub": str(user_id), "role": role, "iat": now, "exp": now + timedelta(minutes=settings.jwt_minutes)}
    return jwt.encode(payload, settings.jwt_secret, algorithm=TOKEN_ALGORITHM)


def claims(subject: str, role: object) -> Claims:
    """The claims of a token whose signature and expiry were checked; InvalidTokenError if it names no user and role."""
    if not subject.isdigit() or role not in ROLES or not isinstance(role, str):
        raise InvalidTokenError("the token names no user and role")
    return Claims(user_id=int(subject), role=as_role(role))
