"""Users and who may act on which facility: creating, changing, reading and listing accounts.

What a coordinator coordinates is read when it matters, not carried in the token,
so a change of facilities takes effect at once. A user's country and institution are
facts quotas count on: the user may propose them, and the country counts once an admin
or a coordinator of a round the user is in has set or confirmed it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from pydantic import ValidationError
from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler import access
from scheduler.access import Facts, Operation
from scheduler.accounts.identity import Identities
from scheduler.accounts.schemas import (
    Claims,
    FactsConfirmation,
    Me,
    OwnFactsUpdate,
    Role,
    UserCreate,
    UserFacts,
    UserPublic,
    UserUpdate,
)
from scheduler.accounts.tokens import email_as_password, end_tokens, hash_password
from scheduler.catalogue.service import ids_by_code
from scheduler.db.repository import TableService, record
from scheduler.db.tables import CoordinatorFacility, Facility, Proposal, RoundFacility, TeamMember, User
from scheduler.errors import Conflict, NotFound
from scheduler.roundfile.checks import InputError, InputProblem, problems_from_validation_error

ONLY_COORDINATORS_HAVE_FACILITIES = "only coordinators have facilities"
_ONLY_COORDINATORS = InputProblem("$.facilities", ONLY_COORDINATORS_HAVE_FACILITIES)


class UserService(TableService[User]):
    noun = "user"


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
    problems = email_as_password(data.password, data.email, "$.password")
    if data.facilities and data.role != "coordinator":
        problems.append(_ONLY_COORDINATORS)
    if problems:
        raise InputError(problems)
    facility_ids = await _facility_ids(session, data.facilities)
    if await session.scalar(select(col(User.id)).where(col(User.email) == data.email)) is not None:
        raise Conflict(f"a user with e-mail {data.email} exists already")
    password_hash = await asyncio.to_thread(hash_password, data.password)
    user = User(
        email=data.email,
        name=data.name,
        role=data.role,
        password_hash=password_hash,
    )
    session.add(user)
    await session.flush()
    assert user.id is not None
    session.add_all(CoordinatorFacility(user_id=user.id, facility_id=facility_id) for facility_id in facility_ids)
    await record(session, actor_id, "user.create", "user", user.id, {"email": data.email, "role": data.role})
    return _public(user, sorted(data.facilities))


async def update_user(
    session: AsyncSession, identities: Identities, actor: Claims, user_id: int, change: UserUpdate
) -> UserPublic:
    """An admin's change of active, role or facilities; any change ends the user's tokens, since every
    token is checked against them (`scheduler.accounts.identity`). A role other than coordinator drops
    the facilities. The audit entry has each changed field before and after."""
    user = await UserService(session=session).row(user_id)
    wanted = change.changes()
    before: dict[str, Any] = {
        "active": user.active,
        "role": user.role,
        "facilities": await _coordinated_codes(session, user_id),
    }
    role = wanted.get("role", user.role)
    codes = wanted.get("facilities", before["facilities"] if role == "coordinator" else [])
    if codes and role != "coordinator":
        raise InputError([_ONLY_COORDINATORS])
    facility_ids = await _facility_ids(session, codes)
    after: dict[str, Any] = {
        "active": wanted.get("active", user.active),
        "role": role,
        "facilities": sorted(set(codes)),
    }
    changed = [field for field in before if before[field] != after[field]]
    if not changed:
        return _public(user, before["facilities"])
    if before["active"] and before["role"] == "admin" and not (after["active"] and after["role"] == "admin"):
        await _keep_an_admin(session, user_id)
    user.active, user.role = after["active"], role
    if "facilities" in changed:
        await session.execute(delete(CoordinatorFacility).where(col(CoordinatorFacility.user_id) == user_id))
        session.add_all(CoordinatorFacility(user_id=user_id, facility_id=facility_id) for facility_id in facility_ids)
    end_tokens(session, identities, user)
    detail = {
        "before": {field: before[field] for field in changed},
        "after": {field: after[field] for field in changed},
    }
    await record(session, actor.user_id, "user.update", "user", user_id, detail)
    return _public(user, after["facilities"])


async def propose_own_facts(session: AsyncSession, user_id: int, change: OwnFactsUpdate) -> Me:
    """The user's own country and institution; a changed country is a claim again until confirmed."""
    user = await UserService(session=session).row(user_id)
    before = _facts(user)
    for name, value in change.changes().items():
        setattr(user, name, value)
    if user.country != before["country"]:
        user.country_confirmed = False
    if _facts(user) != before:
        await record(session, user_id, "user.facts.propose", "user", user_id, {"before": before, "after": _facts(user)})
    found = await me(session, user_id)
    assert found is not None, "the row was read above"
    return found


async def confirm_facts(session: AsyncSession, actor: Claims, user_id: int, data: FactsConfirmation) -> UserFacts:
    """An admin's or a coordinator's word on a user's country: from now it counts in quotas. Audited before -> after."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    facts = Facts(facilities=frozenset(await _round_facilities_of(session, user)), subject_id=user_id)
    access.require(actor, Operation.CONFIRM_ACCOUNT_FACTS, facts, f"user {user_id}")
    before = _facts(user)
    user.country, user.country_confirmed = data.country, True
    if data.institution is not None:
        user.institution = data.institution
    await record(
        session, actor.user_id, "user.facts.confirm", "user", user_id, {"before": before, "after": _facts(user)}
    )
    return UserFacts.model_validate(user)


async def _round_facilities_of(session: AsyncSession, user: User) -> set[int]:
    """The facilities of the rounds where the user owns a proposal or is its PI or a team member by e-mail."""
    named = select(col(TeamMember.proposal_id)).where(col(TeamMember.email) == user.email)
    rounds = select(col(Proposal.round_id)).where(
        or_(col(Proposal.owner_id) == user.id, col(Proposal.pi_email) == user.email, col(Proposal.id).in_(named))
    )
    rows = await session.execute(
        select(col(RoundFacility.facility_id)).where(col(RoundFacility.round_id).in_(rounds)).distinct()
    )
    return set(rows.scalars())


def _facts(user: User) -> dict[str, Any]:
    return {"country": user.country, "institution": user.institution, "country_confirmed": user.country_confirmed}


async def _keep_an_admin(session: AsyncSession, user_id: int) -> None:
    """Nobody could administer accounts any more, this one included."""
    others = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(col(User.role) == "admin", col(User.active), col(User.id) != user_id)
    )
    if not others:
        raise Conflict(f"user {user_id} is the last active admin: make another admin first")


async def me(session: AsyncSession, user_id: int) -> Me | None:
    user = await session.get(User, user_id)
    if user is None:
        return None
    public = _public(user, await _coordinated_codes(session, user_id))
    return Me(**public.model_dump(), calendar_feed=user.calendar_token_hash is not None)


async def get_user(session: AsyncSession, user_id: int) -> UserPublic | None:
    user = await session.get(User, user_id)
    return None if user is None else _public(user, await _coordinated_codes(session, user_id))


async def list_users(
    session: AsyncSession, page: LimitOffset, *, role: Role | None = None
) -> OffsetPagination[UserPublic]:
    """Oldest account first, with the total for the pager."""
    query: Select[Any] = select(User).order_by(col(User.id))
    if role is not None:
        query = query.where(col(User.role) == role)
    users, total = await UserService(session=session).get_many_and_count(page, statement=query)
    codes = await _coordinated_codes_by_user(session, [user.id for user in users if user.id is not None])
    return OffsetPagination(
        items=[_public(user, codes.get(user.id or 0, [])) for user in users],
        limit=page.limit,
        offset=page.offset,
        total=total,
    )


async def _facility_ids(session: AsyncSession, codes: list[str]) -> list[int]:
    """A code given twice counts once."""
    found = await ids_by_code(session, Facility, codes, "$.facilities")
    return [found[code] for code in dict.fromkeys(codes)]


async def _coordinated_codes(session: AsyncSession, user_id: int) -> list[str]:
    rows = await session.execute(
        select(col(Facility.code))
        .join(CoordinatorFacility, col(CoordinatorFacility.facility_id) == col(Facility.id))
        .where(col(CoordinatorFacility.user_id) == user_id)
        .order_by(col(Facility.code))
    )
    return list(rows.scalars())


async def _coordinated_codes_by_user(session: AsyncSession, user_ids: list[int]) -> dict[int, list[str]]:
    rows = await session.execute(
        select(col(CoordinatorFacility.user_id), col(Facility.code))
        .join(Facility, col(CoordinatorFacility.facility_id) == col(Facility.id))
        .where(col(CoordinatorFacility.user_id).in_(user_ids))
        .order_by(col(Facility.code))
    )
    codes: dict[int, list[str]] = {}
    for user_id, code in rows:
        codes.setdefault(user_id, []).append(code)
    return codes


def _public(user: User, facility_codes: list[str]) -> UserPublic:
    return UserPublic.model_validate(
        user.model_dump(include=set(UserPublic.model_fields)) | {"facilities": facility_codes}
    )
