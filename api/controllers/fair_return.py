"""Fair-return policies of consortia (issue 13): read by everyone signed in, kept by admins and the coordinators of
every facility their rounds use; a round attached to one exports and solves with its history filled in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar import Controller, HttpMethod, Response, route
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler

from api.concurrency import ETAG, tagged
from api.controllers import SignedIn, permits
from api.controllers.items import Kind, changing, collection_routes, item_routes
from api.params import CurrentUser, Id
from scheduler.access import Operation
from scheduler.accounts.schemas import Claims
from scheduler.rounds.fair_return import (
    FairReturnPolicyCreate,
    FairReturnPolicyPublic,
    FairReturnPolicyService,
    FairReturnPolicyUpdate,
)

Policies = NamedDependency[FairReturnPolicyService]
POLICIES = Kind(
    FairReturnPolicyService,
    FairReturnPolicyPublic,
    FairReturnPolicyCreate,
    FairReturnPolicyUpdate,
    Operation.CHANGE_FAIR_RETURN,
)

Link = Callable[[FairReturnPolicyService, Claims, int, int], Awaitable[FairReturnPolicyPublic]]
"""Attaching or detaching a round: (service, actor, policy id, round id) -> the policy."""


def _round_link(method: HttpMethod, link: Link, summary: str) -> HTTPRouteHandler:
    """`method` on `/{item_id}/rounds/{round_id}`: the policy after `link` (on the version `If-Match` names, with its
    `ETag`), refused before anything is read to whom may never change policies. The route takes `link`'s name,
    which makes its operation's id."""

    async def link_round(
        self: Controller, item_id: Id, round_id: Id, service: Policies, current_user: CurrentUser
    ) -> Response[FairReturnPolicyPublic]:
        return tagged(await link(service, current_user, item_id, round_id))

    link_round.__name__ = link.__name__
    return route(
        "/{item_id:int}/rounds/{round_id:int}",
        http_method=method,
        summary=summary,
        guards=[permits(Operation.CHANGE_FAIR_RETURN)],
        status_code=200,
        response_headers=[ETAG],
        dependencies=changing(service=FairReturnPolicyService),
    )(link_round)


class FairReturnPolicyController(SignedIn):
    path = "/fair-return-policies"
    tags = ("rounds",)

    list_all, create = collection_routes(
        POLICIES, ("List fair-return policies", "Create a consortium's fair-return policy (coordinators)")
    )
    read, update, remove = item_routes(
        POLICIES,
        (
            "One fair-return policy",
            "Change a fair-return policy (coordinators of every facility its rounds use)",
            "Delete a fair-return policy no round refers to",
        ),
    )

    attach = _round_link(
        HttpMethod.PUT,
        FairReturnPolicyService.attach,
        "Attach a round: its export and solves take the policy, with history from earlier published rounds",
    )
    detach = _round_link(
        HttpMethod.DELETE,
        FairReturnPolicyService.detach,
        "Detach a round: it exports the fair_return of its own round file again (none if it had none)",
    )
