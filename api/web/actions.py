"""What the round page's script does: start, watch and cancel solves, publish a version, sign off a draft,
move or swap requests by hand (judged live while dragging) and pin or unpin an allocation.

These are the API's own endpoints (POST /rounds/{id}/solves, GET and DELETE
/solves/{id}, POST /schedules/{id}/publish, /sign-off, /edits and /edits/check, GET /schedules/{from}/diff/{to} and
/schedules/{id}/export (the version's allocations as a file),
POST and DELETE /schedules/{id}/allocations/{request}/pin), mounted again under /ui and signed
in by the dashboard's cookie instead of a bearer token: one handler, one access
rule and one answer for both. Errors are the API's problem details.
"""

from __future__ import annotations

from collections.abc import Mapping

from litestar import Controller
from litestar.di import Provide

from api.controllers.schedules import SCHEDULE_ERRORS, ScheduleController
from api.controllers.solves import SolveController
from api.web.session import provide_action_viewer


class DashboardActions(Controller):
    path = "/ui"
    include_in_schema = False
    dependencies: Mapping[str, Provide] = {"current_user": Provide(provide_action_viewer)}
    exception_handlers = SCHEDULE_ERRORS

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
