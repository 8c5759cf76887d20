"""Rounds, their quotas, round files in and out, proposal submission and the ranking."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter

from api.concurrency import ETAG, tagged
from api.controllers import LOCATION, SignedIn, permits
from api.controllers.items import Kind, changing, child_routes, collection_routes, item_routes, services
from api.controllers.lists import round_list
from api.database import OUTSIDE_WRITE_TURNS
from api.limits import PROPOSAL_BODY, ROUND_FILE_BODY
from api.params import Creation, CurrentUser, Id
from scheduler.access import Operation
from scheduler.proposals import service as proposals
from scheduler.proposals.ranking import round_ranking
from scheduler.proposals.schemas import ProposalContent, ProposalPublic, RankingRow
from scheduler.roundfile.contract import RoundFile
from scheduler.rounds.schemas import (
    PhaseChange,
    QuotaCreate,
    QuotaPublic,
    RoundCreate,
    RoundImported,
    RoundPublic,
    RoundUpdate,
)
from scheduler.rounds.service import QuotaService, RoundService

Rounds = NamedDependency[RoundService]


ROUNDS = Kind(RoundService, RoundPublic, RoundCreate, RoundUpdate, Operation.CHANGE_ROUND)
QUOTAS = Kind(QuotaService, QuotaPublic, QuotaCreate, QuotaCreate, Operation.CHANGE_ROUND)
"""A quota is replaced whole: its change is its create."""
TAKES_ROUND_FILE: dict[str, Any] = {
    "guards": [permits(Operation.CHANGE_ROUND)],
    "request_max_body_size": ROUND_FILE_BODY,
    "opt": {OUTSIDE_WRITE_TURNS: True},
}
"""A route whose body is a round file: refused before the body is read to whom may never change rounds; size-limited;
a write of seconds, so on PostgreSQL it does not take one of the short writes' turns."""


class RoundController(SignedIn):
    path = "/rounds"
    tags = ("rounds",)
    dependencies = services(service=RoundService)

    list_all, create = collection_routes(ROUNDS, ("List rounds", "Create a round of your facilities (coordinators)"))
    list_quotas, create_quota = child_routes(
        "quotas", QUOTAS, ("The round's quotas", "Add a quota (the round's coordinators)")
    )
    read, update, remove = item_routes(
        ROUNDS,
        (
            "One round",
            "Change a round (its coordinators)",
            "Delete a round without proposals or solves (its coordinators)",
        ),
    )

    @put(
        "/{round_id:int}/phase",
        summary="Move the round one phase forward or back (its coordinators)",
        description="open → review → allocation → published → running → closed. Proposals are written while "
        "the round is open and reviewed while it is in review.",
        guards=[permits(Operation.CHANGE_ROUND)],
        response_headers=[ETAG],
        dependencies=changing(service=RoundService),
    )
    async def change_phase(
        self, round_id: Id, data: JSONBody[PhaseChange], service: Rounds, current_user: CurrentUser
    ) -> Response[RoundPublic]:
        return tagged(await service.change_phase(current_user, round_id, data.phase))

    @post(
        "/import",
        summary="Create a round from a round file (coordinators of every facility in it)",
        description="The answer says what the file's catalogue part changed in the catalogue rounds share "
        "(`catalogue_merge`: facilities, instruments, equipment and windows added, changed or kept, windows removed, "
        "the other rounds reached and their published allocations a new window blocks), as the audit keeps it.",
        **TAKES_ROUND_FILE,
        response_headers=[LOCATION, ETAG],
    )
    async def import_round(
        self, data: JSONBody[RoundFile], service: Rounds, creation: Creation
    ) -> Response[RoundImported]:
        return await creation.answer(lambda: service.import_new_round(creation.actor, data), "/rounds")

    @put(
        "/{round_id:int}/import",
        summary="Replace the round's content with a round file, all or nothing (its coordinators)",
        description="A round whose schedule is published answers 409 naming the version, unless an admin sends "
        "`force=true`: the published version is then kept as superseded, with every other version and the "
        "change notices, and each slot the file moves or drops reaches its proposers' calendars as a change.",
        **TAKES_ROUND_FILE,
        response_headers=[ETAG],
        dependencies=changing(service=RoundService),
    )
    async def replace_from_file(
        self,
        round_id: Id,
        data: JSONBody[RoundFile],
        force: Annotated[
            bool, QueryParameter(description="Replace even a round whose schedule is published (admins).")
        ] = False,
        *,
        service: Rounds,
        current_user: CurrentUser,
    ) -> Response[RoundPublic]:
        return tagged(await service.import_round_file(current_user, data, into=round_id, force=force))

    @get(
        "/{round_id:int}/export",
        summary="The round as a round file (its coordinators)",
        description="Reviews and priorities are given only for the proposals that ask for instruments of the "
        "caller's facilities (all of them for admins); the other proposals come without them.",
    )
    async def export(self, round_id: Id, service: Rounds, current_user: CurrentUser) -> RoundFile:
        return await service.export_round_file(current_user, round_id)

    ranking = round_list(
        "/{round_id:int}/ranking",
        "ranking",
        round_ranking,
        RankingRow,
        summary="Proposals scored from their reviews, best first (the round's coordinators)",
    )

    @post(
        "/{round_id:int}/proposals",
        summary="Submit a proposal while the call is open (proposers)",
        guards=[permits(Operation.SUBMIT_PROPOSAL)],
        request_max_body_size=PROPOSAL_BODY,
        response_headers=[LOCATION, ETAG],
    )
    async def submit_proposal(
        self, round_id: Id, data: JSONBody[ProposalContent], state: State, creation: Creation
    ) -> Response[ProposalPublic]:
        async def submit() -> ProposalPublic:
            return await proposals.submit_proposal(creation.session, creation.actor, round_id, data, state.settings)

        return await creation.answer(submit, "/proposals")


class QuotaController(SignedIn):
    path = "/quotas"
    tags = ("rounds",)

    read, replace, remove = item_routes(
        QUOTAS,
        ("One quota", "Replace a quota (the round's coordinators)", "Delete a quota (the round's coordinators)"),
        replace=True,
    )
