"""Users, roles, passwords and tokens, and who may act on which facility.

Roles: an admin may do everything; a coordinator runs the rounds of the facilities
they are given; a reviewer grades the proposals assigned to them; a proposer
submits and follows their own proposals.

A token carries the user's id and role, so that a request is authorised without a
database read; what a coordinator coordinates is read when it matters, so a change
of facilities takes effect at once.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Literal, get_args

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.accounts.audit import record
from scheduler.db.tables import CoordinatorFacility, Facility, RoundFacility, User
from scheduler.errors import Conflict
from scheduler.fields import Name
from scheduler.roundfile.checks import InputError, InputProblem, problems_from_validation_error
from scheduler.settings import Settings, get_settings

Role = Literal["admin", "coordinator", "reviewer", "proposer"]
ROLES: tuple[Role, ...] = get_args(Role)
TOKEN_ALGORITHM = "HS256"

_EMAIL = re.compile(r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$")
_passwords = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19 * 1024, parallelism=1),))
"""Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane): a login costs one core tens of milliseconds,
so a few login attempts cannot starve a small server; hashes record their parameters, so they can be raised."""


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.fullmatch(value):
        raise ValueError("not an e-mail address")
    return value


Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Password = Annotated[str, Field(min_length=8, max_length=1024)]
FacilityCode = Annotated[str, Field(min_length=1, max_length=64)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Name
    role: Role
    password: Password
    facilities: list[FacilityCode] = Field(
        default=[], description="Codes of the facilities a coordinator coordinates; coordinators only."
    )


class UserPublic(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    active: bool
    facilities: list[str] = Field(description="Codes of the facilities a coordinator coordinates.")
    created_at: datetime


class Me(UserPublic):
    calendar_token: str = Field(description="The secret in the URL of this user's calendar feed.")


@dataclass(frozen=True, slots=True)
class Claims:
    """Who is asking, as the bearer token says."""

    user_id: int
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def as_role(value: str) -> Role:
    """A stored or claimed role, checked: the type system cannot see into the database."""
    for role in ROLES:
        if role == value:
            return role
    raise ValueError(f"unknown role {value!r}")


class InvalidTokenError(Exception):
    """The token is missing, forged, expired or malformed."""


@cache
def _unknown_user_hash() -> str:
    """Checked when the e-mail is unknown, so a login takes as long whether or not the account exists."""
    return _passwords.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _passwords.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _passwords.verify(password, password_hash)


def issue_token(user_id: int, role: Role, *, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "role": role, "iat": now, "exp": now + timedelta(minutes=settings.jwt_minutes)}
    return jwt.encode(claims, settings.jwt_secret, algorithm=TOKEN_ALGORITHM)


def decode_token(token: str, *, settings: Settings | None = None) -> Claims:
    settings = settings or get_settings()
    try:
        payload = jwt.decode(
            token, settings.jwt_secret, algorithms=[TOKEN_ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.PyJWTError as error:
        raise InvalidTokenError(str(error)) from None
    subject, role = payload.get("sub"), payload.get("role")
    if not isinstance(subject, str) or not subject.isdigit() or role not in ROLES:
        raise InvalidTokenError("the token names no user and role")
    return Claims(user_id=int(subject), role=as_role(role))


async def create_user(
    session: AsyncSession,
    email: str,
    name: str,
    role: str,
    password: str,
    facility_codes: Iterable[str] = (),
    *,
    actor_id: int | None = None,
) -> UserPublic:
    """Raises InputError naming each bad field, Conflict when the e-mail is taken."""
    try:
        data = UserCreate.model_validate(
            {"email": email, "name": name, "role": role, "password": password, "facilities": list(facility_codes)}
        )
    except ValidationError as error:
        raise InputError(problems_from_validation_error(error, model=UserCreate)) from None
    if data.facilities and data.role != "coordinator":
        raise InputError([InputProblem("$.facilities", "only coordinators have facilities")])
    facility_ids = await _facility_ids(session, data.facilities)
    if await session.scalar(select(col(User.id)).where(col(User.email) == data.email)) is not None:
        raise Conflict(f"a user with e-mail {data.email} exists already")
    password_hash = await asyncio.to_thread(hash_password, data.password)
    user = User(
        email=data.email,
        name=data.name,
        role=data.role,
        password_hash=password_hash,
        calendar_token=secrets.token_urlsafe(32),
    )
    session.add(user)
    await session.flush()
    assert user.id is not None
    session.add_all(CoordinatorFacility(user_id=user.id, facility_id=facility_id) for facility_id in facility_ids)
    record(session, actor_id, "user.create", "user", user.id, {"email": data.email, "role": data.role})
    return _public(user, sorted(data.facilities))


async def authenticate(session: AsyncSession, email: str, password: str) -> Claims | None:
    """The claims of an active user with this e-mail and password; None otherwise, as slowly either way."""
    user = (await session.execute(select(User).where(col(User.email) == email.strip().lower()))).scalar_one_or_none()
    password_hash = _unknown_user_hash() if user is None else user.password_hash
    matches = await asyncio.to_thread(verify_password, password, password_hash)
    if user is None or not matches or not user.active:
        return None
    assert user.id is not None
    return Claims(user_id=user.id, role=as_role(user.role))


async def me(session: AsyncSession, user_id: int) -> Me | None:
    user = await session.get(User, user_id)
    if user is None:
        return None
    public = _public(user, await _coordinated_codes(session, user_id))
    return Me(**public.model_dump(), calendar_token=user.calendar_token)


async def get_user(session: AsyncSession, user_id: int) -> UserPublic | None:
    user = await session.get(User, user_id)
    return None if user is None else _public(user, await _coordinated_codes(session, user_id))


async def list_users(session: AsyncSession, *, role: Role | None = None) -> list[UserPublic]:
    query = select(User).order_by(col(User.id))
    if role is not None:
        query = query.where(col(User.role) == role)
    users = (await session.execute(query)).scalars().all()
    codes = await _coordinated_codes_by_user(session)
    return [_public(user, codes.get(user.id or 0, [])) for user in users]


async def coordinated_facility_ids(session: AsyncSession, user_id: int) -> set[int]:
    rows = await session.execute(
        select(col(CoordinatorFacility.facility_id)).where(col(CoordinatorFacility.user_id) == user_id)
    )
    return set(rows.scalars())


async def _facility_ids(session: AsyncSession, codes: list[str]) -> list[int]:
    rows = await session.execute(select(col(Facility.code), col(Facility.id)).where(col(Facility.code).in_(codes)))
    found = {code: facility_id for code, facility_id in rows if facility_id is not None}
    problems = [
        InputProblem(f"$.facilities[{index}]", f"no facility with code {code!r}")
        for index, code in enumerate(codes)
        if code not in found
    ]
    if problems:
        raise InputError(problems)
    return [found[code] for code in dict.fromkeys(codes)]


async def _coordinated_codes(session: AsyncSession, user_id: int) -> list[str]:
    rows = await session.execute(
        select(col(Facility.code))
        .join(CoordinatorFacility, col(CoordinatorFacility.facility_id) == col(Facility.id))
        .where(col(CoordinatorFacility.user_id) == user_id)
        .order_by(col(Facility.code))
    )
    return list(rows.scalars())


async def _coordinated_codes_by_user(session: AsyncSession) -> dict[int, list[str]]:
    rows = await session.execute(
        select(col(CoordinatorFacility.user_id), col(Facility.code))
        .join(Facility, col(CoordinatorFacility.facility_id) == col(Facility.id))
        .order_by(col(Facility.code))
    )
    codes: dict[int, list[str]] = {}
    for user_id, code in rows:
        codes.setdefault(user_id, []).append(code)
    return codes


def _public(user: User, facility_codes: list[str]) -> UserPublic:
    assert user.id is not None
    return UserPublic(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        active=user.active,
        facilities=facility_codes,
        created_at=user.created_at,
    )


async def coordinates_facility(session: AsyncSession, actor: Claims, facility_id: int) -> bool:
    """Admins coordinate everything; a coordinator, the facilities they were given."""
    if actor.is_admin:
        return True
    if actor.role != "coordinator":
        return False
    found = await session.scalar(
        select(col(CoordinatorFacility.user_id)).where(
            col(CoordinatorFacility.user_id) == actor.user_id, col(CoordinatorFacility.facility_id) == facility_id
        )
    )
    return found is not None


async def coordinates_round(session: AsyncSession, actor: Claims, round_id: int) -> bool:
    """A round is a coordinator's when it includes one of their facilities."""
    if actor.is_admin:
        return True
    if actor.role != "coordinator":
        return False
    found = await session.scalar(
        select(col(RoundFacility.round_id))
        .join(CoordinatorFacility, col(CoordinatorFacility.facility_id) == col(RoundFacility.facility_id))
        .where(col(RoundFacility.round_id) == round_id, col(CoordinatorFacility.user_id) == actor.user_id)
        .limit(1)
    )
    return found is not None
