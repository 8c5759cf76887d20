"""Building blocks of the domain's request and response schemas.

Every bound here keeps a value the database would refuse (a NUL in a string, a
number past a 32-bit column, a naive or far-off time) out at the edge, where it
becomes a validation problem with a JSON path instead of a server error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, ClassVar
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

MAX_INT = 2**31 - 1
"""The largest integer a database column takes on every backend."""


def _within_years(moment: datetime) -> datetime:
    if not 1900 <= moment.year <= 2200:
        raise ValueError("the year must be between 1900 and 2200")
    return moment


def _in_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _known_timezone(name: str) -> str:
    if name not in _timezones():
        raise ValueError(f"unknown IANA timezone {name!r}")
    return name


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x20]+$", description="A unique id.")]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
Text = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code")]
Count = Annotated[int, Field(ge=0, le=100_000)]
Instant = Annotated[AwareDatetime, Field(description="ISO 8601 with an offset"), AfterValidator(_within_years)]
UTCInstant = Annotated[datetime, AfterValidator(_in_utc)]
"""Instants in answers: UTC, whatever offset they were sent in."""
Timezone = Annotated[str, Field(max_length=64, description="An IANA timezone"), AfterValidator(_known_timezone)]


class Input(BaseModel):
    """A request body: unknown keys are refused, so a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Update(Input):
    """A partial change: absent fields stay as they are; null clears only the fields in `nullable`."""

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
