"""Building blocks of the domain's request and response schemas.

Every bound here keeps a value the database would refuse (a NUL in a string, a
number past a 32-bit column, a naive or far-off time) out at the edge, where it
becomes a validation problem with a JSON path instead of a server error.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, ClassVar
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

MAX_INT = 2**31 - 1
"""The largest integer a database column takes on every backend."""
FIRST_YEAR, LAST_YEAR = 1900, 2200
"""Instants outside these years are typing mistakes, and some are past what a database column holds."""
MAX_ROUND_DAYS = 1461
"""Four years: the longest round, so that a page or a solve of it stays bounded."""
MAX_SHIFTS = 20_000
"""The most shifts a round's grid may have, and so the most any count of shifts may be."""
MAX_SHIFT_HOURS = 24
MAX_UNITS = 10_000
"""The most identical units of one piece of equipment."""
MAX_MISSED_ROUNDS = 100
CODE_LENGTH = 64
"""The width of every code column."""
NAME_LENGTH = 200
TITLE_LENGTH = 500
TEXT_LENGTH = 2000
MAX_REQUESTS_PER_PROPOSAL = 100
MAX_LINKS_PER_PROPOSAL = 100
MAX_TEAM = 200
MAX_CHOICES = 100
"""The most instruments, pieces of equipment or unavailable intervals one request lists."""


def _within_years(moment: datetime) -> datetime:
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(f"the year must be between {FIRST_YEAR} and {LAST_YEAR}")
    return moment


def _in_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _known_timezone(name: str) -> str:
    if name not in _timezones():
        raise ValueError(f"unknown IANA timezone {name!r}")
    return name


def round_length_problem(start: datetime, end: datetime, shift_hours: int) -> str | None:
    """Why a round from `start` to `end` is too long to schedule (MAX_ROUND_DAYS, MAX_SHIFTS); None when it is not."""
    length = end - start
    if length > timedelta(days=MAX_ROUND_DAYS):
        return f"the round lasts {length.days} days; at most {MAX_ROUND_DAYS}"
    shifts = length // timedelta(hours=shift_hours)
    if shifts > MAX_SHIFTS:
        return f"the round has {shifts} shifts of {shift_hours} h; at most {MAX_SHIFTS}"
    return None


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


Code = Annotated[
    str, Field(min_length=1, max_length=CODE_LENGTH, pattern=r"^[^\x00-\x20]+$", description="A unique id.")
]
Name = Annotated[str, Field(min_length=1, max_length=NAME_LENGTH, pattern=r"^[^\x00-\x1f]+$")]
Title = Annotated[str, Field(min_length=1, max_length=TITLE_LENGTH, pattern=r"^[^\x00-\x1f]+$")]


_EMAIL = re.compile(r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.fullmatch(value):
        raise ValueError("not an e-mail address")
    return value


Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
"""An account's e-mail, lower-cased: the identity of a person, so compared as it is."""
Text = Annotated[str, Field(max_length=TEXT_LENGTH, pattern=r"^[^\x00]*$")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code")]
ShiftHours = Annotated[int, Field(gt=0, le=MAX_SHIFT_HOURS)]
Shifts = Annotated[int, Field(ge=1, le=MAX_SHIFTS)]
"""A length in shifts: a request, a block."""
ShiftCount = Annotated[int, Field(ge=0, le=MAX_SHIFTS)]
"""A shift number or a gap in shifts, which may be none."""
Units = Annotated[int, Field(ge=1, le=MAX_UNITS)]
MissedRounds = Annotated[int, Field(ge=0, le=MAX_MISSED_ROUNDS)]
Grade = Annotated[float, Field(ge=-1e6, le=1e6)]
Weight = Annotated[float, Field(ge=0.0, le=1e6)]
"""A priority, bonus or penalty: finite, so that sums of them stay exact enough to compare."""
Instant = Annotated[
    AwareDatetime,
    Field(description=f"ISO 8601 with an offset, in the years {FIRST_YEAR} to {LAST_YEAR}"),
    AfterValidator(_within_years),
]
UTCInstant = Annotated[datetime, AfterValidator(_in_utc)]
"""Instants in answers: UTC, whatever offset they were sent in."""
Timezone = Annotated[
    str,
    Field(
        max_length=64,
        description="An IANA timezone",
        json_schema_extra={"enum": sorted(_timezones())},  # every one the validator knows
    ),
    AfterValidator(_known_timezone),
]


class Input(BaseModel):
    """A request body: unknown keys are refused, so a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _null_only_where_clearable_in_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The JSON Schema of an `Update` says what its validator does: null only for the fields in `nullable`."""
    nullable: frozenset[str] = getattr(model, "nullable", frozenset())
    properties = schema.get("properties", {})
    for name, field in model.model_fields.items():
        found = properties.get(field.alias or name)
        if found is None or name in nullable or "anyOf" not in found:
            continue
        options = [option for option in found.pop("anyOf") if option.get("type") != "null"]
        found.update(options[0] if len(options) == 1 else {"anyOf": options})
        if found.get("default", ...) is None:
            del found["default"]


class Update(Input):
    """A partial change: absent fields stay as they are; null clears only the fields in `nullable`."""

    model_config = ConfigDict(json_schema_extra=_null_only_where_clearable_in_schema)

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*")
    @classmethod
    def _null_only_where_clearable(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("may not be null")
        return value

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class Output(BaseModel):
    """An answer, read from rows or dictionaries."""

    model_config = ConfigDict(from_attributes=True)
