"""Fair return across rounds from the database: a consortium's policy, configured once, and the history of its
rounds, filled in from their published schedules so that no coordinator types it.

A policy is the round file's `fair_return` without history (targets, attribution, price). A round
attached to one exports (and so solves with) the policy plus one history entry per target for every
earlier round (by start) under the same policy that has a published schedule: what that version
delivered (`scheduler.roundfile.fair_return.delivered`, on the earlier round as exported now, so
countries count as confirmed; allocations of proposals withdrawn since are left out).

An imported round file's `fair_return` is the coordinators' word and is kept as the file says
(`Round.fair_return`): a round with no policy exports it unchanged. Once a policy is attached, the
policy's targets, attribution and price hold; of the file's history, the entries of the policy's
targets for rounds the database has no published schedule of under the policy (rounds from before
the service) are kept beside the computed ones. Detaching the policy exports the file's again.

Who may change a policy or attach a round: `Operation.CHANGE_FAIR_RETURN`; everyone signed in reads
policies. A change counts a change of every attached round's solve input (`touch_rounds`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler import access
from scheduler.access import Facts, Operation
from scheduler.accounts.schemas import Claims
from scheduler.catalogue.schemas import contract_field
from scheduler.db.repository import TableService, locked, row_id
from scheduler.db.tables import FairReturnPolicy, Round, RoundFacility, ScheduleVersion
from scheduler.errors import Conflict, NotFound
from scheduler.fields import Input, Name, Output, Update, Version
from scheduler.roundfile import contract as c
from scheduler.roundfile.fair_return import delivered
from scheduler.roundfile.quotas import Attribution
from scheduler.rounds.revision import touch_rounds
from scheduler.schedules.versions import PUBLISHED, version_schedule

Exporter = Callable[[AsyncSession, int], Awaitable[c.RoundFile]]
"""Reads a round as a round file without its `fair_return` (an earlier round, to read what it delivered)."""


class FairReturnPolicyCreate(Input):
    name: Name
    targets: list[c.FairReturnTarget] = contract_field(c.FairReturn, "targets")
    attribution: Attribution = contract_field(c.FairReturn, "attribution")
    price_per_shift: float | None = contract_field(c.FairReturn, "price_per_shift")


class FairReturnPolicyUpdate(Update):
    nullable = frozenset({"price_per_shift"})

    name: Name | None = None
    targets: list[c.FairReturnTarget] | None = contract_field(c.FairReturn, "targets", default=None)
    attribution: Attribution | None = contract_field(c.FairReturn, "attribution", default=None)
    price_per_shift: float | None = contract_field(c.FairReturn, "price_per_shift")


class FairReturnPolicyPublic(Output):
    id: int
    name: str
    targets: list[c.FairReturnTarget]
    attribution: Attribution
    price_per_shift: float | None
    rounds: list[str]
    """Codes of the rounds attached, oldest first."""
    version: Version


class FairReturnPolicyService(TableService[FairReturnPolicy]):
    noun = "fair-return policy"

    async def read(self, policy_id: int) -> FairReturnPolicyPublic:
        return await self._public(await self.row(policy_id))

    async def list_page(self, page: LimitOffset) -> OffsetPagination[FairReturnPolicyPublic]:
        by_name: Select[Any] = select(FairReturnPolicy).order_by(col(FairReturnPolicy.name))
        rows, total = await self.get_many_and_count(page, statement=by_name)
        items = [await self._public(row) for row in rows]
        return OffsetPagination(items=items, limit=page.limit, offset=page.offset, total=total)

    async def create_item(self, actor: Claims, data: FairReturnPolicyCreate) -> FairReturnPolicyPublic:
        access.require(actor, Operation.CHANGE_FAIR_RETURN, Facts(), "fair-return policies")
        await self._name_is_free(data.name)
        policy = FairReturnPolicy(**data.model_dump(mode="json"))
        return await self._public(await self.add(actor, policy, data.model_dump(mode="json")))

    async def update_item(self, actor: Claims, policy_id: int, data: FairReturnPolicyUpdate) -> FairReturnPolicyPublic:
        policy = await self._changeable(actor, policy_id)
        changes = data.model_dump(mode="json", exclude_unset=True)
        if "name" in changes and changes["name"] != policy.name:
            await self._name_is_free(changes["name"])
        await self.change(actor, policy, changes, changes)
        await touch_rounds(self.repository.session, await self._round_ids(policy_id))
        return await self._public(policy)

    async def delete_item(self, actor: Claims, policy_id: int) -> None:
        """Refused while rounds refer to it: detach them first."""
        policy = await self._changeable(actor, policy_id)
        if await self._round_ids(policy_id):
            raise Conflict(f"rounds refer to fair-return policy {policy.name!r}: detach them first")
        await self.remove(actor, policy, {"name": policy.name})

    async def attach(self, actor: Claims, policy_id: int, round_id: int) -> FairReturnPolicyPublic:
        """The round's export takes its `fair_return` from the policy from now on (a round has one policy at most:
        attaching moves it, with the say of the coordinators of both policies' rounds)."""
        session = self.repository.session
        policy = await self.locked_row(policy_id)
        round_ = await _round(session, round_id)
        facilities = await _facilities_of(session, [*await self._round_ids(policy_id), round_id])
        if round_.fair_return_policy_id is not None and round_.fair_return_policy_id != policy_id:
            facilities |= await _facilities_of(session, await self._round_ids(round_.fair_return_policy_id))
        access.require(actor, Operation.CHANGE_FAIR_RETURN, Facts(facilities=facilities), f"policy {policy.name!r}")
        round_.fair_return_policy_id = policy_id
        await self.change(actor, policy, {}, {"attached": round_.code}, action="attach")
        await touch_rounds(session, [round_id])
        return await self._public(policy)

    async def detach(self, actor: Claims, policy_id: int, round_id: int) -> FairReturnPolicyPublic:
        """The round exports its own file's `fair_return` again (none, unless its file gave one)."""
        session = self.repository.session
        policy = await self._changeable(actor, policy_id)
        round_ = await _round(session, round_id)
        if round_.fair_return_policy_id != policy_id:
            raise NotFound(f"round {round_.code} is not under fair-return policy {policy.name!r}")
        round_.fair_return_policy_id = None
        await self.change(actor, policy, {}, {"detached": round_.code}, action="detach")
        await touch_rounds(session, [round_id])
        return await self._public(policy)

    async def _changeable(self, actor: Claims, policy_id: int) -> FairReturnPolicy:
        policy = await self.locked_row(policy_id)
        facilities = await _facilities_of(self.repository.session, await self._round_ids(policy_id))
        access.require(actor, Operation.CHANGE_FAIR_RETURN, Facts(facilities=facilities), f"policy {policy.name!r}")
        return policy

    async def _name_is_free(self, name: str) -> None:
        if await self.exists(col(FairReturnPolicy.name) == name):
            raise Conflict(f"a fair-return policy is named {name!r} already")

    async def _round_ids(self, policy_id: int) -> list[int]:
        rows = await self.repository.session.execute(_rounds_under(policy_id).with_only_columns(col(Round.id)))
        return [round_id for round_id in rows.scalars() if round_id is not None]

    async def _public(self, policy: FairReturnPolicy) -> FairReturnPolicyPublic:
        rows = await self.repository.session.execute(_rounds_under(row_id(policy)).with_only_columns(col(Round.code)))
        return FairReturnPolicyPublic.model_validate(
            {
                "id": policy.id,
                "name": policy.name,
                "targets": policy.targets,
                "attribution": policy.attribution,
                "price_per_shift": policy.price_per_shift,
                "rounds": list(rows.scalars()),
                "version": policy.version,
            }
        )


async def round_fair_return(session: AsyncSession, round_: Round, export: Exporter) -> dict[str, Any] | None:
    """The round file's `fair_return` of the round: its policy's, with history from the earlier rounds under the
    policy that are published (`export` reads each of them); else as the round's own file gave it."""
    if round_.fair_return_policy_id is None:
        return round_.fair_return
    policy = await session.get_one(FairReturnPolicy, round_.fair_return_policy_id)
    targets = [c.FairReturnTarget.model_validate(target) for target in policy.targets]
    attribution: Attribution = "pi" if policy.attribution == "pi" else "team"
    earlier = await session.execute(
        _rounds_under(row_id(policy))
        .join(ScheduleVersion, col(ScheduleVersion.round_id) == col(Round.id))
        .where(col(ScheduleVersion.status) == PUBLISHED, col(Round.start) < round_.start)
        .with_only_columns(col(Round.id), col(ScheduleVersion.id))
    )
    history: list[c.FairReturnHistory] = []
    for earlier_id, version_id in earlier:
        assert earlier_id is not None and version_id is not None, "stored rows have ids"
        past = await export(session, earlier_id)
        history += delivered(
            past, _of_proposals_in(past, await version_schedule(session, version_id)), targets, attribution
        )
    history += _file_history(round_.fair_return, targets, {entry.round for entry in history})
    fair_return = c.FairReturn(
        targets=targets, history=history, attribution=attribution, price_per_shift=policy.price_per_shift
    )
    return fair_return.model_dump(mode="json", exclude_none=True)


async def later_rounds(session: AsyncSession, round_id: int) -> list[int]:
    """The rounds after this one under its policy: what this round delivers is in their history."""
    round_ = await session.get_one(Round, round_id)
    if round_.fair_return_policy_id is None:
        return []
    later = _rounds_under(round_.fair_return_policy_id).where(col(Round.start) > round_.start)
    return list((await session.execute(later.with_only_columns(col(Round.id)))).scalars())


def _of_proposals_in(round_file: c.RoundFile, schedule: c.ScheduleFile) -> c.ScheduleFile:
    """The schedule's allocations of the proposals the round file has (the export leaves withdrawn ones out)."""
    exported = {proposal.id for proposal in round_file.proposals}
    kept = [allocation for allocation in schedule.allocations if allocation.proposal in exported]
    return schedule.model_copy(update={"allocations": kept})


def _file_history(
    given: dict[str, Any] | None, targets: Sequence[c.FairReturnTarget], computed: set[str]
) -> list[c.FairReturnHistory]:
    """The history the round's own file gave, of the policy's targets, for rounds the database gave none of."""
    if given is None:
        return []
    ids = {target.id for target in targets}
    entries = c.FairReturn.model_validate(given).history
    return [entry for entry in entries if entry.target in ids and entry.round not in computed]


def _rounds_under(policy_id: int) -> Any:
    return select(Round).where(col(Round.fair_return_policy_id) == policy_id).order_by(col(Round.start))


async def _round(session: AsyncSession, round_id: int) -> Round:
    return await locked(session, Round, round_id, "round")


async def _facilities_of(session: AsyncSession, round_ids: Sequence[int]) -> frozenset[int]:
    rows = await session.execute(
        select(col(RoundFacility.facility_id)).where(col(RoundFacility.round_id).in_(list(round_ids)))
    )
    return frozenset(rows.scalars())
