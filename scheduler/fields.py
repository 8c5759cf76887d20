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


INVISIBLE_CHARACTERS: tuple[tuple[int, int], ...] = (
    (0x0000, 0x001F),  # control characters (Cc)
    (0x007F, 0x009F),  # delete and the C1 controls (Cc)
    (0x00AD, 0x00AD),  # soft hyphen
    (0x0600, 0x0605),  # Arabic number signs
    (0x061C, 0x061C),  # Arabic letter mark
    (0x06DD, 0x06DD),  # Arabic end of ayah
    (0x070F, 0x070F),  # Syriac abbreviation mark
    (0x0890, 0x0891),  # Arabic pound and piastre marks above
    (0x08E2, 0x08E2),  # Arabic disputed end of ayah
    (0x180E, 0x180E),  # Mongolian vowel separator
    (0x200B, 0x200F),  # zero-width space, non-joiner and joiner; left-to-right and right-to-left marks
    (0x2028, 0x202E),  # line and paragraph separators; bidi embeddings, pop and overrides
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2066, 0x206F),  # bidi isolates; deprecated format characters
    (0xFEFF, 0xFEFF),  # zero-width no-break space (byte-order mark)
    (0xFFF9, 0xFFFB),  # interlinear annotation marks
    (0x110BD, 0x110BD),  # Kaithi number sign
    (0x110CD, 0x110CD),  # Kaithi number sign above
    (0x13430, 0x13438),  # Egyptian hieroglyph format controls
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0001, 0xE0001),  # language tag
    (0xE0020, 0xE007F),  # tag characters
)
"""Code points refused in names, titles and codes: the Unicode categories Cc (controls), Cf (format characters:
bidi controls, zero-width characters, invisible operators, tags) and the line and paragraph separators. They
vanish, or change how the text around them reads, so a name holding one can pass for another (a title with
U+202E reads backwards in a calendar). `tests/test_proposal_limits.py` holds the list against Python's Unicode
database."""


def _character_class(spans: tuple[tuple[int, int], ...]) -> str:
    """A regex character class of `spans` that Python's `re` and ECMA-262 with the `u` flag read alike: escapes for
    the basic plane, the characters themselves beyond it (neither engine shares an escape for those)."""

    def one(point: int) -> str:
        return f"\\u{point:04X}" if point <= 0xFFFF else chr(point)

    return "".join(one(low) if low == high else f"{one(low)}-{one(high)}" for low, high in spans)


_INVISIBLE = _character_class(INVISIBLE_CHARACTERS)
_SPACE = _character_class(((0x20, 0x20),))
_SHOWN = re.compile(f"[{_INVISIBLE}]")
_CODE_BREAKER = re.compile(f"[{_SPACE}{_INVISIBLE}]")


def _shown_as_written(value: str) -> str:
    if hidden := _SHOWN.search(value):
        raise ValueError(
            f"no control, invisible or direction-changing characters: U+{ord(hidden.group()):04X} at {hidden.start()}"
        )
    return value


def _one_word(value: str) -> str:
    if broken := _CODE_BREAKER.search(value):
        raise ValueError(
            f"no spaces, control, invisible or direction-changing characters: U+{ord(broken.group()):04X} "
            f"at {broken.start()}"
        )
    return value


_LINE: dict[str, Any] = {"pattern": f"^[^{_INVISIBLE}]+$"}
_OPTIONAL_LINE: dict[str, Any] = {"pattern": f"^[^{_INVISIBLE}]*$"}
"""The JSON Schema's words for `_shown_as_written`, so a client (and schemathesis) knows what passes."""

Code = Annotated[
    str,
    Field(
        min_length=1,
        max_length=CODE_LENGTH,
        description="A unique id: no spaces, control or invisible characters.",
        json_schema_extra={"pattern": f"^[^{_SPACE}{_INVISIBLE}]+$"},
    ),
    AfterValidator(_one_word),
]
Name = Annotated[
    str, Field(min_length=1, max_length=NAME_LENGTH, json_schema_extra=_LINE), AfterValidator(_shown_as_written)
]
"""A person's, place's or thing's name, shown as it is written."""
Title = Annotated[
    str, Field(min_length=1, max_length=TITLE_LENGTH, json_schema_extra=_LINE), AfterValidator(_shown_as_written)
]
Institution = Annotated[
    str, Field(max_length=TITLE_LENGTH, json_schema_extra=_OPTIONAL_LINE), AfterValidator(_shown_as_written)
]
"""A person's institution, which may be left empty."""


_ADDRESS = r"[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+"
_EMAIL = re.compile(f"^{_ADDRESS}$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.fullmatch(value):
        raise ValueError("not an e-mail address")
    return value


Email = Annotated[str, Field(max_length=254, pattern=rf"^\s*{_ADDRESS}\s*$"), AfterValidator(_email)]
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
Version = Annotated[
    int,
    Field(description='Counts the changes of the thing; its `ETag` (`"3"`), which a change may send as `If-Match`.'),
]
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
