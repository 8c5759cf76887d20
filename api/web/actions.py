"""What the round page's script does: start, watch and cancel solves, publish a version, sign off a draft,
move or swap requests by hand (judged live while dragging) and pin or unpin an allocation.

These are the API's own endpoints (POST /rounds/{id}/solves, GET and DELETE
/solves/{id}, POST /schedules/{id}/publish, /sign-off, /edits and /edits/check, GET /schedules/{from}/diff/{to} and
/schedules/{id}/export (the version's allocations as a file),
POST and DELETE /schedules/{id}/allocations/{request}/pin), mounted again under /ui and signed
in by the dashboard's cookie instead of a bearer token: one handler, one access
rule and one answer for both. Errors are the API's problem details; a refusal's detail, each rule a move
would break (in a refusal and in a drag's verdict) and a solve's error are in the page's language where their
form is known (`api.web.explanations`), as the script shows them. The API itself answers them as the scheduler
writes them: its clients and logs read one wording, and the rule's number and path say the same in any language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import JSONBody
from litestar.types import ExceptionHandlersMap

from api.controllers.schedules import SCHEDULE_ERRORS, ScheduleController
from api.controllers.solves import SolveController, SolveRunResource
from api.i18n import locale_of
from api.params import CurrentUser, Id, Session
from api.problems import domain_problem
from api.web.explanations import localized
from api.web.session import provide_action_viewer
from scheduler.errors import DomainError
from scheduler.schedules.service import MoveCheck, MoveRejectedError, Moves, StaleDraftError


def _refused(request: Request[Any, Any, Any], error: DomainError) -> Response[dict[str, Any]]:
    """The API's problem, its detail in the page's language where its form is known: the round page's script
    shows it to the user."""
    answer = domain_problem(error)
    answer.detail = localized(str(error), locale_of(request))
    return answer.to_response(request)


def _broken_rules(
    request: Request[Any, Any, Any], error: MoveRejectedError | StaleDraftError
) -> Response[dict[str, Any]]:
    """The API's answer listing the broken rules, its detail and each rule's message in the page's language."""
    answer = SCHEDULE_ERRORS[type(error)](request, error)
    locale = locale_of(request)
    answer.content["detail"] = localized(answer.content["detail"], locale)
    for entry in answer.content["errors"]:
        entry["message"] = localized(entry["message"], locale)
    return answer


ACTION_ERRORS: ExceptionHandlersMap = {
    **SCHEDULE_ERRORS,
    MoveRejectedError: _broken_rules,
    StaleDraftError: _broken_rules,
    DomainError: _refused,
}


class DashboardActions(Controller):
    path = "/ui"
    include_in_schema = False
    dependencies: Mapping[str, Provide] = {"current_user": Provide(provide_action_viewer)}
    exception_handlers = ACTION_ERRORS

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
