"""What the round page's script does: start, watch and cancel solves, publish a version.

The same scheduler services and access rules as POST /rounds/{id}/solves,
GET and DELETE /solves/{id} and POST /schedules/{id}/publish, signed in by the
dashboard's cookie instead of a bearer token. Errors are the API's problem details.
"""

from __future__ import annotations

from collections.abc import Mapping

from litestar import Controller, delete, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import JSONBody

from api.controllers.schedules import SCHEDULE_ERRORS
from api.params import Id, Session
from api.web.session import Viewer, from_the_page, provide_action_viewer
from scheduler import jobs
from scheduler.jobs import SolveOptions, SolveRunPublic
from scheduler.schedules import service as schedules
from scheduler.schedules.service import Published, PublishRequest


class DashboardActions(Controller):
    path = "/ui"
    include_in_schema = False
    guards = (from_the_page,)
    dependencies: Mapping[str, Provide] = {"viewer": Provide(provide_action_viewer)}
    exception_handlers = SCHEDULE_ERRORS

    @post("/rounds/{round_id:int}/solves", status_code=202, summary="Start a solve of the round")
    async def start_solve(
        self, round_id: Id, data: JSONBody[SolveOptions], db_session: Session, viewer: Viewer, state: State
    ) -> SolveRunPublic:
        return await jobs.start_solve(db_session, viewer, round_id, data, state.settings)

    @get("/solves/{run_id:int}", summary="A solve's state and progress")
    async def solve(self, run_id: Id, db_session: Session, viewer: Viewer) -> SolveRunPublic:
        return await jobs.solve(db_session, viewer, run_id)

    @delete("/solves/{run_id:int}", status_code=202, summary="Cancel a solve, keeping its best schedule")
    async def cancel(self, run_id: Id, db_session: Session, viewer: Viewer) -> SolveRunPublic:
        return await jobs.cancel_solve(db_session, viewer, run_id)

    @post("/schedules/{version_id:int}/publish", status_code=200, summary="Publish a draft")
    async def publish(
        self, version_id: Id, data: JSONBody[PublishRequest], db_session: Session, viewer: Viewer
    ) -> Published:
        await schedules.require_manager(db_session, viewer, version_id)
        return await schedules.publish(
            db_session, version_id, expected_revision=data.expected_revision, user_id=viewer.user_id
        )
