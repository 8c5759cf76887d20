"""What the API takes and answers for facilities, instruments, windows and equipment.

Nouns of the round file take their fields, bounds and defaults from the contract
(`contract_field`); the API adds only its own limits (codes, names and texts a
database column holds, instants in years it stores).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from pydantic.fields import FieldInfo

from scheduler.fields import Code, Input, Instant, Name, Output, Text, Timezone, Update, UTCInstant, Version
from scheduler.roundfile import contract
from scheduler.roundfile.checks import InputError, InputProblem
from scheduler.roundfile.contract import WindowKind

END_AFTER_START = "end must be after start"


def contract_field(model: type[BaseModel], name: str, **overrides: Any) -> Any:
    """The field `name` of a round-file model (type bounds, default, description), for an API schema;
    `overrides` changes what the API needs different, e.g. `default=None` in an update."""
    return FieldInfo.merge_field_infos(model.model_fields[name], **overrides)


class Span(Input):
    """A start and an end after it; the one check of that rule for bodies (`require_end_after_start` for rows)."""

    start: Instant
    end: Annotated[Instant, Field(description="ISO 8601 with an offset, after `start`.")]

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and not ends_after(start, end):
            raise ValueError(END_AFTER_START)
        return end


def ends_after(start: datetime, end: datetime) -> bool:
    return end > start


def require_end_after_start(start: datetime, end: datetime) -> None:
    """The same rule on a row after a partial update, which validates fields one at a time."""
    if not ends_after(start, end):
        raise InputError([InputProblem("$.end", END_AFTER_START)])


# Facilities


class FacilityCreate(Input):
    code: Code
    name: Name
    country: str = contract_field(contract.Facility, "country")
    timezone: Timezone


class FacilityUpdate(Update):
    name: Name | None = None
    country: str | None = contract_field(contract.Facility, "country", default=None)
    timezone: Timezone | None = None


class FacilityPublic(Output):
    id: int
    code: str
    name: str
    country: str
    timezone: str
    version: Version


# Instruments

Techniques = list[Name]


class InstrumentCreate(Input):
    code: Code
    name: Name
    techniques: Techniques = contract_field(contract.Instrument, "techniques")
    changeover_shifts: int = contract_field(contract.Instrument, "changeover_shifts")
    reserve_share: float = contract_field(contract.Instrument, "reserve_share")


class InstrumentUpdate(Update):
    name: Name | None = None
    techniques: Techniques | None = None
    changeover_shifts: int | None = contract_field(contract.Instrument, "changeover_shifts", default=None)
    reserve_share: float | None = contract_field(contract.Instrument, "reserve_share", default=None)


class InstrumentPublic(Output):
    id: int
    facility_id: int
    code: str
    name: str
    techniques: list[str]
    changeover_shifts: int
    reserve_share: float
    version: Version


# Windows: time an instrument cannot be used, set on a whole facility or on one instrument.


class WindowCreate(Span):
    kind: WindowKind
    reason: Text = ""


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
    version: Version


# Equipment: sample environment requests of a round may use, kept by one facility.

StoredUnits = Annotated[int, Field(le=10_000)]


class EquipmentCreate(Input):
    code: Code
    name: Name
    facility: Code = Field(description="Code of the facility that keeps it: its coordinators change and delete it.")
    units: StoredUnits = contract_field(contract.Equipment, "units")


class EquipmentUpdate(Update):
    name: Name | None = None
    units: StoredUnits | None = contract_field(contract.Equipment, "units", default=None)


class EquipmentPublic(Output):
    id: int
    facility_id: int | None = Field(description="The facility that keeps it; none for legacy items, kept by admins.")
    code: str
    name: str
    units: int
    version: Version
