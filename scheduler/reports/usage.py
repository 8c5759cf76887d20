"""What a round's schedule gave each country, group, facility, instrument or proposal type.

Computed from the round file and the schedule file alone, so the command line, the API
and the dashboard report the same figures. A request counts where it got time (its
allocation's instrument) or, unallocated, at its first choice. Shifts go to countries
as quotas attribute them (all to the PI's, or equal parts over the team); the part of a
person whose country is unconfirmed goes to `UNCONFIRMED`, so that the shifts of every
grouping but `group` (a country may be in several groups, or none) sum to the schedule's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel

from scheduler.roundfile.contract import Proposal, RoundFile, ScheduleFile
from scheduler.roundfile.quotas import Attribution, country_fractions

Grouping = Literal["country", "group", "facility", "instrument", "type"]
GROUPINGS: tuple[Grouping, ...] = ("country", "group", "facility", "instrument", "type")
UNCONFIRMED = "unconfirmed"
NO_GROUP = "no group"


class UsageRow(BaseModel):
    key: str
    proposals: float
    """Proposals asking for time here; a team attributed over countries counts in parts."""
    proposals_with_time: float
    requested_shifts: float
    allocated_shifts: float
    owed_shifts: float | None = None
    """Still owed over past rounds and this one, where a fair-return target is this row's category."""
    success_rate: float | None
    """Proposals with time ÷ proposals asking."""
    allocated_share: float | None
    """This row's allocated shifts ÷ all allocated shifts."""
    oversubscription: float | None
    """Requested ÷ allocated shifts."""


class UsageReport(BaseModel):
    round: str
    by: Grouping
    attribution: Attribution
    rows: list[UsageRow]
    total: UsageRow


@dataclass
class _Tally:
    proposals: Fraction = Fraction(0)
    with_time: Fraction = Fraction(0)
    requested: Fraction = Fraction(0)
    allocated: Fraction = Fraction(0)
    seen: set[str] = field(default_factory=set)


def usage_report(
    round_file: RoundFile, schedule: ScheduleFile, by: Grouping, attribution: Attribution = "pi"
) -> UsageReport:
    allocation_of = {allocation.request: allocation for allocation in schedule.allocations}
    facility_of = {i.id: f.id for f in round_file.facilities for i in f.instruments}
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    total = _Tally()
    for proposal in round_file.proposals:
        with_time = any(request.id in allocation_of for request in proposal.requests)
        total.proposals += 1
        total.with_time += with_time
        for request in proposal.requests:
            allocation = allocation_of.get(request.id)
            instrument = allocation.instrument if allocation else request.instruments[0]
            allocated = allocation.shifts if allocation else 0
            total.requested += request.shifts
            total.allocated += allocated
            for key, part in _parts(round_file, proposal, by, attribution, instrument, facility_of[instrument]):
                tally = tallies[key]
                tally.requested += part * request.shifts
                tally.allocated += part * allocated
                if proposal.id not in tally.seen:
                    tally.seen.add(proposal.id)
                    tally.proposals += part
                    tally.with_time += part * with_time
    owed = _owed(round_file, schedule, by)
    rows = [
        _row(key, tally, total.allocated, owed.get(key))
        for key, tally in sorted(tallies.items(), key=lambda item: (-item[1].allocated, item[0]))
    ]
    return UsageReport(
        round=round_file.round.id,
        by=by,
        attribution=attribution,
        rows=rows,
        total=_row("all", total, total.allocated, None),
    )


def _parts(
    round_file: RoundFile,
    proposal: Proposal,
    by: Grouping,
    attribution: Attribution,
    instrument: str,
    facility: str,
) -> Iterable[tuple[str, Fraction]]:
    """The keys a request's shifts count for, with the fraction each gets."""
    if by == "instrument":
        return [(instrument, Fraction(1))]
    if by == "facility":
        return [(facility, Fraction(1))]
    if by == "type":
        return [(proposal.type, Fraction(1))]
    by_country = country_fractions(proposal, attribution)
    unconfirmed = 1 - sum(by_country.values(), Fraction(0))
    if by == "country":
        parts = list(by_country.items())
        return [*parts, (UNCONFIRMED, unconfirmed)] if unconfirmed else parts
    return _group_parts(round_file.country_groups, by_country)


def _group_parts(groups: Mapping[str, list[str]], by_country: Mapping[str, Fraction]) -> list[tuple[str, Fraction]]:
    parts: dict[str, Fraction] = defaultdict(Fraction)
    for country, fraction in by_country.items():
        member_of = [group for group, members in groups.items() if country in members]
        for group in member_of or [NO_GROUP]:
            parts[group] += fraction
    return [(group, fraction) for group, fraction in parts.items() if fraction]


def _owed(round_file: RoundFile, schedule: ScheduleFile, by: Grouping) -> dict[str, float]:
    """Deficits of the fair-return targets whose category is one of this grouping's rows."""
    if round_file.fair_return is None or not schedule.fair_return:
        return {}
    deficit = {report.id: report.deficit for report in schedule.fair_return}
    owed = {}
    for target in round_file.fair_return.targets:
        key = {
            "country": target.category.country,
            "group": target.category.country_group,
            "type": target.category.proposal_type,
        }.get(by)
        if key is not None and target.id in deficit:
            owed[key] = deficit[target.id]
    return owed


def _row(key: str, tally: _Tally, all_allocated: Fraction, owed: float | None) -> UsageRow:
    return UsageRow(
        key=key,
        proposals=float(tally.proposals),
        proposals_with_time=float(tally.with_time),
        requested_shifts=float(tally.requested),
        allocated_shifts=float(tally.allocated),
        owed_shifts=owed,
        success_rate=float(tally.with_time / tally.proposals) if tally.proposals else None,
        allocated_share=float(tally.allocated / all_allocated) if all_allocated else None,
        oversubscription=float(tally.requested / tally.allocated) if tally.allocated else None,
    )
