"""What the proposal endpoints take and answer.

A proposal's people, requests, intervals and links are the round file's nouns
(`scheduler.roundfile.contract`): the bodies here derive from them and only
tighten the bounds the database needs, so a body is also something the round
file's checks (`scheduler.roundfile.checks.check_proposal`) can judge. A request
in a body is named by its `label` (the contract's `id`); it is stored as
`<proposal code>-<label>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import Field

from scheduler.fields import (
    MAX_CHOICES,
    MAX_INT,
    MAX_LINKS_PER_PROPOSAL,
    MAX_REQUESTS_PER_PROPOSAL,
    MAX_TEAM,
    Code,
    Grade,
    Input,
    Instant,
    MissedRounds,
    Output,
    Shifts,
    Title,
    UTCInstant,
    Version,
)
from scheduler.roundfile import contract
from scheduler.roundfile.contract import ProposalType
from scheduler.roundfile.scoring import ProposalScore

Label = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,24}$")]


class PersonIn(Input, contract.PersonBase):
    """The round file's person: a name and institution shown as written, no invisible characters."""


class IntervalIn(Input, contract.Interval):
    start: Instant
    end: Instant


class RequestIn(Input, contract.Request):
    id: Label = Field(
        alias="label",
        description="The request's name within the proposal; its id in the round is `<proposal code>-<label>`.",
    )
    instruments: Annotated[
        list[Code], Field(min_length=1, max_length=MAX_CHOICES, description="Acceptable instruments, preferred first.")
    ]
    shifts: Shifts
    min_shifts: Shifts | None = Field(default=None, description="The shortest useful block; `shifts` when absent.")
    equipment: list[Code] = Field(default_factory=list, max_length=MAX_CHOICES)
    earliest: Instant | None = None
    latest: Instant | None = None
    # Narrower items than the contract's (bounded years); pydantic validates them, nothing writes the list back.
    unavailable: list[IntervalIn] = Field(default_factory=list, max_length=MAX_CHOICES)  # type: ignore[assignment]


class AllOrNothingLinkIn(Input, contract.AllOrNothingLink):
    requests: Annotated[list[Label], Field(min_length=2)]


class AfterLinkIn(Input, contract.AfterLink):
    first: Label
    then: Label


LinkIn = Annotated[AllOrNothingLinkIn | AfterLinkIn, Field(discriminator="type")]


class BonusFacts(Input):
    """The facts that earn grade bonuses (`docs/scoring.md`): a proposer's claim until a coordinator confirms them."""

    missed_rounds: MissedRounds = Field(
        default=0, description="Earlier rounds in a row the proposal got no time although above the cut-off."
    )
    first_time_users: bool = Field(default=False, description="No one in the team has had time at the facility.")
    early_career_pi: bool = Field(default=False, description="The PI is early in their career.")


class ProposalContent(BonusFacts):
    """What a proposer writes: submitted, and replaced whole while the call is open.

    The bonus facts in it are a claim: they earn nothing until a coordinator confirms them.
    """

    title: Title
    type: ProposalType
    pi: PersonIn
    team: list[PersonIn] = Field(default_factory=list, max_length=MAX_TEAM)
    requests: Annotated[list[RequestIn], Field(min_length=1, max_length=MAX_REQUESTS_PER_PROPOSAL)]
    links: list[LinkIn] = Field(default_factory=list, max_length=MAX_LINKS_PER_PROPOSAL)


class PersonPublic(Output, contract.PersonBase):
    pass


class IntervalPublic(Output, contract.Interval):
    start: UTCInstant
    end: UTCInstant


class RequestPublic(Output):
    id: int
    code: str
    label: str = Field(description="The code without the proposal's code in front.")
    instruments: list[str]
    shifts: int
    min_shifts: int | None
    equipment: list[str]
    earliest: UTCInstant | None
    latest: UTCInstant | None
    unavailable: list[IntervalPublic]


class AllOrNothingLinkPublic(Output, contract.AllOrNothingLink):
    pass


class AfterLinkPublic(Output, contract.AfterLink):
    pass


LinkPublic = Annotated[AllOrNothingLinkPublic | AfterLinkPublic, Field(discriminator="type")]


TechnicallyFeasible = Annotated[bool | None, Field(description="None to reviewers: the verdict is the coordinators'.")]
InadmissibleReason = Annotated[
    str | None, Field(description="Why the coordinators declared it inadmissible: it gets no time. None: admissible.")
]


class ProposalHeading(Output):
    """What names a proposal, in its full view and in a list of them alike."""

    id: int
    round_id: int
    code: str
    owner_id: int | None
    title: str
    type: ProposalType
    version: Version


class ProposalPublic(ProposalHeading):
    pi: PersonPublic
    team: list[PersonPublic]
    requests: list[RequestPublic]
    links: list[LinkPublic]
    priority: float | None
    technically_feasible: TechnicallyFeasible
    withdrawn: bool
    inadmissible_reason: InadmissibleReason = None
    missed_rounds: int
    first_time_users: bool
    early_career_pi: bool
    bonus_facts_confirmed: bool = Field(
        description="A coordinator confirmed the three facts above; until then they are a claim and earn no bonus."
    )
    type_confirmed: bool = Field(
        description="The facility's coordinators confirmed an `in_house` or `industrial` type at the feasibility "
        "review; until then the proposal counts as `standard` in quotas. A rewrite changing the type resets it."
    )
    created_at: datetime
    updated_at: datetime


class ProposalSummary(ProposalHeading):
    pi_name: str
    pi_country: str
    technically_feasible: TechnicallyFeasible
    withdrawn: bool
    inadmissible_reason: InadmissibleReason = None


class Admissibility(Input):
    admissible: bool
    reason: Title = Field(
        description="Why: shown to the proposer while the proposal is not admissible, kept in the audit either way."
    )


class Feasibility(Input):
    technically_feasible: bool
    type_confirmed: bool | None = Field(
        default=None,
        description="The coordinators' word on an `in_house` or `industrial` type: only a confirmed one counts in "
        "quotas of that type (else the proposal counts as `standard`). Absent: as it is.",
    )


class AssignmentIn(Input):
    user_id: Annotated[int, Field(ge=1, le=MAX_INT)]


class AssignmentPublic(Output):
    proposal_id: int
    user_id: int
    name: str
    email: str


class ReviewIn(Input):
    grade: Grade | None = Field(
        default=None, description="On the round's scale; may be left out when declaring a conflict."
    )
    conflict: bool = Field(default=False, description="The reviewer has a conflict of interest: the grade is ignored.")
    comment: Annotated[str, Field(max_length=20_000, pattern=r"^[^\x00]*$")] = ""


class ReviewVoid(Input):
    reason: Annotated[str, Field(min_length=1, max_length=2_000, pattern=r"^[^\x00-\x1f]*\S[^\x00-\x1f]*$")] = Field(
        description="Why the review no longer counts: kept with it and in the audit."
    )


class ReviewPublic(Output):
    id: int
    proposal_id: int
    reviewer: str
    reviewer_id: int | None
    grade: float
    conflict: bool
    comment: str
    voided_at: UTCInstant | None = Field(description="Set once the review no longer counts.")
    void_reason: str | None = Field(description="Why: its reviewer was unassigned, or a coordinator's reason.")


@dataclass(frozen=True)
class RankingRow(ProposalScore):
    """A row of the ranking as the API shows it: the proposal's score and the proposal's id."""

    proposal_id: int
