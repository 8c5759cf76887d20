"""The usage pages: who got a round's time (or every readable round's), as charts with their tables.

The CSV and XLSX links are the API's own report handlers mounted under /ui and signed in
by the dashboard's cookie, as `api.web.actions` mounts the round page's actions: one
handler and one access rule for both. A refusal is a page here, as on the other pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import QueryParameter
from litestar.response import Template

from api.controllers.reports import ReportController
from api.params import Id, Session
from api.web.pages import PAGE_ERRORS, SECURITY_HEADERS, _account
from api.web.session import Viewer, provide_action_viewer, provide_page_viewer
from api.web.views.usage import GROUPING_NAMES, UsagePage, round_usage_page, usage_across_page
from scheduler.accounts.schemas import Me
from scheduler.reports.usage import Grouping
from scheduler.roundfile.quotas import Attribution

By = Annotated[Grouping, QueryParameter()]
AttributionChoice = Annotated[Attribution, QueryParameter()]


class UsagePages(Controller):
    path = "/ui"
    include_in_schema = False
    exception_handlers = PAGE_ERRORS
    response_headers = SECURITY_HEADERS
    dependencies: Mapping[str, Provide] = {
        "viewer": Provide(provide_page_viewer),
        "current_user": Provide(provide_action_viewer),
    }

    @get("/rounds/{round_id:int}/usage", summary="Who got the round's time, as charts and tables")
    async def round_usage(
        self,
        round_id: Id,
        db_session: Session,
        viewer: Viewer,
        by: By = "country",
        attribution: AttributionChoice = "pi",
    ) -> Template:
        account = await _account(db_session, viewer)
        return _page(account, await round_usage_page(db_session, viewer, round_id, by, attribution))

    @get("/usage", summary="Who got the time of every round the viewer reads")
    async def usage_across(
        self, db_session: Session, viewer: Viewer, by: By = "country", attribution: AttributionChoice = "pi"
    ) -> Template:
        account = await _account(db_session, viewer)
        return _page(account, await usage_across_page(db_session, viewer, by, attribution))

    round_report = ReportController.round_report
    across_rounds = ReportController.across_rounds


def _page(account: Me, page: UsagePage) -> Template:
    return Template(template_name="usage.html", context={"viewer": account, "page": page, "groupings": GROUPING_NAMES})
