"""The ranking: a round's proposals scored from their reviews as the round file's scoring does it, best first.

Scores are panel results: a coordinator sees the rows of the proposals they may read in confidence
(`READ_CONFIDENTIAL`: those asking for their facilities' instruments), in the order of the whole round."""

from __future__ import annotations

from dataclasses import asdict, replace

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler import access
from scheduler.access import Operation
from scheduler.accounts.schemas import Claims
from scheduler.db.tables import Proposal
from scheduler.proposals.schemas import RankingRow
from scheduler.proposals.service import proposal_facts
from scheduler.roundfile.solving import ranked_with_set_aside
from scheduler.rounds.exporter import export_round
from scheduler.rounds.service import require_round


async def round_ranking(
    session: AsyncSession, actor: Claims, round_id: int, page: LimitOffset
) -> OffsetPagination[RankingRow]:
    """The round's proposals (withdrawn ones left out) scored from their reviews, best first.

    The whole round is scored for any page: a proposal's score depends on every other grade. A proposal
    that breaks the round file's rules is set aside, last, with its reason (`ranked_with_set_aside`);
    one declared inadmissible is not feasible, with the coordinators' reason.
    """
    await require_round(session, actor, Operation.READ_RANKING, round_id)
    proposals = list((await session.execute(select(Proposal).where(col(Proposal.round_id) == round_id))).scalars())
    inadmissible = {p.code: p.inadmissible_reason for p in proposals if p.inadmissible_reason is not None}
    scores = [
        replace(score, excluded_detail=f"inadmissible: {inadmissible[score.proposal]}")
        if score.proposal in inadmissible and score.excluded_reason == "not_feasible"
        else score
        for score in ranked_with_set_aside(await export_round(session, round_id))
    ]
    facts = await proposal_facts(session, proposals)
    shown_to_actor = {
        proposal.code: proposal.id
        for proposal in proposals
        if proposal.id is not None and access.may(actor, Operation.READ_CONFIDENTIAL, facts[proposal.id])
    }
    rows = [score for score in scores if score.proposal in shown_to_actor]
    return OffsetPagination(
        items=[
            RankingRow(**asdict(score), proposal_id=shown_to_actor[score.proposal])
            for score in rows[page.offset : page.offset + page.limit]
        ],
        limit=page.limit,
        offset=page.offset,
        total=len(rows),
    )
