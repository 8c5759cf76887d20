"""Solve runs as a job resource: start one (202 + Location), watch its progress, cancel it, fetch its files.

The solve itself runs in a worker's solver process, never in the request: these
endpoints only read and write the run's row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from advanced_alchemy.service import OffsetPagination
from litestar import Response, delete, get, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation, RequestBody
from litestar.params import JSONBody

from api.controllers import COORDINATORS, LOCATION, SignedIn
from api.params import CurrentUser, Id, Page, Session
from scheduler import jobs
from scheduler.jobs import SolveOptions, SolveRunPublic


class SolveRunResource(SolveRunPublic):
    """A solve run with the addresses of its kept round file (input) and schedule file (output)."""

    url: str
    input_url: str | None
    output_url: str | None


@dataclass
class _OptionalBody(Operation):
    """Litestar documents every request body as required; a solve's options may be left out altogether."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False


def _resource(run: SolveRunPublic) -> SolveRunResource:
    url = f"/solves/{run.id}"
    return SolveRunResource(
        **run.model_dump(),
        url=url,
        input_url=f"{url}/input" if run.has_input else None,
        output_url=f"{url}/output" if run.has_output else None,
    )


class SolveController(SignedIn):
    tags = ("solves",)
    guards = (COORDINATORS,)

    @post(
        "/rounds/{round_id:int}/solves",
        status_code=202,
        summary="Start a solve of the round (its coordinators)",
        description="Queues the solve and answers 202 Accepted at once, with the queued run and its address in "
        "`Location`: follow it to watch the solve's progress and result. Without a body, or for a setting left "
        "out, the solve takes the service's defaults; `time_limit` and `workers` above the service's caps answer "
        "422 naming the field. A round has one solve under way at a time, a user a few.",
        response_description="The solve is queued; `Location` is where to watch it.",
        responses={
            409: ResponseSpec(
                None, description="The round, or the user, has solves under way already (problem details naming them)"
            )
        },
        response_headers=[LOCATION],
        operation_class=_OptionalBody,
    )
    async def start(
        self,
        round_id: Id,
        db_session: Session,
        current_user: CurrentUser,
        state: State,
        data: JSONBody[SolveOptions | None] = None,
    ) -> Response[SolveRunResource]:
        options = data or SolveOptions()
        run = await jobs.start_solve(db_session, current_user, round_id, options, state.settings)
        resource = _resource(run)
        return Response(resource, status_code=202, headers={"Location": resource.url})

    @get("/rounds/{round_id:int}/solves", summary="The round's solves, newest first (its coordinators)")
    async def list_solves(
        self, round_id: Id, db_session: Session, current_user: CurrentUser, page: Page
    ) -> OffsetPagination[SolveRunResource]:
        runs = await jobs.solves_of_round(db_session, current_user, round_id, page)
        return OffsetPagination(
            items=[_resource(run) for run in runs.items], limit=runs.limit, offset=runs.offset, total=runs.total
        )

    @get(
        "/solves/{run_id:int}",
        summary="A solve's state, progress (elapsed, objective, bound) and result",
    )
    async def get_solve(self, run_id: Id, db_session: Session, current_user: CurrentUser) -> SolveRunResource:
        return _resource(await jobs.solve(db_session, current_user, run_id))

    @delete(
        "/solves/{run_id:int}",
        status_code=202,
        summary="Cancel a solve, keeping the best schedule found so far",
        description="A queued solve is cancelled at once. A running one stops within seconds and ends "
        "`cancelled` with its best schedule as output and as a draft version. A solve that has ended already "
        "(done, failed, cancelled, skipped) answers 409 Conflict.",
        response_description="The cancel is under way (the run is `running` with `cancel_requested`) or done.",
        responses={
            409: ResponseSpec(None, description="The solve has ended already (problem details): nothing to cancel")
        },
    )
    async def cancel(self, run_id: Id, db_session: Session, current_user: CurrentUser) -> SolveRunResource:
        return _resource(await jobs.cancel_solve(db_session, current_user, run_id))

    @get("/solves/{run_id:int}/input", summary="The round file the solve solved")
    async def get_input(self, run_id: Id, db_session: Session, current_user: CurrentUser) -> dict[str, Any]:
        return await jobs.solve_input(db_session, current_user, run_id)

    @get("/solves/{run_id:int}/output", summary="The schedule file the solve produced")
    async def get_output(self, run_id: Id, db_session: Session, current_user: CurrentUser) -> dict[str, Any]:
        return await jobs.solve_output(db_session, current_user, run_id)
