"""The proposer's page: their own proposals with status and slots, the calendar feed and the change log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from advanced_alchemy.filters import LimitOffset
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.schedules.calendar import ProposalStatus, has_calendar_feed, my_proposals
from scheduler.schedules.notices import ChangeNoticePublic, my_changes

CHANGE_LOG_LENGTH = 50


@dataclass(frozen=True)
class ProposerPage:
    proposals: list[ProposalStatus]
    has_calendar_feed: bool
    """Whether the user made a feed address; it is shown once, when made (POST /me/calendar-url)."""
    new_calendar_url: str | None
    """The address just made, on the page that made it: the one time it is shown."""
    changes: Sequence[ChangeNoticePublic]
    """The change log, newest first."""


async def proposer_page(session: AsyncSession, user_id: int, new_calendar_url: str | None = None) -> ProposerPage:
    """The user's own proposals and slots only: nothing of other teams is read."""
    return ProposerPage(
        proposals=await my_proposals(session, user_id),
        has_calendar_feed=await has_calendar_feed(session, user_id),
        new_calendar_url=new_calendar_url,
        changes=(await my_changes(session, user_id, LimitOffset(limit=CHANGE_LOG_LENGTH, offset=0))).items,
    )
