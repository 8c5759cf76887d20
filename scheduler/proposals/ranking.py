"""The ranking: a round's proposals scored from their reviews as the round file's scoring does it, best first."""

from __future__ import annotations

from dataclasses import asdict

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.access import Operation
from scheduler.accounts.schemas import Claims
from scheduler.db.tables import Proposal
from scheduler.proposals.schemas import RankingRow
from scheduler.roundfile.scoring import score_round
from scheduler.rounds.exporter import export_round
from scheduler.rounds.service import require_round


async def round_ranking(
    session: AsyncSession, actor: Claims, round_id: int, page: LimitOffset
) -> OffsetPagination[RankingRow]:
    """The round's proposals (withdrawn ones left out) scored from their reviews, best first.

    The whole round is scored for any page: a proposal's score depends on every other grade.
    """
    await require_round(session, actor, Operation.READ_RANKING, round_id)
    scores = score_round(await export_round(session, round_id))
    codes = await session.execute(
        select(col(Proposal.code), col(Proposal.id)).where(col(Proposal.round_id) == round_id)
    )
    ids = {code: proposal_id for code, proposal_id in codes if proposal_id is not None}
    shown = scores[page.offset : page.offset + page.limit]
    return OffsetPagination(
        items=[RankingRow(**asdict(score), proposal_id=ids[score.proposal]) for score in shown],
        limit=page.limit,
        offset=page.offset,
        total=len(scores),
    )
