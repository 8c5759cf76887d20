"""The proposer's slot status: the API's hottest read, served without a session or transaction."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State

from api.controllers import SignedIn
from api.params import CurrentUser, Id
from scheduler.schedules.slots import ProposalSlots, proposal_slots


class SlotController(SignedIn):
    path = "/proposals"
    tags = ("proposals",)

    @get(
        "/{proposal_id:int}/slots",
        summary="A proposal's slots in its round's published schedule",
        description="Proposers: their own proposals; reviewers: those assigned to them; coordinators: those of "
        "their rounds; admins: all. Times are in the facility's timezone.",
    )
    async def proposal_slots(self, proposal_id: Id, current_user: CurrentUser, state: State) -> ProposalSlots:
        return await proposal_slots(state.engine, current_user, proposal_id)
