"""Nightly repairs: a round's history of nightly runs, and a proposer's log of changes to their slots."""

from __future__ import annotations

from advanced_alchemy.service import OffsetPagination
from litestar import get

from api.controllers import COORDINATORS, SignedIn
from api.controllers.lists import round_list
from api.params import CurrentUser, Page, Session
from scheduler.nightly.history import NightlyRunPublic, nightly_history
from scheduler.schedules.notices import ChangeNoticePublic, my_changes


class NightlyController(SignedIn):
    tags = ("nightly",)

    history = round_list(
        "/rounds/{round_id:int}/nightly",
        "history",
        nightly_history,
        NightlyRunPublic,
        summary="The round's nightly repairs, newest night first (its coordinators)",
        description="One entry per night: `skipped` (nothing changed), `queued` / `running`, `published` "
        "(by itself), `waiting` (a draft for review; `reason` says why), `unchanged`, `failed` or `cancelled`, "
        "with the counts of allocations moved, resized, dropped and added.",
        guards=[COORDINATORS],
    )

    @get(
        "/me/changes",
        summary="What changed for my slots in published schedules, and why, newest first",
        description="One entry per request and publication that moved, resized, dropped or added its slot, with "
        "the slot before and after and the reason (`cancelled`, `new maintenance window on …`, `moved to make "
        "room`, `added from the waiting list`, …). The calendar feed follows the same log.",
    )
    async def my_changes(
        self, db_session: Session, current_user: CurrentUser, page: Page
    ) -> OffsetPagination[ChangeNoticePublic]:
        return await my_changes(db_session, current_user.user_id, page)
