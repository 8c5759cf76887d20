"""The proposer's page: their own proposals with status and slots, the calendar feed and the change log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from advanced_alchemy.filters import LimitOffset
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.schedules.calendar import ProposalStatus, calendar_path, my_proposals
from scheduler.schedules.notices import ChangeNoticePublic, my_changes

CHANGE_LOG_LENGTH = 50


@dataclass(frozen=True)
class ProposerPage:
    proposals: list[ProposalStatus]
    calendar_url: str
    changes: Sequence[ChangeNoticePublic]
    """The change log, newest first."""


async def proposer_page(session: AsyncSession, user_id: int, public_url: str) -> ProposerPage:
    """The user's own proposals and slots only: nothing of other teams is read."""
    return ProposerPage(
        proposals=await my_proposals(session, user_id),
        calendar_url=public_url.rstrip("/") + await calendar_path(session, user_id),
        changes=(await my_changes(session, user_id, LimitOffset(limit=CHANGE_LOG_LENGTH, offset=0))).items,
    )
