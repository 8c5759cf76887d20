"""The referee: checks a schedule file against the hard rules of its round file.

It is written apart from the solver on purpose (it imports neither `solver` nor
`scheduler.roundfile.grid`), so that a mistake in the model cannot hide behind a shared
helper: property tests run every schedule the solver writes through
`validate_schedule`. Rule numbers are those of "Hard rules of a valid schedule"
in `docs/round-format.md`; rule 0 is the reported objective.

The checks assume a round file that passed its own consistency checks; an
equipment id or country group the round does not define is ignored here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from fractions import Fraction

from scheduler.roundfile.contract import (
    Allocation,
    AllOrNothingLink,
    Facility,
    Instrument,
    Person,
    Proposal,
    Quota,
    QuotaCategory,
    QuotaScope,
    Request,
    RoundFile,
    RoundInfo,
    ScheduleFile,
)

RESERVE_TOLERANCE = 1e-9
OBJECTIVE_RELATIVE_TOLERANCE = 1e-6
WHOLE_CATEGORY = "*"
"""Key of `attributed_fractions` for categories bounded as a whole (all but the each_* ones)."""


@dataclass(frozen=True)
class Violation:
    rule: int
    path: str
    message: str


def format_violations(violations: Iterable[Violation]) -> str:
    return "\n".join(f"rule {v.rule} at {v.path}: {v.message}" for v in violations)


@dataclass(frozen=True)
class _Grid:
    """The shift grid; it adds hours in UTC, so that they are elapsed hours, and shows the round's offset."""

    start: datetime
    step: timedelta
    count: int
    zone: tzinfo | None

    @classmethod
    def of(cls, round_info: RoundInfo) -> _Grid:
        step = timedelta(hours=round_info.shift_hours)
        count = max(0, (round_info.end - round_info.start) // step)
        return cls(round_info.start.astimezone(UTC), step, count, round_info.start.tzinfo)

    def time(self, shift: int) -> datetime:
        return (self.start + shift * self.step).astimezone(self.zone)

    def overlapping(self, start: datetime, end: datetime) -> range:
        """The shifts of the grid that overlap [start, end): those that start before `end` and end after `start`."""
        first = (start - self.start) // self.step
        stop = -((self.start - end) // self.step)
        return range(max(0, first), min(self.count, stop))


@dataclass(frozen=True)
class _Placed:
    """An allocation whose request and instrument resolve in the round (the first one per request).

    Only these are checked against rules 2-9: the others already break rule 1.
    """

    path: str
    allocation: Allocation
    proposal: Proposal
    request: Request
    facility: Facility
    instrument: Instrument

    @property
    def start_shift(self) -> int:
        return self.allocation.start_shift

    @property
    def end_shift(self) -> int:
        return self.allocation.start_shift + self.allocation.shifts

    @property
    def label(self) -> str:
        return f"{self.request.id} on {self.instrument.id} [{self.start_shift}, {self.end_shift})"


def _requests(round_file: RoundFile) -> dict[str, tuple[Proposal, Request]]:
    return {request.id: (proposal, request) for proposal in round_file.proposals for request in proposal.requests}


def _instruments(round_file: RoundFile) -> dict[str, tuple[Facility, Instrument]]:
    return {
        instrument.id: (facility, instrument)
        for facility in round_file.facilities
        for instrument in facility.instruments
    }


class Referee:
    """The hard rules of one round, with what they read of the round indexed once (its grid, requests,
    instruments and blocked shifts), so that many schedules of the round are judged without indexing it again:
    a drag on the round page judges one would-be schedule after another. Read-only once made, but for what
    each hard quota attributes of each proposal's time at a facility (`attributed_fractions`), kept as first asked."""

    def __init__(self, round_file: RoundFile) -> None:
        self.round_file = round_file
        self.grid = _Grid.of(round_file.round)
        self.requests = _requests(round_file)
        self.instruments = _instruments(round_file)
        self.blocked = _blocked_shifts(round_file, self.grid)
        self._attributed: dict[tuple[str, str, str], dict[str, Fraction]] = {}

    def attributed(self, quota: Quota, placed: _Placed) -> dict[str, Fraction]:
        """`attributed_fractions` of the placed allocation's proposal at its facility, worked out once."""
        key = (quota.id, placed.proposal.id, placed.facility.country)
        fractions = self._attributed.get(key)
        if fractions is None:
            country_groups = self.round_file.country_groups
            fractions = attributed_fractions(placed.proposal, quota, placed.facility.country, country_groups)
            self._attributed[key] = fractions
        return fractions

    def violations(
        self,
        schedule: ScheduleFile,
        priorities: Mapping[str, float] | None = None,
        excluded: Collection[str] = (),
    ) -> list[Violation]:
        """Every broken hard rule, so that one run reports all problems of a schedule (`validate_schedule`)."""
        round_file, grid, blocked = self.round_file, self.grid, self.blocked
        placed, naming = _resolve(self, schedule)
        return [
            *_check_objective(self.requests, schedule, priorities),
            *naming,
            *_check_coverage(round_file, self.requests, schedule),
            *_check_competitors(schedule),
            *_check_blocks(placed, grid, blocked),
            *_check_changeovers(placed),
            *_check_request_windows(placed, grid),
            *_check_equipment(round_file, placed),
            *_check_links(round_file, placed),
            *_check_reserves(self, placed),
            *_check_quotas(self, placed),
            *_check_pins(round_file, placed),
            *_check_excluded(placed, set(excluded)),
        ]


def validate_schedule(
    round_file: RoundFile,
    schedule: ScheduleFile,
    priorities: Mapping[str, float] | None = None,
    excluded: Collection[str] = (),
) -> list[Violation]:
    """Every broken hard rule, so that one run reports all problems of a schedule.

    `priorities` maps proposal ids to the priorities the scoring stage computed;
    `excluded` holds the proposals it gave no time (cut-off, too few reviews, ...).
    """
    return Referee(round_file).violations(schedule, priorities, excluded)


def _check_competitors(schedule: ScheduleFile) -> list[Violation]:
    """An unallocated request's competitors and held blocks are allocations of this schedule, at their priority."""
    priority = {allocation.request: allocation.priority for allocation in schedule.allocations}
    violations = []
    for index, unallocated in enumerate(schedule.unallocated):
        listed = unallocated.competitors or []
        # Most competitors are allocated at their priority: only the others are looked at twice.
        wrong = [k for k, c in enumerate(listed) if not math.isclose(c.priority, priority.get(c.request, math.nan))]
        for k in wrong:
            competitor = listed[k]
            allocated = priority.get(competitor.request)
            if allocated is None:
                path = f"$.unallocated[{index}].competitors[{k}]"
                violations.append(Violation(1, path, f"competitor {competitor.request} has no allocation"))
            elif not math.isclose(competitor.priority, allocated):
                violations.append(
                    Violation(
                        1,
                        f"$.unallocated[{index}].competitors[{k}]",
                        f"competitor {competitor.request} has priority {competitor.priority:g}, its allocation "
                        f"{allocated:g}",
                    )
                )
        if not unallocated.held:
            continue
        competitors = {competitor.request for competitor in listed}
        for k, held in enumerate(unallocated.held):
            if held.request not in competitors:
                violations.append(
                    Violation(
                        1, f"$.unallocated[{index}].held[{k}]", f"held block {held.request} is not a listed competitor"
                    )
                )
    return violations


def _blocked_shifts(round_file: RoundFile, grid: _Grid) -> dict[str, dict[int, str]]:
    """Per instrument, each blocked shift with the first window that blocks it, in words."""
    blocked: dict[str, dict[int, str]] = {}
    for facility in round_file.facilities:
        for instrument in facility.instruments:
            windows = [(w, f"facility {facility.id}") for w in facility.maintenance]
            windows += [(w, f"instrument {instrument.id}") for w in instrument.maintenance]
            shifts: dict[int, str] = {}
            for window, owner in windows:
                for shift in grid.overlapping(window.start, window.end):
                    shifts.setdefault(shift, f"{window.kind} window of {owner}")
            blocked[instrument.id] = dict(sorted(shifts.items()))
    return blocked


def _resolve(referee: Referee, schedule: ScheduleFile) -> tuple[list[_Placed], list[Violation]]:
    """Allocations the other rules can check, and the rule 1 violations of those naming wrong ids.

    A repeated request is left out here and reported by `_check_coverage`.
    """
    requests, instruments = referee.requests, referee.instruments
    placed: list[_Placed] = []
    violations: list[Violation] = []
    seen: set[str] = set()
    for index, allocation in enumerate(schedule.allocations):
        path = f"$.allocations[{index}]"
        if allocation.request not in requests:
            violations.append(Violation(1, path, f"request {allocation.request} is not in the round"))
            continue
        proposal, request = requests[allocation.request]
        if allocation.proposal != proposal.id:
            violations.append(
                Violation(
                    1,
                    path,
                    f"request {request.id} belongs to proposal {proposal.id}, not {allocation.proposal}",
                )
            )
        if allocation.instrument not in request.instruments or allocation.instrument not in instruments:
            violations.append(
                Violation(
                    1,
                    path,
                    f"request {request.id} asks for instruments {request.instruments}, not {allocation.instrument}",
                )
            )
            continue
        if request.id in seen:
            continue
        seen.add(request.id)
        facility, instrument = instruments[allocation.instrument]
        placed.append(_Placed(path, allocation, proposal, request, facility, instrument))
    return placed, violations


def _check_coverage(
    round_file: RoundFile, requests: Mapping[str, tuple[Proposal, Request]], schedule: ScheduleFile
) -> list[Violation]:
    """Every request of the round appears exactly once, in allocations or in unallocated."""
    violations: list[Violation] = []
    if schedule.round != round_file.round.id:
        violations.append(Violation(1, "$.round", f"schedule is for round {schedule.round}, not {round_file.round.id}"))
    entries = [(f"$.allocations[{i}]", a.request) for i, a in enumerate(schedule.allocations)]
    entries += [(f"$.unallocated[{i}]", u.request) for i, u in enumerate(schedule.unallocated)]
    first_seen: dict[str, str] = {}
    for path, request_id in entries:
        if request_id in first_seen:
            violations.append(
                Violation(1, path, f"request {request_id} appears again (first at {first_seen[request_id]})")
            )
        else:
            first_seen[request_id] = path
    for index, unallocated in enumerate(schedule.unallocated):
        path = f"$.unallocated[{index}]"
        if unallocated.request not in requests:
            violations.append(Violation(1, path, f"request {unallocated.request} is not in the round"))
        elif unallocated.proposal != requests[unallocated.request][0].id:
            owner = requests[unallocated.request][0].id
            violations.append(
                Violation(
                    1,
                    path,
                    f"request {unallocated.request} belongs to proposal {owner}, not {unallocated.proposal}",
                )
            )
    for request_id, (proposal, _) in requests.items():
        if request_id not in first_seen:
            violations.append(
                Violation(
                    1,
                    "$",
                    f"request {request_id} of proposal {proposal.id} is in neither allocations nor unallocated",
                )
            )
    return violations


def _check_objective(
    requests: Mapping[str, tuple[Proposal, Request]], schedule: ScheduleFile, priorities: Mapping[str, float] | None
) -> list[Violation]:
    """Rule 0: the primary objective, with each allocation priced by the proposal that owns its request."""

    def priority(allocation: Allocation) -> float:
        if allocation.request not in requests:
            return allocation.priority
        proposal = requests[allocation.request][0]
        if priorities is not None and proposal.id in priorities:
            return priorities[proposal.id]
        if proposal.priority is not None:
            return proposal.priority
        return allocation.priority

    expected = math.fsum(priority(a) * a.shifts for a in schedule.allocations)
    if math.isclose(schedule.objective, expected, rel_tol=OBJECTIVE_RELATIVE_TOLERANCE, abs_tol=1e-9):
        return []
    return [
        Violation(0, "$.objective", f"objective {schedule.objective} is not the sum of priority × shifts {expected}")
    ]


def _check_blocks(placed: list[_Placed], grid: _Grid, blocked: dict[str, dict[int, str]]) -> list[Violation]:
    """Rule 2: length, place on the grid, blocked shifts, and the reported times."""
    violations: list[Violation] = []
    for p in placed:
        allocation, request = p.allocation, p.request
        if not request.shortest <= allocation.shifts <= request.shifts:
            violations.append(
                Violation(
                    2,
                    p.path,
                    f"request {request.id} gets {allocation.shifts} shifts, "
                    f"outside [{request.shortest}, {request.shifts}]",
                )
            )
        if p.start_shift < 0 or p.end_shift > grid.count:
            violations.append(Violation(2, p.path, f"{p.label} leaves the grid of {grid.count} shifts"))
        blocking = blocked[p.instrument.id]
        hit = [shift for shift in range(p.start_shift, p.end_shift) if shift in blocking]
        if hit:
            violations.append(Violation(2, p.path, f"{p.label} uses blocked shifts {hit} ({blocking[hit[0]]})"))
        start, end = grid.time(p.start_shift), grid.time(p.end_shift)
        if allocation.start != start or allocation.end != end:
            violations.append(
                Violation(
                    2,
                    p.path,
                    f"{p.label} reports {allocation.start.isoformat()} – {allocation.end.isoformat()}, "
                    f"but its grid times are {start.isoformat()} – {end.isoformat()}",
                )
            )
    return violations


def _check_changeovers(placed: list[_Placed]) -> list[Violation]:
    """Rule 3, over every close pair on an instrument, so that an overlap behind a short block is named."""
    by_instrument: dict[str, list[_Placed]] = defaultdict(list)
    for p in placed:
        by_instrument[p.instrument.id].append(p)
    violations: list[Violation] = []
    for blocks in by_instrument.values():
        blocks.sort(key=lambda p: (p.start_shift, p.end_shift))
        changeover = blocks[0].instrument.changeover_shifts
        for index, earlier in enumerate(blocks):
            for later in blocks[index + 1 :]:
                gap = later.start_shift - earlier.end_shift
                if gap >= changeover:
                    break
                problem = "overlaps" if gap < 0 else f"starts {gap} shifts after the end of"
                violations.append(
                    Violation(
                        3,
                        later.path,
                        f"{later.label} {problem} {earlier.label}; changeover_shifts is {changeover}",
                    )
                )
    return violations


def _check_request_windows(placed: list[_Placed], grid: _Grid) -> list[Violation]:
    """Rule 4, on the grid times of the block (rule 2 covers the reported ones)."""
    violations: list[Violation] = []
    for p in placed:
        request = p.request
        start, end = grid.time(p.start_shift), grid.time(p.end_shift)
        if request.earliest is not None and start < request.earliest:
            violations.append(
                Violation(
                    4,
                    p.path,
                    f"{p.label} starts {start.isoformat()}, before earliest {request.earliest.isoformat()}",
                )
            )
        if request.latest is not None and end > request.latest:
            violations.append(
                Violation(4, p.path, f"{p.label} ends {end.isoformat()}, after latest {request.latest.isoformat()}")
            )
        for interval in request.unavailable:
            if start < interval.end and interval.start < end:
                violations.append(
                    Violation(
                        4,
                        p.path,
                        f"{p.label} overlaps unavailable {interval.start.isoformat()} – {interval.end.isoformat()}",
                    )
                )
    return violations


def _check_equipment(round_file: RoundFile, placed: list[_Placed]) -> list[Violation]:
    """Rule 5; each distinct group of overloading requests is reported once, at its first shift."""
    units = {equipment.id: equipment.units for equipment in round_file.equipment}
    users: dict[tuple[str, int], list[_Placed]] = defaultdict(list)
    for p in placed:
        for equipment_id in set(p.request.equipment) & units.keys():
            for shift in range(p.start_shift, p.end_shift):
                users[equipment_id, shift].append(p)
    violations: list[Violation] = []
    reported: set[tuple[str, tuple[str, ...]]] = set()
    for (equipment_id, shift), group in sorted(users.items(), key=lambda item: item[0]):
        request_ids = tuple(sorted(p.request.id for p in group))
        if len(group) <= units[equipment_id] or (equipment_id, request_ids) in reported:
            continue
        reported.add((equipment_id, request_ids))
        violations.append(
            Violation(
                5,
                max(group, key=lambda p: p.start_shift).path,
                f"equipment {equipment_id} (units {units[equipment_id]}) is used by requests "
                f"{', '.join(request_ids)} at once, first at shift {shift}",
            )
        )
    return violations


def _check_links(round_file: RoundFile, placed: list[_Placed]) -> list[Violation]:
    by_request = {p.request.id: p for p in placed}
    violations: list[Violation] = []
    for proposal in round_file.proposals:
        for link in proposal.links:
            if isinstance(link, AllOrNothingLink):
                allocated = [r for r in link.requests if r in by_request]
                missing = [r for r in link.requests if r not in by_request]
                if allocated and missing:
                    violations.append(
                        Violation(
                            6,
                            by_request[allocated[0]].path,
                            f"all_or_nothing link of proposal {proposal.id}: "
                            f"{', '.join(allocated)} allocated but {', '.join(missing)} not",
                        )
                    )
                continue
            first, then = by_request.get(link.first), by_request.get(link.then)
            if first is None or then is None:
                continue
            gap = then.start_shift - first.end_shift
            too_late = link.max_gap_shifts is not None and gap > link.max_gap_shifts
            if gap < link.min_gap_shifts or too_late:
                violations.append(
                    Violation(
                        6,
                        then.path,
                        f"after link of proposal {proposal.id}: {then.request.id} starts {gap} shifts after "
                        f"{first.request.id} ends, outside [{link.min_gap_shifts}, {link.max_gap_shifts}]",
                    )
                )
    return violations


def _check_reserves(referee: Referee, placed: list[_Placed]) -> list[Violation]:
    """Rule 7, second half: the share of an instrument's unblocked time held back for in-house use."""
    grid, blocked = referee.grid, referee.blocked
    allocated: dict[str, int] = defaultdict(int)
    for p in placed:
        allocated[p.instrument.id] += p.allocation.shifts
    violations: list[Violation] = []
    for _, instrument in referee.instruments.values():
        unblocked = grid.count - len(blocked[instrument.id])
        capacity = (1 - instrument.reserve_share) * unblocked
        if allocated[instrument.id] > capacity + RESERVE_TOLERANCE:
            violations.append(
                Violation(
                    7,
                    "$.allocations",
                    f"instrument {instrument.id} has {allocated[instrument.id]} shifts allocated, above "
                    f"(1 - reserve_share {instrument.reserve_share}) × {unblocked} unblocked shifts "
                    f"= {capacity:g}",
                )
            )
    return violations


def _check_quotas(referee: Referee, placed: list[_Placed]) -> list[Violation]:
    """Rule 7, first half: hard quotas, compared as exact fractions."""
    violations: list[Violation] = []
    for quota in referee.round_file.quotas:
        if quota.soft:
            continue
        shares = _category_shares(quota, placed, referee)
        if shares is None:
            continue
        for key, share in shares.items():
            subject = f"quota {quota.id}" if key == WHOLE_CATEGORY else f"quota {quota.id} for country {key}"
            if quota.min_share is not None and share < Fraction(str(quota.min_share)):
                violations.append(
                    Violation(
                        7,
                        "$.allocations",
                        f"{subject}: share {share} ≈ {float(share):.4f} below {quota.min_share}",
                    )
                )
            if quota.max_share is not None and share > Fraction(str(quota.max_share)):
                violations.append(
                    Violation(
                        7,
                        "$.allocations",
                        f"{subject}: share {share} ≈ {float(share):.4f} above {quota.max_share}",
                    )
                )
    return violations


def _check_pins(round_file: RoundFile, placed: list[_Placed]) -> list[Violation]:
    by_request = {p.request.id: p for p in placed}
    violations: list[Violation] = []
    for previous in round_file.previous_schedule or []:
        if not previous.pinned:
            continue
        pinned = (
            f"{previous.request} on {previous.instrument} "
            f"[{previous.start_shift}, {previous.start_shift + previous.shifts})"
        )
        kept = by_request.get(previous.request)
        if kept is None:
            violations.append(Violation(8, "$.allocations", f"pinned allocation {pinned} is missing"))
        elif (kept.instrument.id, kept.start_shift, kept.allocation.shifts) != (
            previous.instrument,
            previous.start_shift,
            previous.shifts,
        ):
            violations.append(Violation(8, kept.path, f"pinned allocation {pinned} became {kept.label}"))
    return violations


def _check_excluded(placed: list[_Placed], excluded: set[str]) -> list[Violation]:
    violations: list[Violation] = []
    for p in placed:
        if p.proposal.id in excluded:
            reason = "gets no time by the scoring rules"
        elif not p.proposal.technically_feasible:
            reason = "is not technically feasible"
        else:
            continue
        violations.append(Violation(9, p.path, f"proposal {p.proposal.id} {reason}, but {p.label} is allocated"))
    return violations


def quota_shares(round_file: RoundFile, schedule: ScheduleFile) -> dict[str, Fraction | None]:
    """The achieved share of every quota, soft ones included, for the schedule's quota report.

    For each_country and each_foreign_country this is the share of the country
    that binds most: the largest when the quota has a max_share, else the
    smallest. None when no share is bounded: nothing is allocated in scope, or
    (each_* only) no country is attributed any time.
    """
    referee = Referee(round_file)
    placed, _ = _resolve(referee, schedule)
    result: dict[str, Fraction | None] = {}
    for quota in round_file.quotas:
        shares = _category_shares(quota, placed, referee)
        if not shares:
            result[quota.id] = None
        else:
            result[quota.id] = max(shares.values()) if quota.max_share is not None else min(shares.values())
    return result


def _covers(scope: QuotaScope, placed: _Placed) -> bool:
    """Whether a quota counts a placed allocation's time: a scope naming nothing covers every instrument, else the
    named facilities' instruments and the named instruments."""
    named_facilities = scope.facilities or []
    named_instruments = scope.instruments or []
    if named_facilities or named_instruments:
        return placed.facility.id in named_facilities or placed.instrument.id in named_instruments
    return True


def _category_shares(quota: Quota, placed: list[_Placed], referee: Referee) -> dict[str, Fraction] | None:
    """The share per key of `attributed_fractions`; None when nothing is allocated in scope.

    Shifts are summed per key and fraction as integers, and multiplied once per fraction: the same exact sum."""
    counted = [p for p in placed if _covers(quota.scope, p)]
    total = sum(p.allocation.shifts for p in counted)
    if total == 0:
        return None
    shifts_at: dict[str, dict[Fraction, int]] = defaultdict(lambda: defaultdict(int))
    for p in counted:
        for key, fraction in referee.attributed(quota, p).items():
            shifts_at[key][fraction] += p.allocation.shifts
    return {
        key: sum((fraction * shifts for fraction, shifts in parts.items()), Fraction(0)) / total
        for key, parts in shifts_at.items()
    }


def attributed_fractions(
    proposal: Proposal, quota: Quota, facility_country: str, country_groups: Mapping[str, list[str]]
) -> dict[str, Fraction]:
    """What part of a proposal's shifts at a facility in `facility_country` a quota counts, per key it bounds.

    Person by person, unlike the builder's rules: each person the quota's attribution
    names (the PI alone, or the PI and the team) holds an equal part, which counts
    under the key their country gives it (`_key_of`). The keys are the countries that
    get a part for each_country and each_foreign_country (foreign-ness is decided per
    facility), else the single `WHOLE_CATEGORY`, present even at 0. A quota's share
    for a key is the sum of part × shifts over the allocations in scope divided by
    all shifts allocated in scope.
    """
    category = quota.category
    if category.proposal_type is not None:
        return {WHOLE_CATEGORY: Fraction(1 if proposal.type == category.proposal_type else 0)}
    people = [proposal.pi] if quota.attribution == "pi" else [proposal.pi, *proposal.team]
    per_country = category.each_country or category.each_foreign_country
    fractions: dict[str, Fraction] = {} if per_country else {WHOLE_CATEGORY: Fraction(0)}
    for person in people:
        key = _key_of(category, person, facility_country, country_groups)
        if key is not None:
            fractions[key] = fractions.get(key, Fraction(0)) + Fraction(1, len(people))
    return fractions


def _key_of(
    category: QuotaCategory, person: Person, facility_country: str, country_groups: Mapping[str, list[str]]
) -> str | None:
    """The key a person's part counts under; None when it counts for nothing, as an unconfirmed country's part."""
    if not person.country_confirmed:
        return None
    country = person.country
    abroad = country != facility_country
    if category.each_country or (category.each_foreign_country and abroad):
        return country
    group = country_groups.get(category.country_group, []) if category.country_group is not None else []
    whole = (
        (category.foreign is True and abroad)
        or (category.domestic is True and not abroad)
        or country == category.country
        or country in group
    )
    return WHOLE_CATEGORY if whole else None
