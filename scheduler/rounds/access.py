"""Who may change a round, one function per rule (reading rounds is for everyone signed in: a call
for proposals is public).

Kept apart from the services so the rules move as they are into the one access policy.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.accounts.schemas import Claims
from scheduler.accounts.service import coordinated_facility_ids, coordinates_round
from scheduler.catalogue.access import require_coordinator_role
from scheduler.db.tables import Facility
from scheduler.errors import Forbidden


async def require_round_coordinator(session: AsyncSession, actor: Claims, round_id: int) -> None:
    """A round is a coordinator's when it includes one of their facilities; admins keep every round."""
    if not await coordinates_round(session, actor, round_id):
        raise Forbidden("only the round's coordinators and admins may do this")


async def require_all_coordinated(session: AsyncSession, actor: Claims, facility_ids: set[int]) -> None:
    """A coordinator adds or removes only facilities they coordinate in a round."""
    if actor.is_admin:
        return
    foreign = facility_ids - await coordinated_facility_ids(session, actor.user_id)
    if foreign:
        rows = await session.execute(select(col(Facility.code)).where(col(Facility.id).in_(foreign)))
        raise Forbidden(f"you do not coordinate facilities {', '.join(sorted(rows.scalars()))}")


async def require_coordinated_codes(session: AsyncSession, actor: Claims, facility_codes: Sequence[str]) -> None:
    """For a round file: a coordinator may bring in only facilities they coordinate (which must exist)."""
    require_coordinator_role(actor)
    if actor.is_admin:
        return
    rows = await session.execute(
        select(col(Facility.code), col(Facility.id)).where(col(Facility.code).in_(facility_codes))
    )
    found = dict(rows.all())
    mine = await coordinated_facility_ids(session, actor.user_id)
    foreign = [code for code in facility_codes if found.get(code) not in mine]
    if foreign:
        raise Forbidden(f"you do not coordinate facilities {', '.join(foreign)}")
