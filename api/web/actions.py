"""What the round page's script does: start, watch and cancel solves, publish a version, sign off a draft,
move or swap requests by hand (judged live while dragging) and pin or unpin an allocation.

These are the API's own endpoints (POST /rounds/{id}/solves, GET and DELETE
/solves/{id}, POST /schedules/{id}/publish, /sign-off, /edits and /edits/check, GET /schedules/{from}/diff/{to} and
/schedules/{id}/export (the version's allocations as a file),
POST and DELETE /schedules/{id}/allocations/{request}/pin), mounted again under /ui and signed
in by the dashboard's cookie instead of a bearer token: one handler, one access
rule and one answer for both. Errors are the API's problem details; a refusal's detail is in the page's
language where its form is known (`api.web.explanations`), as the script shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, Response
from litestar.di import Provide
from litestar.types import ExceptionHandlersMap

from api.controllers.schedules import SCHEDULE_ERRORS, ScheduleController
from api.controllers.solves import SolveController
from api.i18n import locale_of
from api.problems import domain_problem
from api.web.explanations import localized
from api.web.session import provide_action_viewer
from scheduler.errors import DomainError


def _refused(request: Request[Any, Any, Any], error: DomainError) -> Response[dict[str, Any]]:
    """The API's problem, its detail in the page's language where its form is known: the round page's script
    shows it to the user."""
    answer = domain_problem(error)
    answer.detail = localized(str(error), locale_of(request))
    return answer.to_response(request)


ACTION_ERRORS: ExceptionHandlersMap = {**SCHEDULE_ERRORS, DomainError: _refused}


class DashboardActions(Controller):
    path = "/ui"
    include_in_schema = False
    dependencies: Mapping[str, Provide] = {"current_user": Provide(provide_action_viewer)}
    exception_handlers = ACTION_ERRORS

    start_solve = SolveController.start
    solve = SolveController.get_solve
    cancel_solve = SolveController.cancel
    publish = ScheduleController.publish
    sign_off = ScheduleController.sign_off
    edit = ScheduleController.edit
    check_edit = ScheduleController.check_edit
    pin = ScheduleController.pin
    unpin = ScheduleController.unpin
    diff = ScheduleController.diff
    export = ScheduleController.export
