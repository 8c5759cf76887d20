"""Fair-return policies of consortia (issue 13): read by everyone signed in, kept by admins and the coordinators of
every facility their rounds use; a round attached to one exports and solves with its history filled in."""

from __future__ import annotations

from litestar import Response, delete, put
from litestar.di import NamedDependency

from api.concurrency import ETAG, tagged
from api.controllers import SignedIn, permits
from api.controllers.items import Kind, changing, collection_routes, item_routes
from api.params import CurrentUser, Id
from scheduler.access import Operation
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

    @put(
        "/{item_id:int}/rounds/{round_id:int}",
        summary="Attach a round: its export and solves take the policy, with history from earlier published rounds",
        guards=[permits(Operation.CHANGE_FAIR_RETURN)],
        response_headers=[ETAG],
        dependencies=changing(service=FairReturnPolicyService),
    )
    async def attach(
        self, item_id: Id, round_id: Id, service: Policies, current_user: CurrentUser
    ) -> Response[FairReturnPolicyPublic]:
        return tagged(await service.attach(current_user, item_id, round_id))

    @delete(
        "/{item_id:int}/rounds/{round_id:int}",
        summary="Detach a round: it exports the fair_return of its own round file again (none if it had none)",
        guards=[permits(Operation.CHANGE_FAIR_RETURN)],
        status_code=200,
        response_headers=[ETAG],
        dependencies=changing(service=FairReturnPolicyService),
    )
    async def detach(
        self, item_id: Id, round_id: Id, service: Policies, current_user: CurrentUser
    ) -> Response[FairReturnPolicyPublic]:
        return tagged(await service.detach(current_user, item_id, round_id))
