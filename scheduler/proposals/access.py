"""Who sees a proposal: its owner, the coordinators of its round, the reviewers assigned to it, and admins.

To anyone else it does not exist (NotFound), so that asking cannot tell a
proposal exists; those who see it but may not do something to it are refused
(Forbidden). The rule is one SQL condition on the proposal row (`visible_to`),
so that seeing one proposal or a page of them costs one query, and so that the
slots hot path can prebuild it with the caller as a bound parameter.
"""

from __future__ import annotations

from sqlalchemy import BindParameter, ColumnElement, exists, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.accounts.schemas import Claims, Role
from scheduler.accounts.service import coordinates_round
from scheduler.db.tables import CoordinatorFacility, Proposal, ReviewAssignment, RoundFacility
from scheduler.errors import Forbidden, NotFound


def visible_to(role: Role, user_id: int | BindParameter[int]) -> ColumnElement[bool]:
    """The proposals a caller with this role and account may see; `user_id` may be a bound parameter."""
    if role == "admin":
        return true()
    if role == "proposer":
        return col(Proposal.owner_id) == user_id
    if role == "reviewer":
        return exists().where(
            col(ReviewAssignment.proposal_id) == col(Proposal.id), col(ReviewAssignment.user_id) == user_id
        )
    return exists().where(
        col(RoundFacility.round_id) == col(Proposal.round_id),
        col(CoordinatorFacility.facility_id) == col(RoundFacility.facility_id),
        col(CoordinatorFacility.user_id) == user_id,
    )


async def visible_proposal(session: AsyncSession, actor: Claims, proposal_id: int) -> Proposal:
    query = select(Proposal).where(col(Proposal.id) == proposal_id, visible_to(actor.role, actor.user_id))
    proposal = (await session.execute(query)).scalar_one_or_none()
    if proposal is None:
        raise NotFound(f"no proposal {proposal_id}")
    return proposal


def require_owner(actor: Claims, proposal: Proposal) -> None:
    if not (actor.is_admin or proposal.owner_id == actor.user_id):
        raise Forbidden("only the proposal's owner may change it")


async def require_coordinator(session: AsyncSession, actor: Claims, proposal: Proposal) -> None:
    if not await coordinates_round(session, actor, proposal.round_id):
        raise Forbidden("only the round's coordinators and admins may do this")
