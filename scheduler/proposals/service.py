"""Proposals through a round's life: submitted and rewritten while the call is open, withdrawn until
time is allocated, judged technically feasible by the round's coordinators, who also confirm
the facts a proposer claims for grade bonuses and an `in_house` or `industrial` type (a rewrite
makes the bonus facts a claim again, and a changed type unconfirmed).

A proposal's content passes the round file's request and link rules
(`scheduler.roundfile.checks.check_proposal`) before it is stored, so a stored
round always passes the file's checks. Who may see and change a proposal is the
policy's (`scheduler.access`), from the facts read here with the proposal: its round's
facilities, the facilities of the instruments it asks for, its owner and reviewers.
Panel results (priority) and the owner's account are shown only to those who may read
the proposal in confidence. Every change writes an audit entry in the caller's transaction.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from sqlalchemy import (
    Select,
    Text,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from scheduler import access
from scheduler.access import Facts, Operation, visible_to
from scheduler.accounts.schemas import Claims
from scheduler.db import tables
from scheduler.db.repository import Expected, TableService, after_last, entry, record, require_version
from scheduler.errors import Conflict, NotFound
from scheduler.proposals.children import Children, delete_children, read_children, write_children
from scheduler.proposals.offer import Offer, held_round, round_with_offer
from scheduler.proposals.row import change_proposal, stored_proposal
from scheduler.proposals.schemas import (
    Admissibility,
    BonusFacts,
    Feasibility,
    ProposalContent,
    ProposalPublic,
    ProposalSummary,
)
from scheduler.roundfile.checks import InputError, InputProblem, RoundContext, check_proposal
from scheduler.roundfile.contract import RoundInfo
from scheduler.roundfile.grid import Grid
from scheduler.rounds.deadlines import require_before
from scheduler.rounds.integrity import checked_alone
from scheduler.settings import Settings

EDITABLE_PHASE = "open"
WITHDRAWABLE_PHASES = ("open", "review", "allocation")


class ProposalService(TableService[tables.Proposal]):
    noun = "proposal"


async def list_proposals(
    session: AsyncSession, actor: Claims, page: LimitOffset, *, round_id: int | None = None
) -> OffsetPagination[ProposalSummary]:
    """The proposals the caller may see: their own, those assigned to them, those of their rounds, or all."""
    query: Select[Any] = (
        select(tables.Proposal)
        .where(visible_to(actor.role, actor.user_id))
        .order_by(col(tables.Proposal.round_id), col(tables.Proposal.position), col(tables.Proposal.id))
    )
    if round_id is not None:
        query = query.where(col(tables.Proposal.round_id) == round_id)
    rows, total = await ProposalService(session=session).get_many_and_count(page, statement=query)
    facts = await proposal_facts(session, rows)
    items = [
        ProposalSummary.model_validate(row).model_copy(
            update={
                "owner_id": _owner_shown(actor, row, facts[_id(row)]),
                "technically_feasible": _verdict_shown(actor, row, facts[_id(row)]),
            }
        )
        for row in rows
    ]
    return OffsetPagination(items=items, limit=page.limit, offset=page.offset, total=total)


async def get_proposal(session: AsyncSession, actor: Claims, proposal_id: int) -> ProposalPublic:
    proposal, facts = await require_proposal(session, actor, Operation.READ_PROPOSAL, proposal_id)
    return await _public(session, actor, proposal, facts)


async def require_proposal(
    session: AsyncSession, actor: Claims, operation: Operation, proposal_id: int
) -> tuple[tables.Proposal, Facts]:
    """The proposal and its facts, when the policy lets the actor do `operation` on it; else NotFound or Forbidden."""
    proposal = await session.get(tables.Proposal, proposal_id)
    if proposal is None:
        raise NotFound(f"no proposal {proposal_id}")
    facts = (await proposal_facts(session, [proposal]))[proposal_id]
    access.require(actor, operation, facts, f"proposal {proposal_id}")
    return proposal, facts


class ProposalKeys(Protocol):
    """What `proposal_facts` reads of a proposal: a table row, or a row of just these columns (a round's page reads
    thousands, where ORM objects would cost twice the CPU)."""

    @property
    def id(self) -> int | None: ...
    @property
    def round_id(self) -> int: ...
    @property
    def owner_id(self) -> int | None: ...


async def proposal_facts(session: AsyncSession, proposals: Sequence[ProposalKeys]) -> dict[int, Facts]:
    """By proposal id: its round's facilities, the facilities of the instruments it asks for, owner, reviewers."""
    ids = [_id(proposal) for proposal in proposals]
    rounds = {proposal.round_id for proposal in proposals}
    round_facilities: dict[int, set[int]] = {round_id: set() for round_id in rounds}
    for round_id, facility_id in await session.execute(
        select(col(tables.RoundFacility.round_id), col(tables.RoundFacility.facility_id)).where(
            col(tables.RoundFacility.round_id).in_(rounds)
        )
    ):
        round_facilities[round_id].add(facility_id)
    asked: dict[int, set[str]] = {proposal_id: set() for proposal_id in ids}
    for proposal_id, instruments in await session.execute(
        select(col(tables.Request.proposal_id), col(tables.Request.instruments)).where(
            col(tables.Request.proposal_id).in_(ids)
        )
    ):
        asked[proposal_id].update(instruments)
    codes = set().union(*asked.values())
    rows = await session.execute(
        select(col(tables.Instrument.code), col(tables.Instrument.facility_id)).where(
            col(tables.Instrument.code).in_(codes)
        )
    )
    facility_of = dict(rows.all())
    reviewers: dict[int, set[int]] = {proposal_id: set() for proposal_id in ids}
    for proposal_id, user_id in await session.execute(
        select(col(tables.ReviewAssignment.proposal_id), col(tables.ReviewAssignment.user_id)).where(
            col(tables.ReviewAssignment.proposal_id).in_(ids)
        )
    ):
        reviewers[proposal_id].add(user_id)
    return {
        _id(proposal): Facts(
            facilities=frozenset(round_facilities[proposal.round_id]),
            asks_for=frozenset(facility_of[code] for code in asked[_id(proposal)] if code in facility_of),
            owner_id=proposal.owner_id,
            reviewers=frozenset(reviewers[_id(proposal)]),
        )
        for proposal in proposals
    }


def _owner_shown(actor: Claims, proposal: tables.Proposal, facts: Facts) -> int | None:
    """The owner's account, to the owner and to those who read the proposal in confidence."""
    if proposal.owner_id == actor.user_id or access.may(actor, Operation.READ_CONFIDENTIAL, facts):
        return proposal.owner_id
    return None


def _verdict_shown(actor: Claims, proposal: tables.Proposal, facts: Facts) -> bool | None:
    """The feasibility verdict, to the owner and to its judges: a reviewer grades the science unswayed by it."""
    if proposal.owner_id == actor.user_id or access.may(actor, Operation.READ_CONFIDENTIAL, facts):
        return proposal.technically_feasible
    return None


async def submit_proposal(
    session: AsyncSession, actor: Claims, round_id: int, data: ProposalContent, settings: Settings
) -> ProposalPublic:
    """Checked against the round as committed before it is written, and again once the write holds the round
    (`held_round`), on the round as it is when the proposal commits."""
    access.require(actor, Operation.SUBMIT_PROPOSAL, Facts(), "proposals")
    round_, offer = await round_with_offer(session, round_id)
    _require_within_limits(data, settings)
    await _require_round_takes(session, round_, offer, data)
    placeholder = f"new-{secrets.token_hex(8)}"
    proposal = await stored_proposal(
        session,
        tables.Proposal(
            round_id=round_id, owner_id=actor.user_id, position=-1, code=placeholder, submitted=True, **_fields(data)
        ),
    )
    # The code is made of the id, which exists only once the row does: short, stable, never taken twice. It is
    # stored with the proposal's position (`_place`), in the statement that places it.
    set_committed_value(proposal, "code", f"P-{proposal.id}")
    submitted = entry(actor.user_id, "proposal.submit", "proposal", _id(proposal), {"code": proposal.code})
    children = await write_children(session, proposal, data, submitted)
    checked_alone(session, round_id)
    round_, offer = await held_round(session, round_id)
    await _require_round_takes(session, round_, offer, data)
    await _place(session, actor, round_, proposal, settings)
    facts = Facts(facilities=offer.facilities, owner_id=actor.user_id)
    return _public_of(actor, proposal, _asking(facts, data, offer.facility_of), children)


async def replace_proposal(
    session: AsyncSession,
    actor: Claims,
    proposal_id: int,
    data: ProposalContent,
    settings: Settings,
    *,
    expected: Expected = None,
) -> ProposalPublic:
    """The whole proposal rewritten, on a version in `expected` (None: the current one), and then checked against
    the round as it is once the write holds it (as `submit_proposal`)."""
    _require_within_limits(data, settings)
    held = await _held(session, actor, Operation.CHANGE_PROPOSAL, proposal_id)
    proposal = held.proposal
    await _require_round_takes(session, held.round, held.offer, data)
    require_version(proposal, expected)
    await delete_children(session, proposal_id)
    # A changed type is a claim again, whatever a coordinator confirmed before.
    confirmed = proposal.type_confirmed and data.type == proposal.type
    await change_proposal(
        session, proposal, _fields(data) | {"type_confirmed": confirmed, "updated_at": datetime.now(UTC)}
    )
    replaced = entry(
        actor.user_id, "proposal.replace", "proposal", proposal_id, data.model_dump(mode="json", by_alias=True)
    )
    children = await write_children(session, proposal, data, replaced)
    checked_alone(session, proposal.round_id)
    round_, offer, facts = await held.settled(session, actor)
    await _require_round_takes(session, round_, offer, data)
    return _public_of(actor, proposal, _asking(facts, data, offer.facility_of), children)


async def withdraw_proposal(
    session: AsyncSession, actor: Claims, proposal_id: int, *, expected: Expected = None
) -> ProposalPublic:
    """Until time is allocated; the proposal is kept but no longer scored or scheduled."""
    held = await _held(session, actor, Operation.CHANGE_PROPOSAL, proposal_id)
    _require_withdrawable(held.round)
    proposal = held.proposal
    require_version(proposal, expected)
    await change_proposal(session, proposal, {"withdrawn": True, "updated_at": datetime.now(UTC)})
    await record(session, actor.user_id, "proposal.withdraw", "proposal", proposal_id, {})
    return await held.answer(session, actor, _require_withdrawable)


def _require_withdrawable(round_: tables.Round) -> None:
    if round_.phase not in WITHDRAWABLE_PHASES:
        raise Conflict(f"the round is in phase {round_.phase!r}: a proposal can no longer be withdrawn")


async def set_feasibility(
    session: AsyncSession, actor: Claims, proposal_id: int, data: Feasibility, *, expected: Expected = None
) -> ProposalPublic:
    held = await _judged(session, actor, proposal_id, expected)
    proposal = held.proposal
    confirmed = proposal.type_confirmed if data.type_confirmed is None else data.type_confirmed
    await change_proposal(
        session, proposal, {"technically_feasible": data.technically_feasible, "type_confirmed": confirmed}
    )
    checked_alone(session, proposal.round_id)
    await record(
        session,
        actor.user_id,
        "proposal.feasibility",
        "proposal",
        proposal_id,
        data.model_dump(mode="json", exclude_none=True) | {"type": proposal.type},
    )
    return await held.answer(session, actor)


async def set_admissibility(
    session: AsyncSession, actor: Claims, proposal_id: int, data: Admissibility, *, expected: Expected = None
) -> ProposalPublic:
    """A judge of the proposal declares it inadmissible, with a reason the proposer sees, or admissible again.

    An inadmissible proposal is exported as not technically feasible, so no solve gives it time.
    """
    held = await _judged(session, actor, proposal_id, expected)
    proposal = held.proposal
    before = proposal.inadmissible_reason
    await change_proposal(session, proposal, {"inadmissible_reason": None if data.admissible else data.reason})
    detail = {"before": before, "after": proposal.inadmissible_reason, "reason": data.reason}
    await record(session, actor.user_id, "proposal.admissibility", "proposal", proposal_id, detail)
    return await held.answer(session, actor)


async def confirm_bonus_facts(
    session: AsyncSession, actor: Claims, proposal_id: int, data: BonusFacts, *, expected: Expected = None
) -> ProposalPublic:
    """A judge of the proposal sets the facts that earn bonuses; only confirmed facts reach the scoring."""
    held = await _judged(session, actor, proposal_id, expected)
    proposal = held.proposal
    before = _bonus_facts(proposal)
    await change_proposal(session, proposal, data.model_dump() | {"bonus_facts_confirmed": True})
    await record(
        session,
        actor.user_id,
        "proposal.bonus_facts",
        "proposal",
        proposal_id,
        {"before": before, "after": _bonus_facts(proposal)},
    )
    return await held.answer(session, actor)


def _bonus_facts(proposal: tables.Proposal) -> dict[str, Any]:
    return {name: getattr(proposal, name) for name in (*BonusFacts.model_fields, "bonus_facts_confirmed")}


async def _judged(session: AsyncSession, actor: Claims, proposal_id: int, expected: Expected) -> _Held:
    """The proposal a judge's decision changes, held for the write at the version the judge saw."""
    held = await _held(session, actor, Operation.JUDGE_PROPOSAL, proposal_id)
    require_version(held.proposal, expected)
    return held


@dataclass(frozen=True)
class _Held:
    """A proposal locked for a write that `operation` allows, with its facts, and its round (not locked) and what
    it offered then."""

    proposal: tables.Proposal
    facts: Facts
    round: tables.Round
    offer: Offer
    operation: Operation

    async def settled(self, session: AsyncSession, actor: Claims) -> tuple[tables.Round, Offer, Facts]:
        """Once the write has made its changes: the round, locked (`held_round`), what it offers and the proposal's
        facts, on which the policy is asked again when the offer moved in between (Forbidden or NotFound)."""
        round_, offer = await held_round(session, self.proposal.round_id)
        if offer.same_as(self.offer):
            return round_, offer, self.facts
        facts = await _facts_with(session, self.proposal, offer)
        access.require(actor, self.operation, facts, f"proposal {_id(self.proposal)}")
        return round_, offer, facts

    async def answer(
        self, session: AsyncSession, actor: Claims, require: Callable[[tables.Round], None] | None = None
    ) -> ProposalPublic:
        """The proposal as `actor` sees it once its round holds the write (`settled`), where `require` is asked of
        the round again. The answer is read before the round's row is taken, and again only if the offer moved."""
        public = await _public(session, actor, self.proposal, self.facts)
        round_, _, facts = await self.settled(session, actor)
        if require is not None:
            require(round_)
        return public if facts is self.facts else await _public(session, actor, self.proposal, facts)


async def _held(session: AsyncSession, actor: Claims, operation: Operation, proposal_id: int) -> _Held:
    """The proposal as committed now, locked for the write that checks and changes it, so a concurrent write of it
    waits instead of failing on a moved version; its facts, when the policy lets the actor do `operation` on it
    (else NotFound or Forbidden, before anything is written); and its round, read in the same statement but not
    locked, with what it offers (`round_with_offer`: the round's row is taken at the write's end, `_Held.settled`).
    The facts' instruments and reviewers come in the locking statement and their facilities from the offer, so a
    write reads three statements fewer than `require_proposal` would."""
    held = (await session.execute(_HELD_WITH_ROUND, {"proposal_id": proposal_id})).first()
    if held is None:
        raise NotFound(f"no proposal {proposal_id}")
    proposal = held.Proposal
    round_, offer = await round_with_offer(session, proposal.round_id)
    facts = await _facts_from(session, proposal, offer, held.asked, held.reviewers)
    access.require(actor, operation, facts, f"proposal {proposal_id}")
    return _Held(proposal, facts, round_, offer, operation)


_COMMA: Any = literal_column("','")
"""The separator of `_ASKED` and `_REVIEWERS`, as SQL text: given as a string, SQLAlchemy would write it into the
statement at each run."""

_ASKED = (
    select(func.aggregate_strings(cast(col(tables.Request.instruments), Text), _COMMA))
    .where(col(tables.Request.proposal_id) == col(tables.Proposal.id))
    .scalar_subquery()
)
"""A proposal's requests' instrument lists, as their JSON texts joined by commas (`_facts_from` reads them)."""

_REVIEWERS = (
    select(func.aggregate_strings(cast(col(tables.ReviewAssignment.user_id), Text), _COMMA))
    .where(col(tables.ReviewAssignment.proposal_id) == col(tables.Proposal.id))
    .scalar_subquery()
)
"""A proposal's reviewers' ids, joined by commas."""

_HELD_WITH_ROUND = (
    select(tables.Proposal, tables.Round, _ASKED.label("asked"), _REVIEWERS.label("reviewers"))
    .join(tables.Round, col(tables.Round.id) == col(tables.Proposal.round_id))
    .where(col(tables.Proposal.id) == bindparam("proposal_id"))
    .with_for_update(of=tables.Proposal)
    .execution_options(populate_existing=True)
)
"""A proposal, locked, what its requests ask for and who reviews it, and its round as committed now, not locked
(`_held`'s)."""

_ASKED_AND_REVIEWERS = select(_ASKED, _REVIEWERS).where(col(tables.Proposal.id) == bindparam("proposal_id"))
"""The same facts read again, when the round's offer moved during the write (`_Held.settled`)."""


async def _facts_with(session: AsyncSession, proposal: tables.Proposal, offer: Offer) -> Facts:
    """`proposal_facts` of one proposal under a round that offers `offer` now."""
    asked, reviewers = (await session.execute(_ASKED_AND_REVIEWERS, {"proposal_id": _id(proposal)})).one()
    return await _facts_from(session, proposal, offer, asked, reviewers)


async def _facts_from(
    session: AsyncSession, proposal: tables.Proposal, offer: Offer, asked_lists: str | None, reviewer_ids: str | None
) -> Facts:
    """`proposal_facts` of one proposal from `_ASKED` and `_REVIEWERS`: its round's facilities and its instruments'
    facilities read from the offer (an instrument the round no longer offers is looked up)."""
    asked: set[str] = set().union(*json.loads(f"[{asked_lists or ''}]"))
    facility_of = offer.facility_of
    if not asked <= facility_of.keys():
        looked_up = await session.execute(
            select(col(tables.Instrument.code), col(tables.Instrument.facility_id)).where(
                col(tables.Instrument.code).in_(asked)
            )
        )
        facility_of = dict(looked_up.all())
    return Facts(
        facilities=offer.facilities,
        asks_for=frozenset(facility_of[code] for code in asked if code in facility_of),
        owner_id=proposal.owner_id,
        reviewers=frozenset(int(user_id) for user_id in reviewer_ids.split(",")) if reviewer_ids else frozenset(),
    )


async def _require_round_takes(
    session: AsyncSession, round_: tables.Round, offer: Offer, data: ProposalContent
) -> None:
    """The round takes the proposal `data`: its call is open (`_require_open_call`) and the content fits what it
    offers (`_check_against_round`). Asked before a write, so that nothing is written for a refusal, and again once
    the write holds the round, as another write may have changed it in between."""
    await _require_open_call(session, round_)
    _check_against_round(round_, offer, data)


async def _require_open_call(session: AsyncSession, round_: tables.Round) -> None:
    """The round is in phase 'open' and its `call_closes` has not passed."""
    if round_.phase != EDITABLE_PHASE:
        raise Conflict(
            f"the call of round {round_.code} is closed (phase {round_.phase!r}): "
            "proposals are submitted and changed only while it is 'open'"
        )
    await require_before(session, round_, "call")


def _require_within_limits(data: ProposalContent, settings: Settings) -> None:
    """The service's bounds on one proposal (`Settings.proposal_max_*`), each problem naming its field and limit."""
    counts = (
        ("$.requests", "requests", len(data.requests), settings.proposal_max_requests),
        ("$.links", "links", len(data.links), settings.proposal_max_links),
        ("$.team", "team members", len(data.team), settings.proposal_max_team),
    )
    problems = [
        InputProblem(path, f"at most {limit} {noun} per proposal, got {count}")
        for path, noun, count, limit in counts
        if count > limit
    ]
    if problems:
        raise InputError(problems)


_OTHERS = aliased(tables.Proposal)
_PLACED = (
    update(tables.Proposal)
    .where(col(tables.Proposal.id) == bindparam("placed"))
    .values(
        position=after_last(col(_OTHERS.position), col(_OTHERS.round_id) == bindparam("in_round")).scalar_subquery(),
        code=bindparam("code"),
    )
    .returning(
        col(tables.Proposal.position),
        select(func.count())
        .where(
            col(_OTHERS.round_id) == bindparam("in_round"),
            col(_OTHERS.owner_id) == bindparam("owner"),
            col(_OTHERS.withdrawn).is_(False),
            col(_OTHERS.id) != bindparam("placed"),
        )
        .scalar_subquery(),
    )
)
"""A new proposal's code, and its position after the round's last one, set without moving its version (it is not an
edit of the proposal); and the other proposals of its account in the round not withdrawn."""


async def _place(
    session: AsyncSession, actor: Claims, round_: tables.Round, proposal: tables.Proposal, settings: Settings
) -> None:
    """A new proposal put after the round's last one, for an account with room for it: one has at most
    `settings.open_proposals_per_account` proposals not withdrawn in a round. Both are read in the statement that
    places it, under the round's lock (`held_round`), so two submissions at once can neither take the last place
    nor one position; the write is undone when the account had no room. Its code (`submit_proposal`'s) is stored
    with its position."""
    limit = settings.open_proposals_per_account
    parameters = {"in_round": round_.id, "owner": actor.user_id, "placed": _id(proposal), "code": proposal.code}
    connection = await session.connection()
    position, open_ = (await connection.execute(_PLACED, parameters)).one()
    if open_ >= limit:
        raise Conflict(
            f"you have {open_} open proposals in round {round_.code}, the most one account may "
            f"(open_proposals_per_account {limit}): withdraw one to submit another"
        )
    set_committed_value(proposal, "position", position)


def _check_against_round(round_: tables.Round, offer: Offer, data: ProposalContent) -> None:
    """What the schema cannot know: the round's shifts, instruments and equipment, and the labels links name."""
    grid = Grid(
        RoundInfo(id=round_.code, name=round_.name, start=round_.start, end=round_.end, shift_hours=round_.shift_hours)
    )
    context = RoundContext(shifts=grid.count, instruments=set(offer.facility_of), equipment=set(offer.equipment))
    problems = check_proposal(data.requests, data.links, context)
    if problems:
        raise InputError(problems)


def _asking(facts: Facts, data: ProposalContent, facility_of: Mapping[str, int]) -> Facts:
    """The proposal's facts once its content is `data`: the facilities of the instruments it now asks for
    (all the round's, as `_check_against_round` made sure)."""
    asked = {code for request in data.requests for code in request.instruments}
    return replace(facts, asks_for=frozenset(facility_of[code] for code in asked))


def _fields(data: ProposalContent) -> dict[str, Any]:
    return {
        "title": data.title,
        "type": data.type,
        "pi_name": data.pi.name,
        "pi_institution": data.pi.institution,
        "pi_country": data.pi.country,
        "pi_email": data.pi.email,
        "missed_rounds": data.missed_rounds,
        "first_time_users": data.first_time_users,
        "early_career_pi": data.early_career_pi,
        # What a proposer declares is a claim again, whatever a coordinator confirmed before.
        "bonus_facts_confirmed": False,
    }


async def _public(session: AsyncSession, actor: Claims, proposal: tables.Proposal, facts: Facts) -> ProposalPublic:
    """The proposal as the actor may see it (`_public_of`), its team, requests and links read."""
    return _public_of(actor, proposal, facts, await read_children(session, _id(proposal)))


def _public_of(actor: Claims, proposal: tables.Proposal, facts: Facts, children: Children) -> ProposalPublic:
    """The proposal as the actor may see it: priority only in confidence, the owner's account as `_owner_shown`."""
    prefix = f"{proposal.code}-"

    def label(code: str) -> str:
        return code.removeprefix(prefix)

    return ProposalPublic.model_validate(
        {
            **proposal.model_dump(),
            "owner_id": _owner_shown(actor, proposal, facts),
            "priority": proposal.priority if access.may(actor, Operation.READ_CONFIDENTIAL, facts) else None,
            "technically_feasible": _verdict_shown(actor, proposal, facts),
            "pi": {
                "name": proposal.pi_name,
                "institution": proposal.pi_institution,
                "country": proposal.pi_country,
                "email": proposal.pi_email,
            },
            "team": [
                {
                    "name": member["name"],
                    "institution": member["institution"],
                    "country": member["country"],
                    "email": member["email"],
                }
                for member in children.team
            ],
            "requests": [{**request, "label": label(request["code"])} for request in children.requests],
            "links": [_link_public(link, label) for link in children.links],
        }
    )


def _link_public(link: Mapping[str, Any], label: Callable[[str], str]) -> dict[str, Any]:
    if link["type"] == "all_or_nothing":
        return {"type": link["type"], "requests": [label(code) for code in link["requests"] or []]}
    return {
        "type": link["type"],
        "first": label(link["first"] or ""),
        "then": label(link["then"] or ""),
        "min_gap_shifts": link["min_gap_shifts"],
        "max_gap_shifts": link["max_gap_shifts"],
    }


def _id(row: ProposalKeys) -> int:
    assert row.id is not None, "stored rows have ids"
    return row.id
