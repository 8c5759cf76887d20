"""Rounds (with their call phases), their quotas, and round files in and out.

Everyone signed in may read rounds and quotas. A round belongs to all its facilities: its
settings, phase, quotas and content change only with the coordination of every facility it
has and will have (`Operation.CHANGE_ROUND` in `scheduler.access`), except a quota scoped to
one facility's instruments, which is that facility's.
Quotas pass the round file's quota rules (`scheduler.roundfile.quotas`) before they are
stored. Every change writes an audit entry in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from sqlalchemy import BindParameter, Select, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler import access
from scheduler.access import Facts, Operation
from scheduler.accounts.schemas import Claims
from scheduler.catalogue.schemas import require_end_after_start
from scheduler.catalogue.service import code_is_free, existing_ids_by_code, ids_by_code
from scheduler.db import tables
from scheduler.db.repository import TableService, lock_all, next_position, record, require_version, row_id
from scheduler.errors import Conflict
from scheduler.roundfile.checks import InputError, InputProblem
from scheduler.roundfile.contract import Proposal as FileProposal
from scheduler.roundfile.contract import QuotaScope, RoundFile, Scoring
from scheduler.roundfile.quotas import dangling_references
from scheduler.rounds.exporter import export_round
from scheduler.rounds.importer import import_round
from scheduler.rounds.integrity import keeping_valid, require_schedulable_length
from scheduler.rounds.replacement import replace_round
from scheduler.rounds.revision import GRID_FIELDS, require_no_solve_under_way
from scheduler.rounds.schemas import (
    PHASES,
    Phase,
    QuotaCreate,
    QuotaPublic,
    RoundCreate,
    RoundImported,
    RoundPublic,
    RoundUpdate,
)
from scheduler.schedules.confidential import withhold_round

_PHASE_ORDER: tuple[str, ...] = PHASES
_LISTS = ("facilities", "equipment", "country_groups")


class RoundService(TableService[tables.Round]):
    noun = "round"

    async def list_page(self, page: LimitOffset | None = None) -> OffsetPagination[RoundPublic]:
        """Newest first; without `page`, every round (the dashboard's list)."""
        newest_first: Select[Any] = select(tables.Round).order_by(col(tables.Round.start).desc(), col(tables.Round.id))
        filters = [] if page is None else [page]
        rounds, total = await self.get_many_and_count(*filters, statement=newest_first)
        items = [await self._public(round_) for round_ in rounds]
        limit, offset = (total, 0) if page is None else (page.limit, page.offset)
        return OffsetPagination(items=items, limit=limit, offset=offset, total=total)

    async def read(self, round_id: int) -> RoundPublic:
        return await self._public(await self.row(round_id))

    async def create_item(self, actor: Claims, data: RoundCreate) -> RoundPublic:
        """A coordinator creates rounds of their own facilities only; an admin, of any."""
        session = self.repository.session
        facility_ids = await _ids_by_code(session, tables.Facility, data.facilities, "$.facilities")
        access.require(actor, Operation.CHANGE_ROUND, Facts(facilities=frozenset(facility_ids)), "a round of them")
        await code_is_free(session, tables.Round, data.code)
        require_schedulable_length(data.start, data.end, data.shift_hours)
        equipment_ids = await _ids_by_code(session, tables.Equipment, data.equipment, "$.equipment")
        offset = data.start.utcoffset()
        round_ = tables.Round(
            **data.model_dump(exclude={*_LISTS, "scoring"}),
            scoring=_scoring_document(data.scoring),
            utc_offset_minutes=0 if offset is None else int(offset.total_seconds() // 60),
        )
        await self.add(actor, round_, data.model_dump(mode="json"))
        await self._replace_lists(row_id(round_), facility_ids, equipment_ids, data.country_groups)
        return await self._public(round_)

    async def update_item(self, actor: Claims, round_id: int, data: RoundUpdate) -> RoundPublic:
        session = self.repository.session
        round_ = await self.locked_row(round_id)
        facility_ids = await _round_facility_ids(session, round_id)
        wanted = (
            facility_ids
            if data.facilities is None
            else await _ids_by_code(session, tables.Facility, data.facilities, "$.facilities")
        )
        facts = Facts(facilities=frozenset(facility_ids) | frozenset(wanted))
        access.require(actor, Operation.CHANGE_ROUND, facts, f"round {round_.code}")
        changes = data.changes()
        grid_changes = any(name in changes and changes[name] != getattr(round_, name) for name in GRID_FIELDS)
        if grid_changes and await _exists(session, tables.ScheduleVersion, round_id):
            raise Conflict("the round has schedules: its start, end and shift length can no longer change")
        if grid_changes:
            await require_no_solve_under_way(session, round_id)
        equipment_ids = (
            await _round_equipment_ids(session, round_id)
            if data.equipment is None
            else await _ids_by_code(session, tables.Equipment, data.equipment, "$.equipment")
        )
        country_groups = (
            await _country_groups(session, round_id) if data.country_groups is None else data.country_groups
        )
        start, end = changes.get("start", round_.start), changes.get("end", round_.end)
        require_end_after_start(start, end)
        require_schedulable_length(start, end, changes.get("shift_hours", round_.shift_hours))
        columns = {name: value for name, value in changes.items() if name not in {*_LISTS, "scoring"}}
        if "scoring" in changes:
            columns["scoring"] = _scoring_document(data.scoring)
        async with keeping_valid(session, [round_id], f"this change of round {round_.code}"):
            await self.change(actor, round_, columns, data.model_dump(mode="json", exclude_unset=True))
            await self._replace_lists(round_id, wanted, equipment_ids, country_groups)
        return await self._public(round_)

    async def change_phase(self, actor: Claims, round_id: int, phase: Phase) -> RoundPublic:
        """One step forward or back at a time, so no phase's work is skipped by a slip. The round is locked first:
        a submission checks the phase on the round it locked, so none commits after the call closed."""
        await self.locked_row(round_id)
        round_ = await require_round(self.repository.session, actor, Operation.CHANGE_ROUND, round_id)
        step = _PHASE_ORDER.index(phase) - _PHASE_ORDER.index(round_.phase)
        if abs(step) != 1:
            raise Conflict(f"the round is in phase {round_.phase!r}: it can move to {_neighbours(round_.phase)} only")
        await self.change(actor, round_, {"phase": phase}, {"from": round_.phase, "to": phase}, action="phase")
        return await self._public(round_)

    async def delete_item(self, actor: Claims, round_id: int) -> None:
        """Only a round without proposals or solves: those are records that must be kept."""
        session = self.repository.session
        round_ = await require_round(session, actor, Operation.CHANGE_ROUND, round_id)
        for table in (tables.Proposal, tables.SolveRun, tables.ScheduleVersion):
            if await _exists(session, table, round_id):
                raise Conflict(f"the round has {table.__name__} records: it is kept; move it to phase 'closed' instead")
        await self._replace_lists(round_id, [], [], {})
        await session.execute(delete(tables.Quota).where(col(tables.Quota.round_id) == round_id))
        await self.remove(actor, round_, {"code": round_.code})

    async def import_round_file(
        self, actor: Claims, round_file: RoundFile, *, into: int | None = None, force: bool = False
    ) -> RoundPublic:
        """A new round from a round file, or (`into`) the replacement of a round's whole content, all or nothing.

        Replacing needs the coordination of every facility the round has and the file gives it, and the round
        at a version in `expected`;
        replacing a round whose schedule is published is refused (409) unless an admin forces it
        (`FORCE_REPLACE_ROUND`), and its audit entry says what went (`scheduler.rounds.replacement.Replacement`).
        Facilities the file brings in that do not exist yet are created, which is for admins;
        equipment it changes is changed only by its facility's coordinators. New equipment is
        kept by the first of the file's facilities whose instruments a request uses it on.
        """
        session = self.repository.session
        codes = [facility.id for facility in round_file.facilities]
        found = await existing_ids_by_code(session, tables.Facility, codes)
        missing = [code for code in codes if code not in found]
        if missing:
            access.require(actor, Operation.CREATE_FACILITY, Facts(), f"facilities {', '.join(missing)}")
        facility_ids = set(found.values())
        what = "a round of them"
        if into is not None:
            what = f"round {(await self.row(into)).code}"
            facility_ids |= set(await _round_facility_ids(session, into))
        facts = Facts(facilities=frozenset(facility_ids))
        access.require(actor, Operation.CHANGE_ROUND, facts, what)
        if force:
            access.require(actor, Operation.FORCE_REPLACE_ROUND, facts, what)
        existing = await self._require_equipment_changes(actor, round_file)
        detail: dict[str, Any] = {"code": round_file.round.id, "proposals": len(round_file.proposals)}
        if into is None:
            round_id = await import_round(session, round_file)
        else:
            round_id = into
            require_version(await self.row(into), self.expected)
            replaced = await replace_round(session, into, round_file, force=force)
            detail |= {"forced": force, **replaced.audit()}
        await self._keep_new_equipment(round_file, existing)
        await record(
            session, actor.user_id, "round.import" if into is None else "round.replace", "round", round_id, detail
        )
        return await self.read(round_id)

    async def import_new_round(self, actor: Claims, round_file: RoundFile) -> RoundImported:
        """A new round from a round file (`import_round_file`), with what its catalogue part changed in the shared
        catalogue, as the import's audit entry keeps it."""
        created = await self.import_round_file(actor, round_file)
        merge = await self.repository.session.scalar(
            select(col(tables.AuditEntry.detail))
            .where(
                col(tables.AuditEntry.action) == "round.catalogue_merge",
                col(tables.AuditEntry.entity) == "round",
                col(tables.AuditEntry.entity_id) == str(created.id),
            )
            .order_by(col(tables.AuditEntry.id).desc())
            .limit(1)
        )
        return RoundImported.model_validate({**created.model_dump(), "catalogue_merge": merge})

    async def _require_equipment_changes(self, actor: Claims, round_file: RoundFile) -> set[str]:
        """The codes of the file's equipment that exists already; refused when the file changes an item
        the actor's facilities do not keep."""
        named = {item.id: item for item in round_file.equipment}
        stored = await self.repository.session.execute(
            select(tables.Equipment).where(col(tables.Equipment.code).in_(named))
        )
        existing = set()
        for item in stored.scalars():
            existing.add(item.code)
            wanted = named[item.code]
            if (wanted.name, wanted.units) != (item.name, item.units):
                facts = Facts(facilities=frozenset() if item.facility_id is None else frozenset({item.facility_id}))
                access.require(actor, Operation.CHANGE_FACILITY_ITEM, facts, f"equipment {item.code}")
        return existing

    async def _keep_new_equipment(self, round_file: RoundFile, existing: set[str]) -> None:
        """New equipment goes to the first facility of the file with an instrument a request uses it on,
        else to the file's first facility."""
        session = self.repository.session
        new = [item.id for item in round_file.equipment if item.id not in existing]
        if not new:
            return
        facility_of = {i.id: f.id for f in round_file.facilities for i in f.instruments}
        order = [facility.id for facility in round_file.facilities]
        users: dict[str, set[str]] = {code: set() for code in new}
        for proposal in round_file.proposals:
            for request in proposal.requests:
                for code in request.equipment:
                    if code in users:
                        users[code].update(facility_of[i] for i in request.instruments if i in facility_of)
        ids = await existing_ids_by_code(session, tables.Facility, order)
        for code, facilities in users.items():
            keeper = next((f for f in order if f in facilities), order[0] if order else None)
            if keeper is not None:
                await session.execute(
                    update(tables.Equipment).where(col(tables.Equipment.code) == code).values(facility_id=ids[keeper])
                )

    async def export_round_file(self, actor: Claims, round_id: int) -> RoundFile:
        """The round as a file; the panel results (reviews, priority) only of the proposals the actor may
        read in confidence (`READ_CONFIDENTIAL`: those asking for their facilities' instruments)."""
        session = self.repository.session
        await require_round(session, actor, Operation.EXPORT_ROUND, round_id)
        round_file = await export_round(session, round_id)
        ids = await existing_ids_by_code(session, tables.Facility, [facility.id for facility in round_file.facilities])
        facility_of = {i.id: ids[f.id] for f in round_file.facilities for i in f.instruments}
        facilities = frozenset(ids.values())

        def confided(proposal: FileProposal) -> bool:
            asks_for = frozenset(facility_of[i] for r in proposal.requests for i in r.instruments if i in facility_of)
            return access.may(actor, Operation.READ_CONFIDENTIAL, Facts(facilities=facilities, asks_for=asks_for))

        return withhold_round(round_file, {p.id for p in round_file.proposals if confided(p)})

    async def _replace_lists(
        self,
        round_id: int,
        facility_ids: Sequence[int],
        equipment_ids: Sequence[int],
        country_groups: Mapping[str, list[str]],
    ) -> None:
        """The round's facilities (with all their instruments), equipment and country groups, in order."""
        session = self.repository.session
        for table in (tables.RoundFacility, tables.RoundInstrument, tables.RoundEquipment, tables.CountryGroup):
            await session.execute(delete(table).where(col(table.round_id) == round_id))
        session.add_all(
            tables.RoundFacility(round_id=round_id, facility_id=facility_id, position=position)
            for position, facility_id in enumerate(facility_ids)
        )
        instruments = await session.execute(
            select(col(tables.Instrument.id), col(tables.Instrument.facility_id)).where(
                col(tables.Instrument.facility_id).in_(facility_ids)
            )
        )
        by_facility: dict[int, list[int]] = {}
        for instrument_id, facility_id in instruments:
            if instrument_id is not None:
                by_facility.setdefault(facility_id, []).append(instrument_id)
        session.add_all(
            tables.RoundInstrument(round_id=round_id, instrument_id=instrument_id, position=position)
            for position, instrument_id in enumerate(
                i for facility_id in facility_ids for i in sorted(by_facility.get(facility_id, []))
            )
        )
        session.add_all(
            tables.RoundEquipment(round_id=round_id, equipment_id=equipment_id, position=position)
            for position, equipment_id in enumerate(equipment_ids)
        )
        session.add_all(
            tables.CountryGroup(round_id=round_id, name=name, countries=countries, position=position)
            for position, (name, countries) in enumerate(country_groups.items())
        )
        await session.flush()

    async def _public(self, round_: tables.Round) -> RoundPublic:
        session = self.repository.session
        round_id = row_id(round_)
        facilities = await session.execute(
            select(col(tables.Facility.code))
            .join(tables.RoundFacility, col(tables.RoundFacility.facility_id) == col(tables.Facility.id))
            .where(col(tables.RoundFacility.round_id) == round_id)
            .order_by(col(tables.RoundFacility.position))
        )
        equipment = await session.execute(
            select(col(tables.Equipment.code))
            .join(tables.RoundEquipment, col(tables.RoundEquipment.equipment_id) == col(tables.Equipment.id))
            .where(col(tables.RoundEquipment.round_id) == round_id)
            .order_by(col(tables.RoundEquipment.position))
        )
        return RoundPublic.model_validate(
            {
                **round_.model_dump(exclude={"scoring"}),
                "facilities": list(facilities.scalars()),
                "equipment": list(equipment.scalars()),
                "country_groups": await _country_groups(session, round_id),
                "scoring": round_.scoring,
            }
        )


class QuotaService(TableService[tables.Quota]):
    noun = "quota"

    async def list_page(self, page: LimitOffset, round_id: int) -> OffsetPagination[QuotaPublic]:
        await RoundService(session=self.repository.session).row(round_id)
        query = select(tables.Quota).where(col(tables.Quota.round_id) == round_id).order_by(col(tables.Quota.position))
        return await self.page(page, query, QuotaPublic)

    async def read(self, quota_id: int) -> QuotaPublic:
        return QuotaPublic.model_validate(await self.row(quota_id))

    async def create_item(self, actor: Claims, round_id: int, data: QuotaCreate) -> QuotaPublic:
        session = self.repository.session
        of_round = await self._require_scopes(actor, await round_row(session, round_id), data.scope)
        await self._check_references(round_id, of_round, data)
        await self._code_is_free(round_id, data.id)
        position = await next_position(
            self.repository.session, col(tables.Quota.position), col(tables.Quota.round_id) == round_id
        )
        quota = tables.Quota(round_id=round_id, position=position, **_quota_values(data))
        async with keeping_valid(session, [round_id], f"quota {data.id}"):
            added = await self.add(actor, quota, data.model_dump(mode="json"))
        return QuotaPublic.model_validate(added)

    async def update_item(self, actor: Claims, quota_id: int, data: QuotaCreate) -> QuotaPublic:
        """The quota replaced, read and checked as committed now under its round's lock and its own (parent first),
        so a concurrent replacement waits for this one instead of failing on a moved version."""
        rounds = await lock_all(self.repository.session, tables.Round, [(await self.row(quota_id)).round_id])
        quota = await self.locked_row(quota_id)  # NotFound if it went with its round meanwhile
        of_round = await self._require_scopes(actor, rounds[0], QuotaScope.model_validate(quota.scope), data.scope)
        await self._check_references(quota.round_id, of_round, data)
        if data.id != quota.code:
            await self._code_is_free(quota.round_id, data.id)
        async with keeping_valid(self.repository.session, [quota.round_id], f"quota {data.id}"):
            replaced = await self.change(
                actor, quota, _quota_values(data), data.model_dump(mode="json"), action="replace"
            )
        return QuotaPublic.model_validate(replaced)

    async def delete_item(self, actor: Claims, quota_id: int) -> None:
        quota = await self.row(quota_id)
        round_ = await round_row(self.repository.session, quota.round_id)
        await self._require_scopes(actor, round_, QuotaScope.model_validate(quota.scope))
        await self.remove(actor, quota, {"code": quota.code, "round_id": quota.round_id})

    async def _require_scopes(self, actor: Claims, round_: tables.Round, *scopes: QuotaScope) -> list[int]:
        """`CHANGE_ROUND` over the round's facilities whose instruments the quota counts (as it was and as it will
        be): a quota scoped to one facility's instruments is that facility's coordinators'; one across facilities,
        or over the whole round, is a round-wide setting of every facility's. Returns the round's facilities, read
        once for this check and the references' (`_check_references`)."""
        session = self.repository.session
        of_round = await _round_facility_ids(session, row_id(round_))
        named = {code for scope in scopes for code in scope.facilities or []}
        instruments = {code for scope in scopes for code in scope.instruments or []}
        facilities = await session.scalars(_FACILITIES_NAMED, {"codes": list(named)}) if named else ()
        holders = (
            await session.scalars(_FACILITIES_OF_INSTRUMENT_CODES, {"codes": list(instruments)}) if instruments else ()
        )
        covered = frozenset({*facilities, *holders}).intersection(of_round)
        if not covered or any(not (scope.facilities or scope.instruments) for scope in scopes):
            covered = frozenset(of_round)
        access.require(actor, Operation.CHANGE_ROUND, Facts(facilities=covered), f"round {round_.code}")
        return of_round

    async def _check_references(self, round_id: int, of_round: Sequence[int], data: QuotaCreate) -> None:
        """The round file's rule: a quota names only facilities (`of_round`), instruments and groups of its round."""
        session = self.repository.session
        facilities = await session.execute(_FACILITY_CODES, {"ids": list(of_round)})
        instruments = await session.execute(_INSTRUMENT_CODES, {"ids": list(of_round)})
        dangling = dangling_references(
            data,
            set(facilities.scalars()),
            set(instruments.scalars()),
            await _country_groups(session, round_id),
        )
        problems = [InputProblem(reference.path(), reference.message) for reference in dangling]
        if problems:
            raise InputError(problems)

    async def _code_is_free(self, round_id: int, code: str) -> None:
        if await self.exists(col(tables.Quota.round_id) == round_id, col(tables.Quota.code) == code):
            raise Conflict(f"the round has a quota {code!r} already")


async def round_row(session: AsyncSession, round_id: int) -> tables.Round:
    """The round's row for the other domains of the scheduler (proposals, solves, nightly repairs)."""
    return await RoundService(session=session).row(round_id)


async def round_facts(session: AsyncSession, round_id: int) -> Facts:
    """What the policy needs to know of a round: its facilities."""
    return Facts(facilities=frozenset(await _round_facility_ids(session, round_id)))


async def require_round(session: AsyncSession, actor: Claims, operation: Operation, round_id: int) -> tables.Round:
    """The round's row, when the policy lets the actor do `operation` on it; NotFound when there is no such round."""
    round_ = await round_row(session, round_id)
    access.require(actor, operation, await round_facts(session, round_id), f"round {round_.code}")
    return round_


async def _exists(
    session: AsyncSession, table: type[tables.Proposal | tables.SolveRun | tables.ScheduleVersion], round_id: int
) -> bool:
    return await session.scalar(select(col(table.id)).where(col(table.round_id) == round_id).limit(1)) is not None


async def _ids_by_code(
    session: AsyncSession, table: type[tables.Facility | tables.Equipment], codes: Sequence[str], path: str
) -> list[int]:
    """The ids of `codes` in their order (`ids_by_code`), each listed once: a round's facilities and equipment
    are ordered sets; unknown and repeated codes are reported together."""
    twice = [
        InputProblem(f"{path}[{index}]", f"{code!r} is listed twice")
        for index, code in enumerate(codes)
        if code in codes[:index]
    ]
    try:
        found = await ids_by_code(session, table, codes, path)
    except InputError as unknown:
        raise InputError([*unknown.problems, *twice]) from None
    if twice:
        raise InputError(twice)
    return [found[code] for code in codes]


async def _round_facility_ids(session: AsyncSession, round_id: int) -> list[int]:
    return await _listed_ids(session, tables.RoundFacility, tables.RoundFacility.facility_id, round_id)


async def _round_equipment_ids(session: AsyncSession, round_id: int) -> list[int]:
    return await _listed_ids(session, tables.RoundEquipment, tables.RoundEquipment.equipment_id, round_id)


_CODES: BindParameter[list[str]] = bindparam("codes", expanding=True)
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_FACILITIES_NAMED = select(col(tables.Facility.id)).where(col(tables.Facility.code).in_(_CODES))
_FACILITIES_OF_INSTRUMENT_CODES = select(col(tables.Instrument.facility_id)).where(
    col(tables.Instrument.code).in_(_CODES)
)
_FACILITY_CODES = select(col(tables.Facility.code)).where(col(tables.Facility.id).in_(_IDS))
_INSTRUMENT_CODES = select(col(tables.Instrument.code)).where(col(tables.Instrument.facility_id).in_(_IDS))
"""A quota's checks of its scope and references, as statements built once: built for each write, their lists'
parameters were most of the server's garbage in reference cycles, which its collector stopped everything for."""


async def _listed_ids(
    session: AsyncSession, link: type[tables.RoundFacility | tables.RoundEquipment], member: int, round_id: int
) -> list[int]:
    """The ids a round's link table lists in its `member` column, in the round's order."""
    rows = await session.execute(select(col(member)).where(col(link.round_id) == round_id).order_by(col(link.position)))
    return list(rows.scalars())


async def _country_groups(session: AsyncSession, round_id: int) -> dict[str, list[str]]:
    rows = await session.execute(
        select(tables.CountryGroup)
        .where(col(tables.CountryGroup.round_id) == round_id)
        .order_by(col(tables.CountryGroup.position))
    )
    return {group.name: group.countries for group in rows.scalars()}


def _scoring_document(scoring: Scoring | None) -> dict[str, Any] | None:
    return None if scoring is None else scoring.model_dump(mode="json", exclude_none=True)


def _quota_values(data: QuotaCreate) -> dict[str, Any]:
    values = data.model_dump(mode="json")
    values["scope"] = data.scope.model_dump(mode="json", exclude_none=True)
    values["category"] = data.category.model_dump(mode="json", exclude_none=True)
    return values


def _neighbours(phase: str) -> str:
    index = _PHASE_ORDER.index(phase)
    return " or ".join(repr(PHASES[i]) for i in (index - 1, index + 1) if 0 <= i < len(PHASES))
