"""What the API takes and answers for rounds, their phases and their quotas.

Quotas and scoring are nouns of the round file: their fields, bounds and checks are the
contract's (`contract.Quota`, `contract.Scoring`), and a round's shift grid takes its
bounds from `contract.RoundInfo`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import ConfigDict, Field

from scheduler.catalogue.schemas import Span, contract_field
from scheduler.fields import Code, Country, Input, Instant, Name, Output, Update, UTCInstant, Version
from scheduler.roundfile import contract
from scheduler.roundfile.contract import QuotaCategory, QuotaScope, Scoring

Phase = Literal["open", "review", "allocation", "published", "running", "closed"]
PHASES: tuple[Phase, ...] = get_args(Phase)
FrozenHorizonDays = Annotated[int, Field(ge=0, le=3650)]
FacilityCodes = Annotated[
    list[Code],
    Field(
        min_length=1,
        json_schema_extra={"uniqueItems": True},
        description="Codes of the facilities the round allocates, each once.",
    ),
]
CountryGroups = dict[Code, list[Country]]


class RoundCreate(Span):
    code: Code
    name: Name
    shift_hours: int = contract_field(contract.RoundInfo, "shift_hours")
    call_closes: Instant | None = None
    review_closes: Instant | None = None
    frozen_horizon_days: FrozenHorizonDays = 14
    facilities: FacilityCodes
    equipment: list[Code] = Field(
        default_factory=list, description="Codes of the equipment requests of the round may use."
    )
    country_groups: CountryGroups = Field(default_factory=dict)
    scoring: Scoring | None = None


class RoundUpdate(Update):
    nullable = frozenset({"call_closes", "review_closes", "scoring"})

    name: Name | None = None
    start: Instant | None = None
    end: Instant | None = None
    shift_hours: int | None = contract_field(contract.RoundInfo, "shift_hours", default=None)
    call_closes: Instant | None = None
    review_closes: Instant | None = None
    frozen_horizon_days: FrozenHorizonDays | None = None
    facilities: FacilityCodes | None = None
    equipment: list[Code] | None = None
    country_groups: CountryGroups | None = None
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
    version: Version
    created_at: datetime


class CatalogueMergeReport(Output):
    """What a round file changed in the catalogue rounds share (`scheduler.rounds.catalogue_merge`), item by item,
    as its audit entry `round.catalogue_merge` keeps it."""

    added: dict[str, list[str]] = Field(description="Per kind (facility, instrument, equipment, window): added.")
    changed: dict[str, list[str]] = Field(description="Per kind: stored items the file changed.")
    kept: dict[str, list[str]] = Field(
        description="Per kind: items the file gives as stored, and windows other rounds rely on that it leaves out."
    )
    removed_windows: list[str] = Field(description="Windows in the round's period only this round relied on.")
    other_rounds: list[int] = Field(description="Other rounds whose solve input the merge changed.")
    disrupted_published_allocations: list[dict[str, str]] = Field(
        description="Published allocations of other rounds that a window the file added now blocks."
    )


class RoundImported(RoundPublic):
    """A round created from a round file, with what its catalogue part changed in the shared catalogue."""

    catalogue_merge: CatalogueMergeReport


class QuotaCreate(Input, contract.Quota):
    """A round file's quota, with its fields and bounds check; its `id` is called `code` in the API."""

    model_config = ConfigDict(serialize_by_alias=True)

    id: Code = Field(alias="code")


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
    version: Version
