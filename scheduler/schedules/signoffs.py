"""Sign-offs: a shared round's draft is published when every facility whose instruments it changes agreed.

A shared round (more than one facility) belongs to all its facilities, so no coordinator
publishes changes on another facility's instruments alone. What a draft changes is
compared with the version in force: an allocation added, dropped, moved, resized, pinned
or unpinned changes the facility of its instrument (of both instruments when it moved
between facilities). Each such facility signs off through one of its coordinators
(`sign_off`); a coordinator who publishes signs for their own facilities with the publish.
An admin publishes without sign-offs; a single-facility round needs none beyond its
coordinator's publish. A sign-off is for one draft: a new draft (a move, a solve) needs
new ones, and a pin or unpin on a draft takes back the sign-off of the facility it touches.
Every sign-off and withdrawal is in the audit. Sign-offs and the publish check lock the
draft's row, so a withdrawal cannot slip between the check and the publish.
A nightly repair publishes by itself only where the round allows it (`Round.auto_publish`,
a round-wide setting, which in a shared round only every facility or an admin changes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler import access
from scheduler.access import Facts, Operation
from scheduler.accounts.schemas import Claims
from scheduler.db.repository import lock_all, locked, record
from scheduler.db.tables import Allocation, Facility, Instrument, ScheduleSignOff, ScheduleVersion, User
from scheduler.errors import Conflict, NotFound
from scheduler.rounds.service import round_facts
from scheduler.schedules.versions import DRAFT, PUBLISHED


class SignOffsMissingError(Conflict):
    """A shared round's draft changes facilities that have not signed off (the member `facilities`); nothing was
    published."""


class SignOff(BaseModel):
    facility: str = Field(description="The facility's code.")
    user_id: int
    user_name: str
    at: datetime


class SignOffs(BaseModel):
    """Who must agree to a draft of a shared round before it is published, and who has."""

    version_id: int
    shared: bool = Field(description="Whether the round has more than one facility: only then are sign-offs needed.")
    needed: list[str] = Field(
        description="Codes of the facilities whose instruments the draft changes against the published version "
        "(none for a single-facility round or a version that is no longer a draft)."
    )
    given: list[SignOff]
    awaited: list[str] = Field(description="The needed facilities that have not signed off yet.")


async def changed_facilities(session: AsyncSession, version: ScheduleVersion) -> frozenset[int]:
    """The facilities of the instruments whose allocations differ between `version` and the one in force."""
    in_force = await session.scalar(
        select(col(ScheduleVersion.id)).where(
            col(ScheduleVersion.round_id) == version.round_id, col(ScheduleVersion.status) == PUBLISHED
        )
    )

    async def placed(version_id: int | None) -> set[tuple[int, int, int, int, bool]]:
        rows = await session.execute(
            select(
                col(Allocation.request_id),
                col(Allocation.instrument_id),
                col(Allocation.start_shift),
                col(Allocation.shifts),
                col(Allocation.pinned),
            ).where(col(Allocation.schedule_version_id) == version_id)
        )
        return {(request, instrument, start, shifts, pinned) for request, instrument, start, shifts, pinned in rows}

    changed = await placed(version.id) ^ await placed(in_force)
    return await facilities_of_instruments(session, {instrument_id for _, instrument_id, *_ in changed})


async def facilities_of_instruments(session: AsyncSession, instrument_ids: Iterable[int]) -> frozenset[int]:
    rows = await session.execute(select(col(Instrument.facility_id)).where(col(Instrument.id).in_(set(instrument_ids))))
    return frozenset(rows.scalars())


async def read(session: AsyncSession, actor: Claims, version_id: int) -> SignOffs:
    """A version's sign-offs, for those who read the version (`READ_SCHEDULE`)."""
    version, facts = await _version_and_facts(session, version_id)
    access.require(actor, Operation.READ_SCHEDULE, facts, f"schedule version {version_id}")
    return await _sign_offs(session, version, facts.facilities)


async def give(session: AsyncSession, actor: Claims, version_id: int) -> SignOffs:
    """Signs for each facility the actor coordinates that the draft changes (`SIGN_OFF_SCHEDULE`); signing
    again is harmless. Audited."""
    version, facts = await _version_and_facts(session, version_id)
    what = f"schedule version {version_id}"
    access.require(actor, Operation.READ_SCHEDULE, facts, what)
    if version.status != DRAFT:
        raise Conflict(f"version {version.number} is {version.status}; only drafts are signed off")
    changed = await changed_facilities(session, version)
    access.require(actor, Operation.SIGN_OFF_SCHEDULE, replace(facts, asks_for=changed), what)
    await _sign(session, actor, version, with_publish=False)
    return await _sign_offs(session, version, facts.facilities)


async def withdraw(session: AsyncSession, actor: Claims, version_id: int) -> None:
    """Takes back the sign-offs of the actor's facilities on a draft (whichever of their coordinators gave them)."""
    version, facts = await _version_and_facts(session, version_id)
    what = f"schedule version {version_id}"
    access.require(actor, Operation.READ_SCHEDULE, facts, what)
    assert version.id is not None
    if version.status != DRAFT:
        raise Conflict(f"version {version.number} is {version.status}; its sign-offs are part of its history")
    access.require(actor, Operation.SIGN_OFF_SCHEDULE, replace(facts, asks_for=actor.facilities), what)
    theirs = (await _signed(session, version.id)) & actor.facilities
    if not theirs:
        raise NotFound(f"version {version.number} has no sign-off of your facilities")
    await take_back(session, version.id, theirs, user_id=actor.user_id, reason="withdrawn")


async def require_signed_off(session: AsyncSession, actor: Claims, version: ScheduleVersion) -> None:
    """Before a coordinator publishes a shared round's draft: their own facilities sign with the publish, and
    every other facility the draft changes must have signed off (SignOffsMissingError names those that have not).
    Admins and single-facility rounds need none."""
    assert version.id is not None
    facts = await round_facts(session, version.round_id)
    if actor.is_admin or len(facts.facilities) <= 1:
        return
    await lock_all(session, ScheduleVersion, [version.id])
    await _sign(session, actor, version, with_publish=True)
    awaited = (await changed_facilities(session, version)) - await _signed(session, version.id)
    if awaited:
        codes = await _codes(session, awaited)
        facilities = sorted(codes.values())
        raise SignOffsMissingError(
            f"version {version.number} changes instruments of {', '.join(facilities)}, which must sign off before "
            "it is published (POST /schedules/{id}/sign-off by a coordinator of each), or an admin publishes it",
            facilities=facilities,
        )


async def _version_and_facts(session: AsyncSession, version_id: int) -> tuple[ScheduleVersion, Facts]:
    version = await locked(session, ScheduleVersion, version_id, "schedule version")
    facts = await round_facts(session, version.round_id)
    return version, replace(facts, draft=version.status == DRAFT)


async def _sign_offs(session: AsyncSession, version: ScheduleVersion, round_facilities: frozenset[int]) -> SignOffs:
    assert version.id is not None
    shared = len(round_facilities) > 1
    needed = await changed_facilities(session, version) if shared and version.status == DRAFT else frozenset()
    rows = await session.execute(
        select(ScheduleSignOff, col(Facility.code), col(User.name))
        .join(Facility, col(Facility.id) == col(ScheduleSignOff.facility_id))
        .join(User, col(User.id) == col(ScheduleSignOff.user_id))
        .where(col(ScheduleSignOff.schedule_version_id) == version.id)
        .order_by(col(ScheduleSignOff.at), col(ScheduleSignOff.id))
    )
    given, signed = [], set()
    for signed_off, code, name in rows:
        given.append(SignOff(facility=code, user_id=signed_off.user_id, user_name=name, at=signed_off.at))
        signed.add(signed_off.facility_id)
    codes = await _codes(session, needed)
    return SignOffs(
        version_id=version.id,
        shared=shared,
        needed=sorted(codes[f] for f in needed),
        given=given,
        awaited=sorted(codes[f] for f in needed - signed),
    )


async def _sign(session: AsyncSession, actor: Claims, version: ScheduleVersion, *, with_publish: bool) -> None:
    assert version.id is not None
    if version.status != DRAFT:
        raise Conflict(f"version {version.number} is {version.status}; only drafts are signed off")
    new = ((await changed_facilities(session, version)) & actor.facilities) - await _signed(session, version.id)
    session.add_all(
        ScheduleSignOff(schedule_version_id=version.id, facility_id=facility_id, user_id=actor.user_id)
        for facility_id in sorted(new)
    )
    if new:
        codes = await _codes(session, new)
        detail = {"facilities": sorted(codes.values()), "with_publish": with_publish}
        await record(session, actor.user_id, "schedule.sign-off", "schedule", version.id, detail)
    try:
        await session.flush()
    except IntegrityError as error:
        raise Conflict("another coordinator of the facility signed off at the same time; reload") from error


async def take_back(
    session: AsyncSession, version_id: int, facilities: frozenset[int], *, user_id: int | None, reason: str
) -> None:
    """Removes the sign-offs of `facilities` on a draft, if any, with an audit entry naming them and why."""
    removed = await session.execute(
        delete(ScheduleSignOff)
        .where(
            col(ScheduleSignOff.schedule_version_id) == version_id,
            col(ScheduleSignOff.facility_id).in_(facilities),
        )
        .returning(col(ScheduleSignOff.facility_id))
    )
    gone = frozenset(removed.scalars())
    if gone:
        codes = await _codes(session, gone)
        detail = {"facilities": sorted(codes.values()), "reason": reason}
        await record(session, user_id, "schedule.sign-off-withdrawn", "schedule", version_id, detail)


async def _signed(session: AsyncSession, version_id: int) -> frozenset[int]:
    rows = await session.execute(
        select(col(ScheduleSignOff.facility_id)).where(col(ScheduleSignOff.schedule_version_id) == version_id)
    )
    return frozenset(rows.scalars())


async def _codes(session: AsyncSession, facility_ids: Iterable[int]) -> dict[int, str]:
    rows = await session.execute(
        select(col(Facility.id), col(Facility.code)).where(col(Facility.id).in_(set(facility_ids)))
    )
    return {facility_id: code for facility_id, code in rows if facility_id is not None}
