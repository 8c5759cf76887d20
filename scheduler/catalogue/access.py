"""Who may change the catalogue, one function per rule (reading it is for everyone signed in).

Kept apart from the services so the rules move as they are into the one access policy.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.accounts.schemas import Claims
from scheduler.accounts.service import coordinates_facility
from scheduler.errors import Forbidden


def require_admin(actor: Claims, doing: str) -> None:
    """Facilities come and go with admins only: a new one has no coordinator yet."""
    if not actor.is_admin:
        raise Forbidden(f"only an admin {doing}")


def require_coordinator_role(actor: Claims) -> None:
    """Shared things (equipment, new rounds, round files) are for any coordinator and admins."""
    if actor.role not in ("admin", "coordinator"):
        raise Forbidden("only coordinators and admins may do this")


async def require_facility_coordinator(session: AsyncSession, actor: Claims, facility_id: int) -> None:
    """A facility, its instruments and their windows are kept by the facility's coordinators and admins."""
    if not await coordinates_facility(session, actor, facility_id):
        raise Forbidden("only the facility's coordinators and admins may do this")
