"""The catalogue a facility keeps and the rounds it runs: facilities, instruments, windows,
equipment, rounds (with their call phases) and quotas.

Everyone signed in may read the catalogue and the rounds: a call for proposals is
public. Changes are for admins and the coordinators of the facility (of the round:
a round is a coordinator's when it includes one of their facilities). Every change
writes an audit entry in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.accounts.audit import record
from scheduler.accounts.service import Claims, coordinated_facility_ids, coordinates_facility, coordinates_round
from scheduler.db.tables import (
    CountryGroup,
    Equipment,
    Facility,
    Instrument,
    Proposal,
    Quota,
    Request,
    Round,
    RoundEquipment,
    RoundFacility,
    RoundInstrument,
    ScheduleVersion,
    SolveRun,
    Window,
)
from scheduler.errors import Conflict, Forbidden, found
from scheduler.fields import Code, Count, Country, Input, Instant, Name, Output, Text, Timezone, Update, UTCInstant
from scheduler.roundfile.checks import InputError, InputProblem
from scheduler.roundfile.contract import QuotaCategory, QuotaScope, RoundFile, Scoring, WindowKind
from scheduler.rounds.roundio import export_round, import_round

Phase = Literal["open", "review", "allocation", "published", "running", "closed"]
PHASES: tuple[Phase, ...] = get_args(Phase)
_PHASE_ORDER: tuple[str, ...] = PHASES
# Facilities


class FacilityCreate(Input):
    code: Code
    name: Name
    country: Country
    timezone: Timezone


class FacilityUpdate(Update):
    name: Name | None = None
    country: Country | None = None
    timezone: Timezone | None = None


class FacilityPublic(Output):
    id: int
    code: str
    name: str
    country: str
    timezone: str


async def list_facilities(session: AsyncSession) -> list[FacilityPublic]:
    rows = (await session.execute(select(Facility).order_by(col(Facility.code)))).scalars()
    return [FacilityPublic.model_validate(row) for row in rows]


async def get_facility(session: AsyncSession, facility_id: int) -> FacilityPublic:
    return FacilityPublic.model_validate(await _facility(session, facility_id))


async def create_facility(session: AsyncSession, actor: Claims, data: FacilityCreate) -> FacilityPublic:
    """Admins only: a new facility has no coordinator yet."""
    if not actor.is_admin:
        raise Forbidden("only an admin creates facilities")
    await _code_is_free(session, Facility, data.code)
    facility = Facility(**data.model_dump())
    session.add(facility)
    await session.flush()
    record(session, actor.user_id, "facility.create", "facility", _id(facility), data.model_dump(mode="json"))
    return FacilityPublic.model_validate(facility)


async def update_facility(
    session: AsyncSession, actor: Claims, facility_id: int, data: FacilityUpdate
) -> FacilityPublic:
    facility = await _facility(session, facility_id)
    await _require_facility_coordinator(session, actor, facility_id)
    _apply(facility, data)
    await session.flush()
    record(session, actor.user_id, "facility.update", "facility", facility_id, _changes(data))
    return FacilityPublic.model_validate(facility)


async def delete_facility(session: AsyncSession, actor: Claims, facility_id: int) -> None:
    facility = await _facility(session, facility_id)
    if not actor.is_admin:
        raise Forbidden("only an admin deletes facilities")
    await session.delete(facility)
    await session.flush()
    record(session, actor.user_id, "facility.delete", "facility", facility_id, {"code": facility.code})


# Instruments


class InstrumentCreate(Input):
    code: Code
    name: Name
    techniques: list[Name] = Field(default_factory=list)
    changeover_shifts: Count = 0
    reserve_share: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class InstrumentUpdate(Update):
    name: Name | None = None
    techniques: list[Name] | None = None
    changeover_shifts: Count | None = None
    reserve_share: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None


class InstrumentPublic(Output):
    id: int
    facility_id: int
    code: str
    name: str
    techniques: list[str]
    changeover_shifts: int
    reserve_share: float


async def list_instruments(session: AsyncSession, facility_id: int) -> list[InstrumentPublic]:
    await _facility(session, facility_id)
    rows = await session.execute(
        select(Instrument).where(col(Instrument.facility_id) == facility_id).order_by(col(Instrument.position))
    )
    return [InstrumentPublic.model_validate(row) for row in rows.scalars()]


async def get_instrument(session: AsyncSession, instrument_id: int) -> InstrumentPublic:
    return InstrumentPublic.model_validate(await _instrument(session, instrument_id))


async def create_instrument(
    session: AsyncSession, actor: Claims, facility_id: int, data: InstrumentCreate
) -> InstrumentPublic:
    await _facility(session, facility_id)
    await _require_facility_coordinator(session, actor, facility_id)
    await _code_is_free(session, Instrument, data.code)
    position = await session.scalar(
        select(func.count()).select_from(Instrument).where(col(Instrument.facility_id) == facility_id)
    )
    instrument = Instrument(**data.model_dump(), facility_id=facility_id, position=position or 0)
    session.add(instrument)
    await session.flush()
    await _join_rounds_in_preparation(session, instrument)
    record(session, actor.user_id, "instrument.create", "instrument", _id(instrument), data.model_dump(mode="json"))
    return InstrumentPublic.model_validate(instrument)


async def _join_rounds_in_preparation(session: AsyncSession, instrument: Instrument) -> None:
    """A new instrument is offered in its facility's rounds that have not been allocated yet."""
    rounds = await session.execute(
        select(col(RoundFacility.round_id))
        .join(Round, col(Round.id) == col(RoundFacility.round_id))
        .where(col(RoundFacility.facility_id) == instrument.facility_id, col(Round.phase).in_(("open", "review")))
    )
    for round_id in rounds.scalars():
        last = await session.scalar(
            select(func.max(col(RoundInstrument.position))).where(col(RoundInstrument.round_id) == round_id)
        )
        session.add(RoundInstrument(round_id=round_id, instrument_id=_id(instrument), position=(last or 0) + 1))
    await session.flush()


async def update_instrument(
    session: AsyncSession, actor: Claims, instrument_id: int, data: InstrumentUpdate
) -> InstrumentPublic:
    instrument = await _instrument(session, instrument_id)
    await _require_facility_coordinator(session, actor, instrument.facility_id)
    _apply(instrument, data)
    await session.flush()
    record(session, actor.user_id, "instrument.update", "instrument", instrument_id, _changes(data))
    return InstrumentPublic.model_validate(instrument)


async def delete_instrument(session: AsyncSession, actor: Claims, instrument_id: int) -> None:
    """With its windows; refused while a request of any round asks for it, which would then name nothing."""
    instrument = await _instrument(session, instrument_id)
    await _require_facility_coordinator(session, actor, instrument.facility_id)
    asked_in = await session.execute(
        select(col(Request.code), col(Request.instruments))
        .join(RoundFacility, col(RoundFacility.round_id) == col(Request.round_id))
        .where(col(RoundFacility.facility_id) == instrument.facility_id)
    )
    requests = [code for code, instruments in asked_in if instrument.code in instruments]
    if requests:
        raise Conflict(f"requests {', '.join(requests[:5])} ask for instrument {instrument.code}: it is kept")
    await session.execute(delete(Window).where(col(Window.instrument_id) == instrument_id))
    await session.execute(delete(RoundInstrument).where(col(RoundInstrument.instrument_id) == instrument_id))
    await session.delete(instrument)
    await session.flush()
    record(session, actor.user_id, "instrument.delete", "instrument", instrument_id, {"code": instrument.code})


# Windows: time an instrument cannot be used, set on a whole facility or on one instrument.


class WindowCreate(Input):
    start: Instant
    end: Instant
    kind: WindowKind
    reason: Text = ""

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("end must be after start")
        return end


class WindowUpdate(Update):
    start: Instant | None = None
    end: Instant | None = None
    kind: WindowKind | None = None
    reason: Text | None = None


class WindowPublic(Output):
    id: int
    facility_id: int | None
    instrument_id: int | None
    start: UTCInstant
    end: UTCInstant
    kind: WindowKind
    reason: str


async def list_windows(
    session: AsyncSession, *, facility_id: int | None = None, instrument_id: int | None = None
) -> list[WindowPublic]:
    query = select(Window).order_by(col(Window.start), col(Window.id))
    if facility_id is not None:
        await _facility(session, facility_id)
        query = query.where(col(Window.facility_id) == facility_id)
    if instrument_id is not None:
        await _instrument(session, instrument_id)
        query = query.where(col(Window.instrument_id) == instrument_id)
    return [WindowPublic.model_validate(row) for row in (await session.execute(query)).scalars()]


async def get_window(session: AsyncSession, window_id: int) -> WindowPublic:
    return WindowPublic.model_validate(await _window(session, window_id))


async def create_window(
    session: AsyncSession,
    actor: Claims,
    data: WindowCreate,
    *,
    facility_id: int | None = None,
    instrument_id: int | None = None,
) -> WindowPublic:
    """On a facility (`facility_id`) or on one of its instruments (`instrument_id`)."""
    if instrument_id is not None:
        owner = (await _instrument(session, instrument_id)).facility_id
    elif facility_id is not None:
        owner = _id(await _facility(session, facility_id))
    else:
        raise ValueError("a window belongs to a facility or an instrument")
    await _require_facility_coordinator(session, actor, owner)
    window = Window(**data.model_dump(), facility_id=facility_id, instrument_id=instrument_id)
    session.add(window)
    await session.flush()
    record(session, actor.user_id, "window.create", "window", _id(window), _window_detail(window))
    return WindowPublic.model_validate(window)


async def update_window(session: AsyncSession, actor: Claims, window_id: int, data: WindowUpdate) -> WindowPublic:
    window = await _window(session, window_id)
    await _require_facility_coordinator(session, actor, await _window_facility(session, window))
    _apply(window, data)
    if window.end <= window.start:
        raise InputError([InputProblem("$.end", "end must be after start")])
    await session.flush()
    record(session, actor.user_id, "window.update", "window", window_id, _changes(data))
    return WindowPublic.model_validate(window)


async def delete_window(session: AsyncSession, actor: Claims, window_id: int) -> None:
    window = await _window(session, window_id)
    await _require_facility_coordinator(session, actor, await _window_facility(session, window))
    await session.delete(window)
    await session.flush()
    record(session, actor.user_id, "window.delete", "window", window_id, _window_detail(window))


# Equipment: shared sample environment, not tied to one facility, so any coordinator keeps it.


class EquipmentCreate(Input):
    code: Code
    name: Name
    units: Annotated[int, Field(ge=1, le=10_000)] = 1


class EquipmentUpdate(Update):
    name: Name | None = None
    units: Annotated[int, Field(ge=1, le=10_000)] | None = None


class EquipmentPublic(Output):
    id: int
    code: str
    name: str
    units: int


async def list_equipment(session: AsyncSession) -> list[EquipmentPublic]:
    rows = (await session.execute(select(Equipment).order_by(col(Equipment.code)))).scalars()
    return [EquipmentPublic.model_validate(row) for row in rows]


async def get_equipment(session: AsyncSession, equipment_id: int) -> EquipmentPublic:
    return EquipmentPublic.model_validate(await _equipment(session, equipment_id))


async def create_equipment(session: AsyncSession, actor: Claims, data: EquipmentCreate) -> EquipmentPublic:
    _require_coordinator_role(actor)
    await _code_is_free(session, Equipment, data.code)
    item = Equipment(**data.model_dump())
    session.add(item)
    await session.flush()
    record(session, actor.user_id, "equipment.create", "equipment", _id(item), data.model_dump(mode="json"))
    return EquipmentPublic.model_validate(item)


async def update_equipment(
    session: AsyncSession, actor: Claims, equipment_id: int, data: EquipmentUpdate
) -> EquipmentPublic:
    item = await _equipment(session, equipment_id)
    _require_coordinator_role(actor)
    _apply(item, data)
    await session.flush()
    record(session, actor.user_id, "equipment.update", "equipment", equipment_id, _changes(data))
    return EquipmentPublic.model_validate(item)


async def delete_equipment(session: AsyncSession, actor: Claims, equipment_id: int) -> None:
    item = await _equipment(session, equipment_id)
    _require_coordinator_role(actor)
    await session.delete(item)
    await session.flush()
    record(session, actor.user_id, "equipment.delete", "equipment", equipment_id, {"code": item.code})


# Rounds


class RoundCreate(Input):
    code: Code
    name: Name
    start: Instant
    end: Instant
    shift_hours: Annotated[int, Field(gt=0, le=24)] = 8
    call_closes: Instant | None = None
    review_closes: Instant | None = None
    frozen_horizon_days: Annotated[int, Field(ge=0, le=3650)] = 14
    facilities: Annotated[list[Code], Field(min_length=1, description="Codes of the facilities the round allocates.")]
    equipment: list[Code] = Field(
        default_factory=list, description="Codes of the equipment requests of the round may use."
    )
    country_groups: dict[Code, list[Country]] = Field(default_factory=dict)
    scoring: Scoring | None = None

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("end must be after start")
        return end


class RoundUpdate(Update):
    nullable = frozenset({"call_closes", "review_closes", "scoring"})

    name: Name | None = None
    start: Instant | None = None
    end: Instant | None = None
    shift_hours: Annotated[int, Field(gt=0, le=24)] | None = None
    call_closes: Instant | None = None
    review_closes: Instant | None = None
    frozen_horizon_days: Annotated[int, Field(ge=0, le=3650)] | None = None
    facilities: Annotated[list[Code], Field(min_length=1)] | None = None
    equipment: list[Code] | None = None
    country_groups: dict[Code, list[Country]] | None = None
    scoring: Scoring | None = None


class PhaseChange(Input):
    phase: Phase


class RoundPublic(Output):
    id: int
    code: str
    name: str
    start: UTCInstant
    end: UTCInstant
    shift_hours: int
    phase: Phase
    call_closes: UTCInstant | None
    review_closes: UTCInstant | None
    frozen_horizon_days: int
    facilities: list[str]
    equipment: list[str]
    country_groups: dict[str, list[str]]
    scoring: Scoring | None
    revision: int
    created_at: datetime


_GRID_FIELDS = ("start", "end", "shift_hours")
_LISTS = ("facilities", "equipment", "country_groups")


async def list_rounds(session: AsyncSession) -> list[RoundPublic]:
    rounds = (await session.execute(select(Round).order_by(col(Round.start).desc(), col(Round.id)))).scalars().all()
    return [await _round_public(session, round_) for round_ in rounds]


async def get_round(session: AsyncSession, round_id: int) -> RoundPublic:
    return await _round_public(session, await round_row(session, round_id))


async def create_round(session: AsyncSession, actor: Claims, data: RoundCreate) -> RoundPublic:
    """A coordinator creates rounds of their own facilities only; an admin, of any."""
    _require_coordinator_role(actor)
    await _code_is_free(session, Round, data.code)
    facility_ids = await _ids_by_code(session, Facility, data.facilities, "$.facilities")
    await _require_all_coordinated(session, actor, set(facility_ids))
    equipment_ids = await _ids_by_code(session, Equipment, data.equipment, "$.equipment")
    offset = data.start.utcoffset()
    round_ = Round(
        **data.model_dump(exclude={*_LISTS, "scoring"}),
        scoring=_scoring_document(data.scoring),
        utc_offset_minutes=0 if offset is None else int(offset.total_seconds() // 60),
    )
    session.add(round_)
    await session.flush()
    await _replace_round_lists(session, _id(round_), facility_ids, equipment_ids, data.country_groups)
    record(session, actor.user_id, "round.create", "round", _id(round_), data.model_dump(mode="json"))
    return await _round_public(session, round_)


async def update_round(session: AsyncSession, actor: Claims, round_id: int, data: RoundUpdate) -> RoundPublic:
    round_ = await round_row(session, round_id)
    await require_round_coordinator(session, actor, round_id)
    changes = data.changes()
    grid_changes = any(name in changes and changes[name] != getattr(round_, name) for name in _GRID_FIELDS)
    if grid_changes and await _has_schedules(session, round_id):
        raise Conflict("the round has schedules: its start, end and shift length can no longer change")
    facility_ids = await _round_facility_ids(session, round_id)
    if data.facilities is not None:
        wanted = await _ids_by_code(session, Facility, data.facilities, "$.facilities")
        await _require_all_coordinated(session, actor, set(wanted) ^ set(facility_ids))
        facility_ids = wanted
    equipment_ids = (
        await _round_equipment_ids(session, round_id)
        if data.equipment is None
        else await _ids_by_code(session, Equipment, data.equipment, "$.equipment")
    )
    country_groups = await _country_groups(session, round_id) if data.country_groups is None else data.country_groups
    for name in changes.keys() - {*_LISTS, "scoring"}:
        setattr(round_, name, changes[name])
    if "scoring" in changes:
        round_.scoring = _scoring_document(data.scoring)
    if round_.end <= round_.start:
        raise InputError([InputProblem("$.end", "end must be after start")])
    await _replace_round_lists(session, round_id, facility_ids, equipment_ids, country_groups)
    record(session, actor.user_id, "round.update", "round", round_id, _changes(data))
    return await _round_public(session, round_)


async def change_phase(session: AsyncSession, actor: Claims, round_id: int, phase: Phase) -> RoundPublic:
    """One step forward or back at a time, so no phase's work is skipped by a slip."""
    round_ = await round_row(session, round_id)
    await require_round_coordinator(session, actor, round_id)
    step = _PHASE_ORDER.index(phase) - _PHASE_ORDER.index(round_.phase)
    if abs(step) != 1:
        raise Conflict(f"the round is in phase {round_.phase!r}: it can move to {_neighbours(round_.phase)} only")
    record(session, actor.user_id, "round.phase", "round", round_id, {"from": round_.phase, "to": phase})
    round_.phase = phase
    await session.flush()
    return await _round_public(session, round_)


async def delete_round(session: AsyncSession, actor: Claims, round_id: int) -> None:
    """Only a round without proposals or solves: those are records that must be kept."""
    round_ = await round_row(session, round_id)
    await require_round_coordinator(session, actor, round_id)
    for table in (Proposal, SolveRun, ScheduleVersion):
        if await session.scalar(select(col(table.id)).where(col(table.round_id) == round_id).limit(1)) is not None:
            raise Conflict(f"the round has {table.__name__} records: it is kept; move it to phase 'closed' instead")
    await _replace_round_lists(session, round_id, [], [], {})
    await session.execute(delete(Quota).where(col(Quota.round_id) == round_id))
    await session.delete(round_)
    await session.flush()
    record(session, actor.user_id, "round.delete", "round", round_id, {"code": round_.code})


# Quotas


class QuotaCreate(Input):
    code: Code
    scope: QuotaScope = QuotaScope()
    category: QuotaCategory
    min_share: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    max_share: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    attribution: Literal["pi", "team"] = "pi"
    soft: bool = False
    penalty: Annotated[float, Field(ge=0.0, le=1e9)] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> QuotaCreate:
        if self.min_share is None and self.max_share is None:
            raise ValueError("a quota needs min_share, max_share or both")
        if self.min_share is not None and self.max_share is not None and self.min_share > self.max_share:
            raise ValueError(f"min_share {self.min_share} is above max_share {self.max_share}")
        return self


class QuotaPublic(Output):
    id: int
    round_id: int
    code: str
    scope: QuotaScope
    category: QuotaCategory
    min_share: float | None
    max_share: float | None
    attribution: Literal["pi", "team"]
    soft: bool
    penalty: float | None


async def list_quotas(session: AsyncSession, round_id: int) -> list[QuotaPublic]:
    await round_row(session, round_id)
    rows = await session.execute(select(Quota).where(col(Quota.round_id) == round_id).order_by(col(Quota.position)))
    return [QuotaPublic.model_validate(row) for row in rows.scalars()]


async def get_quota(session: AsyncSession, quota_id: int) -> QuotaPublic:
    return QuotaPublic.model_validate(await _quota(session, quota_id))


async def create_quota(session: AsyncSession, actor: Claims, round_id: int, data: QuotaCreate) -> QuotaPublic:
    await round_row(session, round_id)
    await require_round_coordinator(session, actor, round_id)
    await _check_quota_references(session, round_id, data)
    await _quota_code_is_free(session, round_id, data.code)
    position = await session.scalar(select(func.count()).select_from(Quota).where(col(Quota.round_id) == round_id))
    quota = Quota(round_id=round_id, position=position or 0, **_quota_values(data))
    session.add(quota)
    await session.flush()
    record(session, actor.user_id, "quota.create", "quota", _id(quota), data.model_dump(mode="json"))
    return QuotaPublic.model_validate(quota)


async def replace_quota(session: AsyncSession, actor: Claims, quota_id: int, data: QuotaCreate) -> QuotaPublic:
    quota = await _quota(session, quota_id)
    await require_round_coordinator(session, actor, quota.round_id)
    await _check_quota_references(session, quota.round_id, data)
    if data.code != quota.code:
        await _quota_code_is_free(session, quota.round_id, data.code)
    for name, value in _quota_values(data).items():
        setattr(quota, name, value)
    await session.flush()
    record(session, actor.user_id, "quota.replace", "quota", quota_id, data.model_dump(mode="json"))
    return QuotaPublic.model_validate(quota)


async def delete_quota(session: AsyncSession, actor: Claims, quota_id: int) -> None:
    quota = await _quota(session, quota_id)
    await require_round_coordinator(session, actor, quota.round_id)
    await session.delete(quota)
    await session.flush()
    record(session, actor.user_id, "quota.delete", "quota", quota_id, {"code": quota.code, "round_id": quota.round_id})


# Round files


async def import_round_file(
    session: AsyncSession, actor: Claims, round_file: RoundFile, *, into: int | None = None
) -> RoundPublic:
    """A new round from a round file, or (`into`) the replacement of a round's whole content, all or nothing."""
    if into is None:
        _require_coordinator_role(actor)
    else:
        await round_row(session, into)
        await require_round_coordinator(session, actor, into)
    await require_coordinated_codes(session, actor, [facility.id for facility in round_file.facilities])
    round_id = await import_round(session, round_file, into=into)
    detail = {"code": round_file.round.id, "proposals": len(round_file.proposals)}
    record(session, actor.user_id, "round.import" if into is None else "round.replace", "round", round_id, detail)
    return await get_round(session, round_id)


async def export_round_file(session: AsyncSession, actor: Claims, round_id: int) -> RoundFile:
    await round_row(session, round_id)
    await require_round_coordinator(session, actor, round_id)
    return await export_round(session, round_id)


# Access


async def require_round_coordinator(session: AsyncSession, actor: Claims, round_id: int) -> None:
    if not await coordinates_round(session, actor, round_id):
        raise Forbidden("only the round's coordinators and admins may do this")


async def require_coordinated_codes(session: AsyncSession, actor: Claims, facility_codes: Sequence[str]) -> None:
    """For a round file: a coordinator may bring in only facilities they coordinate (which must exist)."""
    _require_coordinator_role(actor)
    if actor.is_admin:
        return
    rows = await session.execute(
        select(col(Facility.code), col(Facility.id)).where(col(Facility.code).in_(facility_codes))
    )
    found = dict(rows.all())
    mine = await coordinated_facility_ids(session, actor.user_id)
    foreign = [code for code in facility_codes if found.get(code) not in mine]
    if foreign:
        raise Forbidden(f"you do not coordinate facilities {', '.join(foreign)}")


def _require_coordinator_role(actor: Claims) -> None:
    if actor.role not in ("admin", "coordinator"):
        raise Forbidden("only coordinators and admins may do this")


async def _require_facility_coordinator(session: AsyncSession, actor: Claims, facility_id: int) -> None:
    if not await coordinates_facility(session, actor, facility_id):
        raise Forbidden("only the facility's coordinators and admins may do this")


async def _require_all_coordinated(session: AsyncSession, actor: Claims, facility_ids: set[int]) -> None:
    if actor.is_admin:
        return
    foreign = facility_ids - await coordinated_facility_ids(session, actor.user_id)
    if foreign:
        rows = await session.execute(select(col(Facility.code)).where(col(Facility.id).in_(foreign)))
        raise Forbidden(f"you do not coordinate facilities {', '.join(sorted(rows.scalars()))}")


# Rows


async def round_row(session: AsyncSession, round_id: int) -> Round:
    return await found(session, Round, round_id, "round")


async def _facility(session: AsyncSession, facility_id: int) -> Facility:
    return await found(session, Facility, facility_id, "facility")


async def _instrument(session: AsyncSession, instrument_id: int) -> Instrument:
    return await found(session, Instrument, instrument_id, "instrument")


async def _window(session: AsyncSession, window_id: int) -> Window:
    return await found(session, Window, window_id, "window")


async def _equipment(session: AsyncSession, equipment_id: int) -> Equipment:
    return await found(session, Equipment, equipment_id, "equipment")


async def _quota(session: AsyncSession, quota_id: int) -> Quota:
    return await found(session, Quota, quota_id, "quota")


async def _window_facility(session: AsyncSession, window: Window) -> int:
    if window.facility_id is not None:
        return window.facility_id
    assert window.instrument_id is not None
    return (await _instrument(session, window.instrument_id)).facility_id


async def _code_is_free(
    session: AsyncSession, table: type[Facility | Instrument | Equipment | Round], code: str
) -> None:
    if await session.scalar(select(col(table.id)).where(col(table.code) == code)) is not None:
        raise Conflict(f"a {table.__name__.lower()} with code {code!r} exists already")


async def _quota_code_is_free(session: AsyncSession, round_id: int, code: str) -> None:
    taken = await session.scalar(select(col(Quota.id)).where(col(Quota.round_id) == round_id, col(Quota.code) == code))
    if taken is not None:
        raise Conflict(f"the round has a quota {code!r} already")


async def _ids_by_code(
    session: AsyncSession, table: type[Facility | Equipment], codes: Sequence[str], path: str
) -> list[int]:
    rows = await session.execute(select(col(table.code), col(table.id)).where(col(table.code).in_(codes)))
    found = {code: id_ for code, id_ in rows if id_ is not None}
    problems = [
        InputProblem(f"{path}[{index}]", f"no {table.__name__.lower()} with code {code!r}")
        for index, code in enumerate(codes)
        if code not in found
    ]
    problems += [
        InputProblem(f"{path}[{index}]", f"{code!r} is listed twice")
        for index, code in enumerate(codes)
        if code in codes[:index]
    ]
    if problems:
        raise InputError(problems)
    return [found[code] for code in codes]


async def _round_facility_ids(session: AsyncSession, round_id: int) -> list[int]:
    rows = await session.execute(
        select(col(RoundFacility.facility_id))
        .where(col(RoundFacility.round_id) == round_id)
        .order_by(col(RoundFacility.position))
    )
    return list(rows.scalars())


async def _round_equipment_ids(session: AsyncSession, round_id: int) -> list[int]:
    rows = await session.execute(
        select(col(RoundEquipment.equipment_id))
        .where(col(RoundEquipment.round_id) == round_id)
        .order_by(col(RoundEquipment.position))
    )
    return list(rows.scalars())


async def _country_groups(session: AsyncSession, round_id: int) -> dict[str, list[str]]:
    rows = await session.execute(
        select(CountryGroup).where(col(CountryGroup.round_id) == round_id).order_by(col(CountryGroup.position))
    )
    return {group.name: group.countries for group in rows.scalars()}


async def _has_schedules(session: AsyncSession, round_id: int) -> bool:
    found = await session.scalar(select(col(ScheduleVersion.id)).where(col(ScheduleVersion.round_id) == round_id))
    return found is not None


async def _replace_round_lists(
    session: AsyncSession,
    round_id: int,
    facility_ids: Sequence[int],
    equipment_ids: Sequence[int],
    country_groups: Mapping[str, list[str]],
) -> None:
    for table in (RoundFacility, RoundInstrument, RoundEquipment, CountryGroup):
        await session.execute(delete(table).where(col(table.round_id) == round_id))
    session.add_all(
        RoundFacility(round_id=round_id, facility_id=facility_id, position=position)
        for position, facility_id in enumerate(facility_ids)
    )
    instruments = await session.execute(
        select(col(Instrument.id), col(Instrument.facility_id)).where(col(Instrument.facility_id).in_(facility_ids))
    )
    by_facility: dict[int, list[int]] = {}
    for instrument_id, facility_id in instruments.tuples():
        if instrument_id is not None:
            by_facility.setdefault(facility_id, []).append(instrument_id)
    session.add_all(
        RoundInstrument(round_id=round_id, instrument_id=instrument_id, position=position)
        for position, instrument_id in enumerate(
            i for facility_id in facility_ids for i in sorted(by_facility.get(facility_id, []))
        )
    )
    session.add_all(
        RoundEquipment(round_id=round_id, equipment_id=equipment_id, position=position)
        for position, equipment_id in enumerate(equipment_ids)
    )
    session.add_all(
        CountryGroup(round_id=round_id, name=name, countries=countries, position=position)
        for position, (name, countries) in enumerate(country_groups.items())
    )
    await session.flush()


async def _round_public(session: AsyncSession, round_: Round) -> RoundPublic:
    round_id = _id(round_)
    facilities = await session.execute(
        select(col(Facility.code))
        .join(RoundFacility, col(RoundFacility.facility_id) == col(Facility.id))
        .where(col(RoundFacility.round_id) == round_id)
        .order_by(col(RoundFacility.position))
    )
    equipment = await session.execute(
        select(col(Equipment.code))
        .join(RoundEquipment, col(RoundEquipment.equipment_id) == col(Equipment.id))
        .where(col(RoundEquipment.round_id) == round_id)
        .order_by(col(RoundEquipment.position))
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


async def _check_quota_references(session: AsyncSession, round_id: int, data: QuotaCreate) -> None:
    """The scope and category name facilities, instruments and groups of this round."""
    facility_ids = await _round_facility_ids(session, round_id)
    facilities = await session.execute(select(col(Facility.code)).where(col(Facility.id).in_(facility_ids)))
    instruments = await session.execute(
        select(col(Instrument.code)).where(col(Instrument.facility_id).in_(facility_ids))
    )
    facility_codes, instrument_codes = set(facilities.scalars()), set(instruments.scalars())
    problems = [
        InputProblem(f"$.scope.facilities[{index}]", f"{code!r} is not a facility of the round")
        for index, code in enumerate(data.scope.facilities or [])
        if code not in facility_codes
    ]
    problems += [
        InputProblem(f"$.scope.instruments[{index}]", f"{code!r} is not an instrument of the round")
        for index, code in enumerate(data.scope.instruments or [])
        if code not in instrument_codes
    ]
    group = data.category.country_group
    if group is not None and group not in await _country_groups(session, round_id):
        problems.append(InputProblem("$.category.country_group", f"the round has no country group {group!r}"))
    if problems:
        raise InputError(problems)


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


def _apply(row: Facility | Instrument | Window | Equipment, data: Update) -> None:
    for name, value in data.changes().items():
        setattr(row, name, value)


def _changes(data: BaseModel) -> dict[str, Any]:
    return data.model_dump(mode="json", exclude_unset=True)


def _window_detail(window: Window) -> dict[str, Any]:
    return WindowPublic.model_validate(window).model_dump(mode="json")


def _id(row: Facility | Instrument | Window | Equipment | Round | Quota) -> int:
    assert row.id is not None, "flushed rows have ids"
    return row.id
