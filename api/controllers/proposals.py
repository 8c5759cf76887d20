"""Proposals: the proposer's edits, the coordinators' feasibility, bonus facts and reviewer assignments, the reviews."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from advanced_alchemy.service import OffsetPagination
from litestar import Controller, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody
from pydantic import BaseModel

from api.concurrency import ETAG, tagged
from api.controllers import SignedIn, permits
from api.limits import PROPOSAL_BODY
from api.params import CurrentUser, ExpectedVersions, Id, OptionalId, Page, Session
from scheduler.access import Operation
from scheduler.proposals import reviews
from scheduler.proposals import service as proposals
from scheduler.proposals.schemas import (
    Admissibility,
    AssignmentIn,
    AssignmentPublic,
    BonusFacts,
    Feasibility,
    ProposalContent,
    ProposalPublic,
    ProposalSummary,
    ReviewIn,
    ReviewPublic,
    ReviewVoid,
)

Judge = Callable[..., Awaitable[ProposalPublic]]
"""A coordinator's judgement of a proposal: (session, actor, proposal id, body, *, expected versions)."""
Judgement = BaseModel


def judgement(
    aspect: str, body: type[BaseModel], judge: Judge, summary: str, *, description: str | None = None
) -> HTTPRouteHandler:
    """PUT `/{proposal_id}/{aspect}`: what `judge` records from `body`, refused before the body is read to whom the
    policy never lets judge proposals. The route takes `judge`'s name, which makes its operation's id."""

    async def judge_proposal(
        self: Controller,
        proposal_id: Id,
        data: JSONBody[Judgement],
        db_session: Session,
        current_user: CurrentUser,
        expected: ExpectedVersions,
    ) -> Response[ProposalPublic]:
        return tagged(await judge(db_session, current_user, proposal_id, data, expected=expected))

    judge_proposal.__name__ = judge.__name__
    return put(
        f"/{{proposal_id:int}}/{aspect}",
        summary=summary,
        description=description,
        guards=[permits(Operation.JUDGE_PROPOSAL)],
        response_headers=[ETAG],
        signature_namespace={"Judgement": body},
    )(judge_proposal)


class ProposalController(SignedIn):
    path = "/proposals"
    tags = ("proposals",)

    @get(
        summary="The proposals you may see",
        description="Proposers: their own; reviewers: those assigned to them; coordinators: those of their "
        "rounds; admins: all.",
    )
    async def list_proposals(
        self,
        db_session: Session,
        current_user: CurrentUser,
        page: Page,
        round_id: OptionalId = None,
    ) -> OffsetPagination[ProposalSummary]:
        return await proposals.list_proposals(db_session, current_user, page, round_id=round_id)

    @get("/{proposal_id:int}", summary="One proposal with its team, requests and links", response_headers=[ETAG])
    async def get_proposal(
        self, proposal_id: Id, db_session: Session, current_user: CurrentUser
    ) -> Response[ProposalPublic]:
        return tagged(await proposals.get_proposal(db_session, current_user, proposal_id))

    @put(
        "/{proposal_id:int}",
        summary="Rewrite your proposal while the call is open",
        guards=[permits(Operation.CHANGE_PROPOSAL)],
        request_max_body_size=PROPOSAL_BODY,
        response_headers=[ETAG],
    )
    async def replace(
        self,
        proposal_id: Id,
        data: JSONBody[ProposalContent],
        db_session: Session,
        current_user: CurrentUser,
        state: State,
        expected: ExpectedVersions,
    ) -> Response[ProposalPublic]:
        replaced = await proposals.replace_proposal(
            db_session, current_user, proposal_id, data, state.settings, expected=expected
        )
        return tagged(replaced)

    @post("/{proposal_id:int}/withdraw", status_code=200, summary="Withdraw your proposal", response_headers=[ETAG])
    async def withdraw(
        self, proposal_id: Id, db_session: Session, current_user: CurrentUser, expected: ExpectedVersions
    ) -> Response[ProposalPublic]:
        return tagged(await proposals.withdraw_proposal(db_session, current_user, proposal_id, expected=expected))

    set_feasibility = judgement(
        "feasibility", Feasibility, proposals.set_feasibility, "Record technical feasibility (the round's coordinators)"
    )
    set_admissibility = judgement(
        "admissibility",
        Admissibility,
        proposals.set_admissibility,
        "Declare a proposal inadmissible, with a reason, or admissible again (coordinators of the "
        "facilities it asks for)",
        description="An inadmissible proposal gets no time in any solve; the proposer sees the reason "
        "(`inadmissible_reason`). Audited.",
    )
    confirm_bonus_facts = judgement(
        "bonus-facts",
        BonusFacts,
        proposals.confirm_bonus_facts,
        "Set and confirm the facts that earn grade bonuses (coordinators of the facilities it asks for)",
        description="`missed_rounds`, `first_time_users` and `early_career_pi` as a proposer declares them are a "
        "claim that earns no bonus; this sets them and marks them confirmed (`bonus_facts_confirmed`).",
    )

    @get("/{proposal_id:int}/reviewers", summary="Reviewers assigned (the round's coordinators)")
    async def list_reviewers(
        self, proposal_id: Id, db_session: Session, current_user: CurrentUser, page: Page
    ) -> OffsetPagination[AssignmentPublic]:
        return await reviews.list_assignments(db_session, current_user, proposal_id, page)

    @post(
        "/{proposal_id:int}/reviewers",
        summary="Assign a reviewer (the round's coordinators)",
        guards=[permits(Operation.JUDGE_PROPOSAL)],
    )
    async def assign_reviewer(
        self, proposal_id: Id, data: JSONBody[AssignmentIn], db_session: Session, current_user: CurrentUser
    ) -> AssignmentPublic:
        return await reviews.assign_reviewer(db_session, current_user, proposal_id, data)

    @delete(
        "/{proposal_id:int}/reviewers/{user_id:int}",
        summary="Unassign a reviewer (the round's coordinators)",
        description="Their review, if they gave one, is voided: it no longer counts (reason `reviewer unassigned`).",
    )
    async def unassign_reviewer(
        self, proposal_id: Id, user_id: Id, db_session: Session, current_user: CurrentUser
    ) -> None:
        await reviews.unassign_reviewer(db_session, current_user, proposal_id, user_id)

    @get(
        "/{proposal_id:int}/reviews",
        summary="Reviews: all of them for coordinators, your own for a reviewer",
    )
    async def list_reviews(
        self, proposal_id: Id, db_session: Session, current_user: CurrentUser, page: Page
    ) -> OffsetPagination[ReviewPublic]:
        return await reviews.list_reviews(db_session, current_user, proposal_id, page)

    @post(
        "/{proposal_id:int}/reviews/{review_id:int}/void",
        status_code=200,
        summary="Void a review, saying why (coordinators of the facilities the proposal asks for)",
        description="The review no longer counts in the ranking or any solve; it is kept with the reason, which "
        "the audit records. Its reviewer cannot replace it.",
        guards=[permits(Operation.JUDGE_PROPOSAL)],
    )
    async def void_review(
        self, proposal_id: Id, review_id: Id, data: JSONBody[ReviewVoid], db_session: Session, current_user: CurrentUser
    ) -> ReviewPublic:
        return await reviews.void_review(db_session, current_user, proposal_id, review_id, data)

    @put(
        "/{proposal_id:int}/review",
        summary="Grade a proposal assigned to you, or declare a conflict (reviewers, in phase review)",
        guards=[permits(Operation.REVIEW_PROPOSAL)],
    )
    async def submit_review(
        self, proposal_id: Id, data: JSONBody[ReviewIn], db_session: Session, current_user: CurrentUser
    ) -> ReviewPublic:
        return await reviews.submit_review(db_session, current_user, proposal_id, data)
