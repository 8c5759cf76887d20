"""What the round page's script does: start, watch and cancel solves, publish a version, sign off a draft,
move or swap requests by hand (judged live while dragging) and pin or unpin an allocation.

These are the API's own endpoints (POST /rounds/{id}/solves, GET and DELETE
/solves/{id}, POST /schedules/{id}/publish, /sign-off, /edits and /edits/check, GET /schedules/{from}/diff/{to} and
/schedules/{id}/export (the version's allocations as a file),
POST and DELETE /schedules/{id}/allocations/{request}/pin), mounted again under /ui and signed
in by the dashboard's cookie instead of a bearer token: one handler, one access
rule and one answer for both. Errors are the API's problem details, in the page's language as every problem is
(`api.problems`); what this copy adds is the language of two answers that are data to the API: each rule a drag's
verdict says a move would break, and a solve's error (`api.explanations`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import JSONBody

from api.controllers.schedules import ScheduleController
from api.controllers.solves import SolveController, SolveRunResource
from api.explanations import localized
from api.i18n import locale_of
from api.params import CurrentUser, Id, Session
from api.web.session import provide_action_viewer
from scheduler.schedules.service import MoveCheck, Moves


class DashboardActions(Controller):
    path = "/ui"
    include_in_schema = False
    dependencies: Mapping[str, Provide] = {"current_user": Provide(provide_action_viewer)}

    start_solve = SolveController.start
    cancel_solve = SolveController.cancel
    publish = ScheduleController.publish
    sign_off = ScheduleController.sign_off
    edit = ScheduleController.edit
    pin = ScheduleController.pin
    unpin = ScheduleController.unpin
    diff = ScheduleController.diff
    export = ScheduleController.export

    @get(sorted(SolveController.get_solve.paths), summary=SolveController.get_solve.summary)
    async def solve(
        self, request: Request[Any, Any, Any], run_id: Id, db_session: Session, current_user: CurrentUser
    ) -> SolveRunResource:
        """The API's answer, the run's error in the page's language."""
        run: SolveRunResource = await SolveController.get_solve.fn(self, run_id, db_session, current_user)
        if run.error is None:
            return run
        return run.model_copy(update={"error": localized(run.error, locale_of(request))})

    @post(
        sorted(ScheduleController.check_edit.paths),
        status_code=ScheduleController.check_edit.status_code,
        guards=ScheduleController.check_edit.guards,
        summary=ScheduleController.check_edit.summary,
    )
    async def check_edit(
        self,
        request: Request[Any, Any, Any],
        version_id: Id,
        data: JSONBody[Moves],
        db_session: Session,
        current_user: CurrentUser,
    ) -> MoveCheck:
        """The API's verdict, each broken rule in the page's language: the drag's verdict shows them."""
        verdict: MoveCheck = await ScheduleController.check_edit.fn(self, version_id, data, db_session, current_user)
        locale = locale_of(request)
        errors = [error.model_copy(update={"message": localized(error.message, locale)}) for error in verdict.errors]
        return verdict.model_copy(update={"errors": errors})
