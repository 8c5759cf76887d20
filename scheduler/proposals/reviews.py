"""Reviews of proposals: the coordinators of the facilities a proposal asks for assign reviewers, who grade
while the round is in review. Who may do what is the policy's (`scheduler.access`).

Conflicts of interest are decided on accounts: a reviewer may not review a proposal they own or whose
PI or team member has their account's e-mail; display names decide nothing. Scoring checks the same
identities again (the round export writes each review under its reviewer's e-mail), so a conflict that
arises after grading sets that one review aside. A review stops counting when its reviewer is
unassigned or a coordinator voids it; it is kept, voided, with the reason.
Every change writes an audit entry in the caller's transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler import access
from scheduler.access import Operation
from scheduler.accounts.schemas import Claims
from scheduler.db.repository import TableService, record
from scheduler.db.tables import Proposal, Review, ReviewAssignment, TeamMember, User
from scheduler.errors import Conflict, NotFound
from scheduler.proposals.schemas import AssignmentIn, AssignmentPublic, ReviewIn, ReviewPublic, ReviewVoid
from scheduler.proposals.service import require_proposal
from scheduler.roundfile.checks import InputError, InputProblem
from scheduler.roundfile.contract import Scoring
from scheduler.rounds.deadlines import lock_round, require_before

REVIEW_PHASE = "review"
UNASSIGNED = "reviewer unassigned"
"""The reason a review is voided when its reviewer is unassigned; assigned again, they review afresh."""


class ReviewService(TableService[Review]):
    noun = "review"


# Reviewer assignments


async def list_assignments(
    session: AsyncSession, actor: Claims, proposal_id: int, page: LimitOffset
) -> OffsetPagination[AssignmentPublic]:
    await require_proposal(session, actor, Operation.JUDGE_PROPOSAL, proposal_id)
    query = (
        select(col(ReviewAssignment.proposal_id), col(ReviewAssignment.user_id), col(User.name), col(User.email))
        .join(User, col(User.id) == col(ReviewAssignment.user_id))
        .where(col(ReviewAssignment.proposal_id) == proposal_id)
        .order_by(col(User.id))
    )
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = await session.execute(query.limit(page.limit).offset(page.offset))
    return OffsetPagination(
        items=[AssignmentPublic.model_validate(row._asdict()) for row in rows],
        limit=page.limit,
        offset=page.offset,
        total=total or 0,
    )


async def assign_reviewer(
    session: AsyncSession, actor: Claims, proposal_id: int, data: AssignmentIn
) -> AssignmentPublic:
    """Never to someone who wrote the proposal: its owner, or the account whose e-mail its PI or a team member has."""
    proposal, _ = await require_proposal(session, actor, Operation.JUDGE_PROPOSAL, proposal_id)
    reviewer = await session.get(User, data.user_id)
    if reviewer is None or reviewer.role != "reviewer" or not reviewer.active:
        raise InputError([InputProblem("$.user_id", f"user {data.user_id} is not an active reviewer")])
    if await session.get(ReviewAssignment, (proposal_id, data.user_id)) is not None:
        raise Conflict(f"{reviewer.name} is assigned to this proposal already")
    if reviewer.id == proposal.owner_id or reviewer.email in await _author_emails(session, proposal):
        raise Conflict(f"{reviewer.name} ({reviewer.email}) is an author of this proposal and cannot review it")
    session.add(ReviewAssignment(proposal_id=proposal_id, user_id=data.user_id))
    await record(session, actor.user_id, "review.assign", "proposal", proposal_id, {"user_id": data.user_id})
    return AssignmentPublic(proposal_id=proposal_id, user_id=data.user_id, name=reviewer.name, email=reviewer.email)


async def unassign_reviewer(session: AsyncSession, actor: Claims, proposal_id: int, user_id: int) -> None:
    """The reviewer's review, if they gave one, is voided with them: it no longer counts."""
    await require_proposal(session, actor, Operation.JUDGE_PROPOSAL, proposal_id)
    assignment = await session.get(ReviewAssignment, (proposal_id, user_id))
    if assignment is None:
        raise NotFound(f"user {user_id} is not assigned to this proposal")
    await session.delete(assignment)
    review = await _review_by(session, proposal_id, user_id)
    if review is not None and review.voided_at is None:
        _void(review, actor, UNASSIGNED)
    detail = {"user_id": user_id, "voided_review_id": None if review is None else review.id}
    await record(session, actor.user_id, "review.unassign", "proposal", proposal_id, detail)


async def void_review(
    session: AsyncSession, actor: Claims, proposal_id: int, review_id: int, data: ReviewVoid
) -> ReviewPublic:
    """A judge of the proposal sets a review aside for good, saying why; the reviewer cannot replace it."""
    await require_proposal(session, actor, Operation.JUDGE_PROPOSAL, proposal_id)
    review = await session.get(Review, review_id)
    if review is None or review.proposal_id != proposal_id:
        raise NotFound(f"no review {review_id} of proposal {proposal_id}")
    if review.voided_at is not None:
        raise Conflict(f"review {review_id} is void already: {review.void_reason}")
    _void(review, actor, data.reason)
    await session.flush()
    await record(
        session, actor.user_id, "review.void", "proposal", proposal_id, {"review_id": review_id, **data.model_dump()}
    )
    return ReviewPublic.model_validate(review)


def _void(review: Review, actor: Claims, reason: str) -> None:
    review.voided_at, review.void_reason, review.voided_by = datetime.now(UTC), reason, actor.user_id


# Reviews


async def list_reviews(
    session: AsyncSession, actor: Claims, proposal_id: int, page: LimitOffset
) -> OffsetPagination[ReviewPublic]:
    """All of them in confidence (`READ_CONFIDENTIAL`); a reviewer's own only, so reviewers do not sway each other."""
    query = select(Review).where(col(Review.proposal_id) == proposal_id).order_by(col(Review.position))
    _, facts = await require_proposal(session, actor, Operation.READ_PROPOSAL, proposal_id)
    if not access.may(actor, Operation.READ_CONFIDENTIAL, facts):
        access.require(actor, Operation.REVIEW_PROPOSAL, facts, f"proposal {proposal_id}")
        query = query.where(col(Review.reviewer_id) == actor.user_id)
    return await ReviewService(session=session).page(page, query, ReviewPublic)


async def submit_review(session: AsyncSession, actor: Claims, proposal_id: int, data: ReviewIn) -> ReviewPublic:
    """The caller's review of a proposal assigned to them, while the round is in review; sent again, it replaces."""
    proposal, _ = await require_proposal(session, actor, Operation.REVIEW_PROPOSAL, proposal_id)
    round_ = await lock_round(session, proposal.round_id)
    if round_.phase != REVIEW_PHASE:
        raise Conflict(f"the round is in phase {round_.phase!r}: reviews are taken in phase 'review'")
    await require_before(session, round_, "review")
    if round_.scoring is None:
        raise Conflict("the round has no grade scale yet: its coordinators set `scoring` first")
    grade = _checked_grade(data, Scoring.model_validate(round_.scoring))
    reviewer = await session.get(User, actor.user_id)
    if reviewer is None:
        raise NotFound("your account no longer exists")
    review = await _review_by(session, proposal_id, actor.user_id)
    if review is not None and review.voided_at is not None:
        if review.void_reason != UNASSIGNED:
            raise Conflict(f"your review of this proposal was voided by its coordinators: {review.void_reason}")
        review.voided_at, review.void_reason, review.voided_by = None, None, None
    if review is None:
        position = await session.scalar(
            select(func.count()).select_from(Review).where(col(Review.proposal_id) == proposal_id)
        )
        review = Review(
            proposal_id=proposal_id,
            reviewer=reviewer.email,
            reviewer_id=actor.user_id,
            grade=grade,
            position=position or 0,
        )
        session.add(review)
    review.grade, review.conflict, review.comment = grade, data.conflict, data.comment
    await session.flush()
    await record(session, actor.user_id, "review.submit", "proposal", proposal_id, data.model_dump(mode="json"))
    return ReviewPublic.model_validate(review)


async def _review_by(session: AsyncSession, proposal_id: int, user_id: int) -> Review | None:
    return (
        await session.execute(
            select(Review).where(col(Review.proposal_id) == proposal_id, col(Review.reviewer_id) == user_id)
        )
    ).scalar_one_or_none()


async def _author_emails(session: AsyncSession, proposal: Proposal) -> set[str]:
    """The PI's and team members' account e-mails, as given (e-mails are stored lower-cased)."""
    team = await session.execute(
        select(col(TeamMember.email)).where(
            col(TeamMember.proposal_id) == proposal.id, col(TeamMember.email).is_not(None)
        )
    )
    return {email for email in [proposal.pi_email, *team.scalars()] if email is not None}


def _checked_grade(data: ReviewIn, scoring: Scoring) -> float:
    best, worst = scoring.grade_best, scoring.grade_worst
    if data.grade is None:
        if data.conflict:
            return worst
        raise InputError([InputProblem("$.grade", "a grade is needed unless you declare a conflict")])
    if not min(best, worst) <= data.grade <= max(best, worst):
        raise InputError([InputProblem("$.grade", f"the grade must be from {best} (best) to {worst} (worst)")])
    return data.grade
