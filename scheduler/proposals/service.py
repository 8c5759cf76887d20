"""Proposals through a round's life: submitted and edited while the call is open, judged
technically, reviewed by the reviewers a coordinator assigns, then scored and ranked.

Who sees a proposal: its owner, the coordinators of its round, the reviewers
assigned to it, and admins. To anyone else it does not exist (NotFound), so that
asking cannot tell a proposal exists. Those who see it but may not do something to
it are refused (Forbidden). Every change writes an audit entry in the caller's
transaction.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from sqlalchemy import ColumnElement, delete, exists, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.accounts.audit import record
from scheduler.accounts.service import Claims, coordinates_round
from scheduler.catalogue.service import round_row
from scheduler.db.tables import (
    CoordinatorFacility,
    Equipment,
    Instrument,
    Link,
    Proposal,
    Request,
    Review,
    ReviewAssignment,
    Round,
    RoundEquipment,
    RoundFacility,
    TeamMember,
    User,
)
from scheduler.errors import Conflict, Forbidden, NotFound
from scheduler.fields import MAX_INT, Code, Count, Country, Input, Instant, Name, Output, UTCInstant
from scheduler.roundfile.checks import InputError, InputProblem
from scheduler.roundfile.contract import ProposalType, RoundFile, Scoring
from scheduler.roundfile.scoring import ExclusionReason, score_round
from scheduler.rounds.roundio import export_round

Label = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_.-]{1,24}$",
        description="The request's name within the proposal; its id in the round is `<proposal code>-<label>`.",
    ),
]
Shifts = Annotated[int, Field(ge=1, le=100_000)]


class Person(Input):
    name: Name
    institution: Annotated[str, Field(max_length=500, pattern=r"^[^\x00-\x1f]*$")] = ""
    country: Country


class Interval(Input):
    start: Instant
    end: Instant

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("end must be after start")
        return end


class RequestIn(Input):
    label: Label
    instruments: Annotated[list[Code], Field(min_length=1, description="Acceptable instruments, preferred first.")]
    shifts: Shifts
    min_shifts: Shifts | None = Field(default=None, description="The shortest useful block; `shifts` when absent.")
    equipment: list[Code] = Field(default_factory=list)
    earliest: Instant | None = None
    latest: Instant | None = None
    unavailable: list[Interval] = Field(default_factory=list)


class AllOrNothingLink(Input):
    type: Literal["all_or_nothing"]
    requests: Annotated[list[Label], Field(min_length=2)]


class AfterLink(Input):
    type: Literal["after"]
    first: Label
    then: Label
    min_gap_shifts: Count = 0
    max_gap_shifts: Count | None = None


LinkIn = Annotated[AllOrNothingLink | AfterLink, Field(discriminator="type")]


class ProposalContent(Input):
    """What a proposer writes: submitted, and replaced whole while the call is open."""

    title: Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f]+$")]
    type: ProposalType
    pi: Person
    team: list[Person] = Field(default_factory=list)
    requests: Annotated[list[RequestIn], Field(min_length=1)]
    links: list[LinkIn] = Field(default_factory=list)
    missed_rounds: Annotated[int, Field(ge=0, le=100)] = Field(
        default=0, description="Earlier rounds in a row the proposal got no time although above the cut-off."
    )
    first_time_users: bool = False
    early_career_pi: bool = False


class PersonPublic(Output):
    name: str
    institution: str
    country: str


class IntervalPublic(Output):
    start: UTCInstant
    end: UTCInstant


class RequestPublic(Output):
    id: int
    code: str
    label: str = Field(description="The code without the proposal's code in front.")
    instruments: list[str]
    shifts: int
    min_shifts: int | None
    equipment: list[str]
    earliest: UTCInstant | None
    latest: UTCInstant | None
    unavailable: list[IntervalPublic]


class AllOrNothingLinkPublic(Output):
    type: Literal["all_or_nothing"]
    requests: list[str]


class AfterLinkPublic(Output):
    type: Literal["after"]
    first: str
    then: str
    min_gap_shifts: int
    max_gap_shifts: int | None


class ProposalPublic(Output):
    id: int
    round_id: int
    code: str
    owner_id: int | None
    title: str
    type: ProposalType
    pi: PersonPublic
    team: list[PersonPublic]
    requests: list[RequestPublic]
    links: list[Annotated[AllOrNothingLinkPublic | AfterLinkPublic, Field(discriminator="type")]]
    priority: float | None
    technically_feasible: bool
    withdrawn: bool
    missed_rounds: int
    first_time_users: bool
    early_career_pi: bool
    created_at: datetime
    updated_at: datetime


class ProposalSummary(Output):
    id: int
    round_id: int
    code: str
    owner_id: int | None
    title: str
    type: ProposalType
    pi_name: str
    pi_country: str
    technically_feasible: bool
    withdrawn: bool


class Feasibility(Input):
    technically_feasible: bool


class AssignmentIn(Input):
    user_id: Annotated[int, Field(ge=1, le=MAX_INT)]


class AssignmentPublic(Output):
    proposal_id: int
    user_id: int
    name: str
    email: str


class ReviewIn(Input):
    grade: Annotated[float, Field(ge=-1e6, le=1e6)] | None = Field(
        default=None, description="On the round's scale; may be left out when declaring a conflict."
    )
    conflict: bool = Field(default=False, description="The reviewer has a conflict of interest: the grade is ignored.")
    comment: Annotated[str, Field(max_length=20_000, pattern=r"^[^\x00]*$")] = ""


class ReviewPublic(Output):
    id: int
    proposal_id: int
    reviewer: str
    reviewer_id: int | None
    grade: float
    conflict: bool
    comment: str


class RankingRow(BaseModel):
    rank: int
    proposal_id: int
    proposal: str
    pi_country: str
    type: ProposalType
    usable_reviews: int
    raw_grade: float | None
    normalised_grade: float | None
    adjustments: dict[str, float]
    final_grade: float | None
    priority: float | None
    priority_given: bool
    excluded_reason: ExclusionReason | None
    excluded_detail: str | None


EDITABLE_PHASE = "open"
REVIEW_PHASE = "review"
WITHDRAWABLE_PHASES = ("open", "review", "allocation")


# Proposals


async def list_proposals(session: AsyncSession, actor: Claims, *, round_id: int | None = None) -> list[ProposalSummary]:
    """The proposals the caller may see: their own, those assigned to them, those of their rounds, or all."""
    query = select(Proposal).where(_visible_to(actor)).order_by(col(Proposal.round_id), col(Proposal.position))
    if round_id is not None:
        query = query.where(col(Proposal.round_id) == round_id)
    rows = (await session.execute(query)).scalars()
    return [ProposalSummary.model_validate(row) for row in rows]


async def get_proposal(session: AsyncSession, actor: Claims, proposal_id: int) -> ProposalPublic:
    return await _public(session, await _visible_proposal(session, actor, proposal_id))


async def submit_proposal(session: AsyncSession, actor: Claims, round_id: int, data: ProposalContent) -> ProposalPublic:
    if actor.role not in ("proposer", "admin"):
        raise Forbidden("only proposers submit proposals")
    round_ = await round_row(session, round_id)
    _require_open_call(round_)
    await _check_content(session, round_id, data)
    position = await session.scalar(
        select(func.count()).select_from(Proposal).where(col(Proposal.round_id) == round_id)
    )
    placeholder = f"new-{secrets.token_hex(8)}"
    proposal = Proposal(
        round_id=round_id, owner_id=actor.user_id, position=position or 0, code=placeholder, **_fields(data)
    )
    session.add(proposal)
    await session.flush()
    # The code is made of the id, which exists only once the row does: short, stable, never taken twice.
    proposal.code = f"P-{proposal.id}"
    await _write_children(session, proposal, data)
    record(session, actor.user_id, "proposal.submit", "proposal", _id(proposal), {"code": proposal.code})
    return await _public(session, proposal)


async def replace_proposal(
    session: AsyncSession, actor: Claims, proposal_id: int, data: ProposalContent
) -> ProposalPublic:
    proposal = await _visible_proposal(session, actor, proposal_id)
    _require_owner(actor, proposal)
    _require_open_call(await round_row(session, proposal.round_id))
    await _check_content(session, proposal.round_id, data)
    for table in (TeamMember, Request, Link):
        await session.execute(delete(table).where(col(table.proposal_id) == proposal_id))
    for name, value in _fields(data).items():
        setattr(proposal, name, value)
    proposal.updated_at = datetime.now(UTC)
    await _write_children(session, proposal, data)
    record(session, actor.user_id, "proposal.replace", "proposal", proposal_id, data.model_dump(mode="json"))
    return await _public(session, proposal)


async def withdraw_proposal(session: AsyncSession, actor: Claims, proposal_id: int) -> ProposalPublic:
    """Until time is allocated; the proposal is kept but no longer scored or scheduled."""
    proposal = await _visible_proposal(session, actor, proposal_id)
    _require_owner(actor, proposal)
    round_ = await round_row(session, proposal.round_id)
    if round_.phase not in WITHDRAWABLE_PHASES:
        raise Conflict(f"the round is in phase {round_.phase!r}: a proposal can no longer be withdrawn")
    proposal.withdrawn = True
    proposal.updated_at = datetime.now(UTC)
    record(session, actor.user_id, "proposal.withdraw", "proposal", proposal_id, {})
    return await _public(session, proposal)


async def set_feasibility(session: AsyncSession, actor: Claims, proposal_id: int, data: Feasibility) -> ProposalPublic:
    proposal = await _visible_proposal(session, actor, proposal_id)
    await _require_coordinator(session, actor, proposal)
    proposal.technically_feasible = data.technically_feasible
    record(session, actor.user_id, "proposal.feasibility", "proposal", proposal_id, data.model_dump(mode="json"))
    return await _public(session, proposal)


# Reviewer assignments


async def list_assignments(session: AsyncSession, actor: Claims, proposal_id: int) -> list[AssignmentPublic]:
    proposal = await _visible_proposal(session, actor, proposal_id)
    await _require_coordinator(session, actor, proposal)
    rows = await session.execute(
        select(col(ReviewAssignment.proposal_id), col(ReviewAssignment.user_id), col(User.name), col(User.email))
        .join(User, col(User.id) == col(ReviewAssignment.user_id))
        .where(col(ReviewAssignment.proposal_id) == proposal_id)
        .order_by(col(User.id))
    )
    return [AssignmentPublic.model_validate(row._asdict()) for row in rows]


async def assign_reviewer(
    session: AsyncSession, actor: Claims, proposal_id: int, data: AssignmentIn
) -> AssignmentPublic:
    """Never to someone who wrote the proposal: its owner, or a reviewer named as its PI or team member."""
    proposal = await _visible_proposal(session, actor, proposal_id)
    await _require_coordinator(session, actor, proposal)
    reviewer = await session.get(User, data.user_id)
    if reviewer is None or reviewer.role != "reviewer" or not reviewer.active:
        raise InputError([InputProblem("$.user_id", f"user {data.user_id} is not an active reviewer")])
    if await session.get(ReviewAssignment, (proposal_id, data.user_id)) is not None:
        raise Conflict(f"{reviewer.name} is assigned to this proposal already")
    if reviewer.id == proposal.owner_id or _person_key(reviewer.name) in await _authors(session, proposal):
        raise Conflict(f"{reviewer.name} is an author of this proposal and cannot review it")
    session.add(ReviewAssignment(proposal_id=proposal_id, user_id=data.user_id))
    record(session, actor.user_id, "review.assign", "proposal", proposal_id, {"user_id": data.user_id})
    return AssignmentPublic(proposal_id=proposal_id, user_id=data.user_id, name=reviewer.name, email=reviewer.email)


async def unassign_reviewer(session: AsyncSession, actor: Claims, proposal_id: int, user_id: int) -> None:
    proposal = await _visible_proposal(session, actor, proposal_id)
    await _require_coordinator(session, actor, proposal)
    assignment = await session.get(ReviewAssignment, (proposal_id, user_id))
    if assignment is None:
        raise NotFound(f"user {user_id} is not assigned to this proposal")
    await session.delete(assignment)
    record(session, actor.user_id, "review.unassign", "proposal", proposal_id, {"user_id": user_id})


# Reviews


async def list_reviews(session: AsyncSession, actor: Claims, proposal_id: int) -> list[ReviewPublic]:
    """All of them for coordinators; a reviewer's own only, so reviewers do not sway each other."""
    proposal = await _visible_proposal(session, actor, proposal_id)
    query = select(Review).where(col(Review.proposal_id) == proposal_id).order_by(col(Review.position))
    if actor.role == "reviewer":
        query = query.where(col(Review.reviewer_id) == actor.user_id)
    else:
        await _require_coordinator(session, actor, proposal)
    return [ReviewPublic.model_validate(row) for row in (await session.execute(query)).scalars()]


async def submit_review(session: AsyncSession, actor: Claims, proposal_id: int, data: ReviewIn) -> ReviewPublic:
    """The caller's review of a proposal assigned to them, while the round is in review; sent again, it replaces."""
    proposal = await _visible_proposal(session, actor, proposal_id)
    if actor.role != "reviewer":
        raise Forbidden("only the reviewers assigned to a proposal review it")
    round_ = await round_row(session, proposal.round_id)
    if round_.phase != REVIEW_PHASE:
        raise Conflict(f"the round is in phase {round_.phase!r}: reviews are taken in phase 'review'")
    if round_.scoring is None:
        raise Conflict("the round has no grade scale yet: its coordinators set `scoring` first")
    grade = _checked_grade(data, Scoring.model_validate(round_.scoring))
    reviewer = await session.get(User, actor.user_id)
    if reviewer is None:
        raise NotFound("your account no longer exists")
    review = (
        await session.execute(
            select(Review).where(col(Review.proposal_id) == proposal_id, col(Review.reviewer_id) == actor.user_id)
        )
    ).scalar_one_or_none()
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
    record(session, actor.user_id, "review.submit", "proposal", proposal_id, data.model_dump(mode="json"))
    return ReviewPublic.model_validate(review)


# Ranking


async def ranking(session: AsyncSession, actor: Claims, round_id: int) -> list[RankingRow]:
    """The round's proposals (withdrawn ones left out) scored from their reviews, best first."""
    await round_row(session, round_id)
    if not await coordinates_round(session, actor, round_id):
        raise Forbidden("only the round's coordinators and admins see its ranking")
    round_file: RoundFile = await export_round(session, round_id)
    codes = await session.execute(
        select(col(Proposal.code), col(Proposal.id)).where(col(Proposal.round_id) == round_id)
    )
    ids = dict(codes.all())
    return [
        RankingRow(
            rank=score.rank,
            proposal_id=ids[score.proposal],
            proposal=score.proposal,
            pi_country=score.pi_country,
            type=score.type,
            usable_reviews=score.usable_reviews,
            raw_grade=score.raw_grade,
            normalised_grade=score.normalised_grade,
            adjustments=score.adjustments,
            final_grade=score.final_grade,
            priority=score.priority,
            priority_given=score.priority_given,
            excluded_reason=score.excluded_reason,
            excluded_detail=score.excluded_detail,
        )
        for score in score_round(round_file)
    ]


# Access


def _visible_to(actor: Claims) -> ColumnElement[bool]:
    """One condition on the proposal row, so that seeing one proposal costs one query."""
    if actor.is_admin:
        return true()
    if actor.role == "proposer":
        return col(Proposal.owner_id) == actor.user_id
    if actor.role == "reviewer":
        return exists().where(
            col(ReviewAssignment.proposal_id) == col(Proposal.id), col(ReviewAssignment.user_id) == actor.user_id
        )
    return exists().where(
        col(RoundFacility.round_id) == col(Proposal.round_id),
        col(CoordinatorFacility.facility_id) == col(RoundFacility.facility_id),
        col(CoordinatorFacility.user_id) == actor.user_id,
    )


async def _visible_proposal(session: AsyncSession, actor: Claims, proposal_id: int) -> Proposal:
    query = select(Proposal).where(col(Proposal.id) == proposal_id, _visible_to(actor))
    proposal = (await session.execute(query)).scalar_one_or_none()
    if proposal is None:
        raise NotFound(f"no proposal {proposal_id}")
    return proposal


def _require_owner(actor: Claims, proposal: Proposal) -> None:
    if not (actor.is_admin or proposal.owner_id == actor.user_id):
        raise Forbidden("only the proposal's owner may change it")


async def _require_coordinator(session: AsyncSession, actor: Claims, proposal: Proposal) -> None:
    if not await coordinates_round(session, actor, proposal.round_id):
        raise Forbidden("only the round's coordinators and admins may do this")


def _require_open_call(round_: Round) -> None:
    if round_.phase != EDITABLE_PHASE:
        raise Conflict(
            f"the call of round {round_.code} is closed (phase {round_.phase!r}): "
            "proposals are submitted and changed only while it is 'open'"
        )


async def _authors(session: AsyncSession, proposal: Proposal) -> set[str]:
    team = await session.execute(select(col(TeamMember.name)).where(col(TeamMember.proposal_id) == proposal.id))
    return {_person_key(proposal.pi_name), *map(_person_key, team.scalars())}


def _person_key(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().casefold()


def _checked_grade(data: ReviewIn, scoring: Scoring) -> float:
    best, worst = scoring.grade_best, scoring.grade_worst
    if data.grade is None:
        if data.conflict:
            return worst
        raise InputError([InputProblem("$.grade", "a grade is needed unless you declare a conflict")])
    if not min(best, worst) <= data.grade <= max(best, worst):
        raise InputError([InputProblem("$.grade", f"the grade must be from {best} (best) to {worst} (worst)")])
    return data.grade


# Content


async def _check_content(session: AsyncSession, round_id: int, data: ProposalContent) -> None:
    """What the schema cannot know: the round's instruments and equipment, and labels the links name."""
    instruments = set(
        (
            await session.execute(
                select(col(Instrument.code))
                .join(RoundFacility, col(RoundFacility.facility_id) == col(Instrument.facility_id))
                .where(col(RoundFacility.round_id) == round_id)
            )
        ).scalars()
    )
    equipment = set(
        (
            await session.execute(
                select(col(Equipment.code))
                .join(RoundEquipment, col(RoundEquipment.equipment_id) == col(Equipment.id))
                .where(col(RoundEquipment.round_id) == round_id)
            )
        ).scalars()
    )
    problems: list[InputProblem] = []
    labels: set[str] = set()
    for index, request in enumerate(data.requests):
        path = f"$.requests[{index}]"
        if request.label in labels:
            problems.append(InputProblem(f"{path}.label", f"label {request.label!r} is used twice"))
        labels.add(request.label)
        problems += [
            InputProblem(f"{path}.instruments[{position}]", f"{code!r} is not an instrument of the round")
            for position, code in enumerate(request.instruments)
            if code not in instruments
        ]
        problems += [
            InputProblem(f"{path}.equipment[{position}]", f"{code!r} is not equipment of the round")
            for position, code in enumerate(request.equipment)
            if code not in equipment
        ]
        if request.min_shifts is not None and request.min_shifts > request.shifts:
            problems.append(
                InputProblem(
                    f"{path}.min_shifts", f"min_shifts {request.min_shifts} is more than shifts {request.shifts}"
                )
            )
        if request.earliest is not None and request.latest is not None and request.latest <= request.earliest:
            problems.append(InputProblem(f"{path}.latest", "latest must be after earliest"))
    for index, link in enumerate(data.links):
        named = (
            [(f"requests[{position}]", label) for position, label in enumerate(link.requests)]
            if isinstance(link, AllOrNothingLink)
            else [("first", link.first), ("then", link.then)]
        )
        problems += [
            InputProblem(f"$.links[{index}].{key}", f"no request labelled {label!r} in this proposal")
            for key, label in named
            if label not in labels
        ]
        if isinstance(link, AfterLink) and link.first == link.then:
            problems.append(InputProblem(f"$.links[{index}].then", "a request cannot follow itself"))
        if (
            isinstance(link, AfterLink)
            and link.max_gap_shifts is not None
            and link.max_gap_shifts < link.min_gap_shifts
        ):
            problems.append(InputProblem(f"$.links[{index}].max_gap_shifts", "max_gap_shifts is below min_gap_shifts"))
    if problems:
        raise InputError(problems)


def _fields(data: ProposalContent) -> dict[str, Any]:
    return {
        "title": data.title,
        "type": data.type,
        "pi_name": data.pi.name,
        "pi_institution": data.pi.institution,
        "pi_country": data.pi.country,
        "missed_rounds": data.missed_rounds,
        "first_time_users": data.first_time_users,
        "early_career_pi": data.early_career_pi,
    }


async def _write_children(session: AsyncSession, proposal: Proposal, data: ProposalContent) -> None:
    proposal_id = _id(proposal)

    def code(label: str) -> str:
        return f"{proposal.code}-{label}"

    session.add_all(
        TeamMember(proposal_id=proposal_id, position=position, **member.model_dump())
        for position, member in enumerate(data.team)
    )
    session.add_all(
        Request(
            proposal_id=proposal_id,
            round_id=proposal.round_id,
            position=position,
            code=code(request.label),
            instruments=request.instruments,
            shifts=request.shifts,
            min_shifts=request.min_shifts,
            equipment=request.equipment,
            earliest=request.earliest,
            latest=request.latest,
            unavailable=[interval.model_dump(mode="json") for interval in request.unavailable],
        )
        for position, request in enumerate(data.requests)
    )
    session.add_all(
        Link(
            proposal_id=proposal_id,
            position=position,
            type=link.type,
            requests=[code(label) for label in link.requests] if isinstance(link, AllOrNothingLink) else None,
            first=code(link.first) if isinstance(link, AfterLink) else None,
            then=code(link.then) if isinstance(link, AfterLink) else None,
            min_gap_shifts=link.min_gap_shifts if isinstance(link, AfterLink) else 0,
            max_gap_shifts=link.max_gap_shifts if isinstance(link, AfterLink) else None,
        )
        for position, link in enumerate(data.links)
    )
    await session.flush()


async def _public(session: AsyncSession, proposal: Proposal) -> ProposalPublic:
    proposal_id = _id(proposal)
    prefix = f"{proposal.code}-"

    def label(code: str) -> str:
        return code.removeprefix(prefix)

    team = await session.execute(
        select(col(TeamMember.name), col(TeamMember.institution), col(TeamMember.country))
        .where(col(TeamMember.proposal_id) == proposal_id)
        .order_by(col(TeamMember.position), col(TeamMember.id))
    )
    requests = await session.execute(
        select(Request).where(col(Request.proposal_id) == proposal_id).order_by(col(Request.position))
    )
    links = await session.execute(select(Link).where(col(Link.proposal_id) == proposal_id).order_by(col(Link.position)))
    return ProposalPublic.model_validate(
        {
            **proposal.model_dump(),
            "pi": {"name": proposal.pi_name, "institution": proposal.pi_institution, "country": proposal.pi_country},
            "team": [row._asdict() for row in team],
            "requests": [{**request.model_dump(), "label": label(request.code)} for request in requests.scalars()],
            "links": [_link_public(link, label) for link in links.scalars()],
        }
    )


def _link_public(link: Link, label: Callable[[str], str]) -> dict[str, Any]:
    if link.type == "all_or_nothing":
        return {"type": link.type, "requests": [label(code) for code in link.requests or []]}
    return {
        "type": link.type,
        "first": label(link.first or ""),
        "then": label(link.then or ""),
        "min_gap_shifts": link.min_gap_shifts,
        "max_gap_shifts": link.max_gap_shifts,
    }


def _id(row: Proposal) -> int:
    assert row.id is not None, "flushed rows have ids"
    return row.id
