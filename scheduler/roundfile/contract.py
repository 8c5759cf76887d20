"""The round file and schedule file, format 1 (`docs/round-format.md`).

The models follow the spec key for key. Unknown keys are rejected at every
level, because a typo in a quota or a window must not be silently ignored.
Every number, string, instant and list is bounded, with the API's bounds
(`scheduler.fields`), so that an absurd file is refused as such instead of
being stored or solved.
Checks that need more than one field (ids, cross references, the shift grid)
live in `scheduler.roundfile.checks`, so that every problem is reported at once.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from scheduler.fields import (
    MAX_CHOICES,
    MAX_LINKS_PER_PROPOSAL,
    MAX_MISSED_ROUNDS,
    MAX_REQUESTS_PER_PROPOSAL,
    MAX_TEAM,
    Code,
    Email,
    Grade,
    Instant,
    Institution,
    MissedRounds,
    Name,
    ShiftCount,
    ShiftHours,
    Shifts,
    Text,
    Timezone,
    Title,
    Units,
    Weight,
)

ROUND_FORMAT = "beamtime-round/1"
SCHEDULE_FORMAT = "beamtime-schedule/1"

MAX_FACILITIES = 100
MAX_INSTRUMENTS = 500
"""Per facility."""
MAX_WINDOWS = 5_000
"""Per facility or instrument."""
MAX_EQUIPMENT = 1_000
MAX_QUOTAS = 1_000
MAX_PROPOSALS = 10_000
MAX_REVIEWS = 100
"""Per proposal."""
MAX_COUNTRY_GROUPS = 300
MAX_COUNTRIES = 300
"""Per country group."""
MAX_TECHNIQUES = 50
MAX_FAIR_RETURN_HISTORY = 100_000
"""History entries: a target per past round, for decades of rounds."""
MAX_HISTORY_SHIFTS = 10_000_000.0
MAX_REQUESTS = 20_000
"""In a round: the engine's greedy start stays well under a second at 8,000."""

Id = Code
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code")]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
ProposalType = Literal["standard", "rapid_access", "long_term", "industrial", "in_house"]
WindowKind = Literal["maintenance", "machine_development", "shutdown", "other"]
UnallocatedReason = Literal["below_cutoff", "not_feasible", "capacity", "quota", "window", "link", "equipment"]
Status = Literal["optimal", "feasible", "infeasible", "unknown"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Interval(Strict):
    start: Instant
    end: Instant


class Window(Interval):
    kind: WindowKind
    reason: Text = ""


class RoundInfo(Strict):
    id: Id
    name: Name
    start: Instant
    end: Instant
    shift_hours: ShiftHours = 8


class Instrument(Strict):
    id: Id
    name: Name
    techniques: Annotated[list[Name], Field(max_length=MAX_TECHNIQUES)] = []
    changeover_shifts: ShiftCount = 0
    reserve_share: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    maintenance: Annotated[list[Window], Field(max_length=MAX_WINDOWS)] = []


class Facility(Strict):
    id: Id
    name: Name
    country: Country
    timezone: Timezone
    maintenance: Annotated[list[Window], Field(max_length=MAX_WINDOWS)] = []
    instruments: Annotated[list[Instrument], Field(max_length=MAX_INSTRUMENTS)]


class Equipment(Strict):
    id: Id
    name: Name
    units: Units = 1


class QuotaScope(Strict):
    facilities: Annotated[list[Id], Field(max_length=MAX_FACILITIES)] | None = None
    instruments: Annotated[list[Id], Field(max_length=MAX_FACILITIES * MAX_INSTRUMENTS)] | None = None


class Category(Strict):
    """Exactly one key is set: whose time a share counts (a fair-return target's category)."""

    foreign: Literal[True] | None = None
    domestic: Literal[True] | None = None
    country: Country | None = None
    country_group: Id | None = None
    proposal_type: ProposalType | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Category:
        chosen = [key for key, value in self.model_dump().items() if value is not None]
        if len(chosen) != 1:
            raise ValueError(f"a category has exactly one key, got {chosen or 'none'}")
        return self


class QuotaCategory(Category):
    """A quota's category: also the `each_*` forms, which hold for every country separately.

    `scheduler.roundfile.quotas` turns it into per-request weights.
    """

    each_country: Literal[True] | None = None
    each_foreign_country: Literal[True] | None = None


class Quota(Strict):
    id: Id
    scope: QuotaScope = QuotaScope()
    category: QuotaCategory
    min_share: Share | None = None
    max_share: Share | None = None
    attribution: Literal["pi", "team"] = "pi"
    soft: bool = False
    penalty: Weight | None = Field(
        default=None, description="Cost per shift of shortfall or excess of a soft quota; 1.0 when absent."
    )

    @model_validator(mode="after")
    def _bounds(self) -> Quota:
        if self.min_share is None and self.max_share is None:
            raise ValueError("a quota needs min_share, max_share or both")
        if self.min_share is not None and self.max_share is not None and self.min_share > self.max_share:
            raise ValueError(f"min_share {self.min_share} is above max_share {self.max_share}")
        return self


class PersonBase(Strict):
    """Who a person is, as a proposer writes them (the API's bodies take this shape)."""

    name: Name
    institution: Institution = ""
    country: Country
    email: Email | None = Field(
        default=None,
        description="Extension: the person's account e-mail, the identity conflicts of interest are decided on "
        "(a reviewer whose identity it is may not grade the proposal); never the display name.",
    )


class Person(PersonBase):
    """A proposal's PI or team member in a round file: who they are, and whether their country counts."""

    country_confirmed: bool = Field(
        default=True,
        description="False: the country is the person's own claim, not confirmed by the facility; "
        "their part of the proposal's time counts in no country's quota and earns no country-group bonus.",
    )


class Review(Strict):
    reviewer: Name
    """Who graded: their account e-mail in rounds the service keeps, else an id the user office gives.
    Scoring matches a reviewer's grades across proposals by it, and conflicts by it against the people's `email`."""
    grade: Grade
    conflict: bool = False


class Request(Strict):
    id: Id
    instruments: Annotated[list[Id], Field(min_length=1, max_length=MAX_CHOICES)]
    shifts: Shifts
    min_shifts: Shifts | None = None
    equipment: Annotated[list[Id], Field(max_length=MAX_CHOICES)] = []
    earliest: Instant | None = None
    latest: Instant | None = None
    unavailable: Annotated[list[Interval], Field(max_length=MAX_CHOICES)] = []

    @property
    def shortest(self) -> int:
        return self.shifts if self.min_shifts is None else self.min_shifts


class AllOrNothingLink(Strict):
    type: Literal["all_or_nothing"]
    requests: Annotated[list[Id], Field(min_length=2, max_length=MAX_REQUESTS_PER_PROPOSAL)]


class AfterLink(Strict):
    type: Literal["after"]
    first: Id
    then: Id
    min_gap_shifts: ShiftCount = 0
    max_gap_shifts: ShiftCount | None = None


Link = Annotated[AllOrNothingLink | AfterLink, Field(discriminator="type")]


class Proposal(Strict):
    id: Id
    title: Title
    type: ProposalType
    pi: Person
    team: Annotated[list[Person], Field(max_length=MAX_TEAM)] = []
    priority: Annotated[Weight, Field(gt=0.0)] | None = None
    reviews: Annotated[list[Review], Field(max_length=MAX_REVIEWS)] = []
    technically_feasible: bool = True
    requests: Annotated[list[Request], Field(min_length=1, max_length=MAX_REQUESTS_PER_PROPOSAL)]
    links: Annotated[list[Link], Field(max_length=MAX_LINKS_PER_PROPOSAL)] = []
    missed_rounds: MissedRounds = Field(
        default=0,
        description="Extension: earlier rounds in a row this proposal was resubmitted after getting no time "
        "although above the cut-off; drives score ageing.",
    )
    first_time_users: bool = Field(
        default=False, description="Extension: no one in the team has had time at the facility before."
    )
    early_career_pi: bool = Field(default=False, description="Extension: the PI is early in their career.")


class Bonuses(Strict):
    """Extension: policy bonuses in grade units, each applied towards `grade_best`."""

    ageing_per_round: Weight = Field(
        default=0.0, description="Per missed round of a resubmitted proposal (`missed_rounds`)."
    )
    ageing_max: Weight | None = Field(default=None, description="Cap on the total ageing bonus; none when absent.")
    ageing_max_rounds: Annotated[int, Field(ge=0, le=MAX_MISSED_ROUNDS)] = Field(
        default=3, description="Extension: the most missed rounds that earn the ageing bonus."
    )
    first_time_users: Weight = 0.0
    early_career_pi: Weight = 0.0
    country_groups: dict[Id, Weight] = Field(
        default={},
        max_length=MAX_COUNTRY_GROUPS,
        description="Group name -> bonus when the PI's country is in it; the largest applies.",
    )


class Scoring(Strict):
    grade_best: Grade
    grade_worst: Grade
    aggregate: Literal["mean", "median", "trimmed_mean"] = "mean"
    normalize_reviewers: bool = False
    min_reviews: Annotated[int, Field(ge=0, le=MAX_REVIEWS)] = 1
    cutoff: Grade | None = None
    bonuses: Bonuses | None = None
    trim_per_end: Annotated[int, Field(ge=1, le=MAX_REVIEWS)] = Field(
        default=1, description="Extension: grades `trimmed_mean` drops at each end, keeping at least one."
    )
    normalize_min_grades: Annotated[int, Field(ge=2, le=MAX_PROPOSALS * MAX_REVIEWS)] = Field(
        default=3, description="Extension: fewest grades in the round for a reviewer to be normalised."
    )
    normalize_mean: Grade | None = Field(
        default=None, description="Extension: target mean of normalised grades; the round's mean when absent."
    )
    normalize_sd: Annotated[Grade, Field(gt=0.0)] | None = Field(
        default=None,
        description="Extension: target standard deviation of normalised grades; the round's when absent.",
    )

    @model_validator(mode="after")
    def _scale(self) -> Scoring:
        if self.grade_best == self.grade_worst:
            raise ValueError("grade_best and grade_worst must differ")
        return self


class FairReturnTarget(Strict):
    """`category` is owed `share` of the time in `scope`, over this round and the rounds in the history."""

    id: Id
    category: Category
    share: Share
    scope: QuotaScope = QuotaScope()


class FairReturnHistory(Strict):
    """One past round's figures for one target: all shifts allocated in its scope, and the target's part."""

    round: Id
    target: Id
    shifts_total: Annotated[float, Field(ge=0.0, le=MAX_HISTORY_SHIFTS)]
    shifts: Annotated[float, Field(ge=0.0, le=MAX_HISTORY_SHIFTS)]

    @model_validator(mode="after")
    def _part_of_total(self) -> FairReturnHistory:
        if self.shifts > self.shifts_total:
            raise ValueError(f"shifts {self.shifts:g} is more than shifts_total {self.shifts_total:g}")
        return self


class FairReturn(Strict):
    targets: Annotated[list[FairReturnTarget], Field(min_length=1, max_length=MAX_QUOTAS)]
    history: Annotated[list[FairReturnHistory], Field(max_length=MAX_FAIR_RETURN_HISTORY)] = []
    attribution: Literal["pi", "team"] = "team"
    price_per_shift: Weight | None = Field(
        default=None, description="Cost per owed shift; the median priority of the schedulable requests when absent."
    )


class PreviousAllocation(Strict):
    request: Id
    instrument: Id
    start_shift: ShiftCount
    shifts: Shifts
    pinned: bool = False


class RoundFile(Strict):
    format: Literal["beamtime-round/1"]
    round: RoundInfo
    country_groups: Annotated[
        dict[Id, Annotated[list[Country], Field(max_length=MAX_COUNTRIES)]], Field(max_length=MAX_COUNTRY_GROUPS)
    ] = {}
    facilities: Annotated[list[Facility], Field(min_length=1, max_length=MAX_FACILITIES)]
    equipment: Annotated[list[Equipment], Field(max_length=MAX_EQUIPMENT)] = []
    quotas: Annotated[list[Quota], Field(max_length=MAX_QUOTAS)] = []
    proposals: Annotated[list[Proposal], Field(max_length=MAX_PROPOSALS)] = []
    scoring: Scoring | None = None
    previous_schedule: Annotated[list[PreviousAllocation], Field(max_length=MAX_REQUESTS)] | None = None
    fair_return: FairReturn | None = None


class Allocation(Strict):
    proposal: Id
    request: Id
    instrument: Id
    start_shift: ShiftCount
    shifts: Shifts
    start: AwareDatetime
    end: AwareDatetime
    priority: float
    pinned: bool = Field(default=False, description="Extension: kept from a pinned previous allocation.")


class Competitor(Strict):
    request: Id
    priority: float


StayReason = Literal[
    "pinned", "link", "quota", "soft_quota", "stability", "objective", "equipment", "reserve", "search_limit"
]
"""Why a lower-ranked block whose removal alone would make room for a request stays (docs/round-format.md)."""


class HeldBlock(Strict):
    """A lower-ranked allocation whose removal alone would make room for the unallocated request."""

    request: Id
    stays_because: StayReason


class Unallocated(Strict):
    proposal: Id
    request: Id
    reason: UnallocatedReason
    detail: str | None = Field(default=None, description="Extension: the reason in words.")
    competitors: Annotated[list[Competitor], Field(max_length=MAX_REQUESTS)] | None = Field(
        default=None,
        description="The allocations holding the time this request could use in its dates on its instruments, "
        "lower-ranked first.",
    )
    held: Annotated[list[HeldBlock], Field(max_length=MAX_REQUESTS)] | None = Field(
        default=None,
        description="Extension: the lower-ranked competitors whose removal alone would make room, and why each stays.",
    )


class RankFairness(Strict):
    """Extension: how often a lower-ranked block holds time that a better unallocated request could take alone."""

    requests: Annotated[int, Field(ge=0, description="Unallocated requests with at least one held block.")]
    blocks: Annotated[int, Field(ge=0, description="Held blocks, counted once per request they hold back.")]
    # Keyed by StayReason (checked below): Litestar documents a Literal-keyed or length-bounded map as an array.
    stays_because: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default={}, description="Held blocks by why they stay (keys: the `stays_because` reasons)."
    )

    @field_validator("stays_because")
    @classmethod
    def _known_reasons(cls, counts: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(counts) - set(get_args(StayReason)))
        if unknown:
            raise ValueError(f"unknown reasons {unknown}: one of {list(get_args(StayReason))}")
        return counts


class QuotaReport(Strict):
    id: Id
    share: float | None
    min_share: float | None
    max_share: float | None
    met: bool
    penalty: float | None = Field(default=None, description="Extension: soft-quota penalty paid.")


class FairReturnReport(Strict):
    """A fair-return target after this round; shares are None where their total is zero."""

    id: Id
    history_share: float | None
    round_share: float | None
    cumulative_share: float | None
    deficit: float


class Slot(Strict):
    instrument: Id
    start_shift: ShiftCount
    shifts: Shifts
    start: AwareDatetime
    end: AwareDatetime


class AllocationChange(Strict):
    request: Id
    proposal: Id
    before: Slot | None
    after: Slot | None


class ScheduleChanges(Strict):
    """Extension for re-solves: how the schedule differs from the one in force."""

    moved: list[AllocationChange] = []
    resized: list[AllocationChange] = []
    dropped: list[AllocationChange] = []
    added: list[AllocationChange] = []


class ScheduleFile(Strict):
    format: Literal["beamtime-schedule/1"]
    round: Id
    status: Status
    objective: float
    bound: float | None
    solve_seconds: float
    allocations: Annotated[list[Allocation], Field(max_length=MAX_REQUESTS)]
    unallocated: Annotated[list[Unallocated], Field(max_length=MAX_REQUESTS)]
    quotas: Annotated[list[QuotaReport], Field(max_length=MAX_QUOTAS)]
    notes: list[str] = Field(
        default=[], max_length=MAX_REQUESTS, description="Extension: infeasibility causes and warnings, in words."
    )
    fair_return: Annotated[list[FairReturnReport], Field(max_length=MAX_QUOTAS)] | None = None
    rank_fairness: RankFairness | None = None
    changes: ScheduleChanges | None = Field(
        default=None, description="Extension: changes against the schedule in force."
    )
