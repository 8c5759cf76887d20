"""What of a schedule's explanations a reader may see.

An unallocated request's `detail`, `competitors` and `held` speak of the proposals holding
the time it could use: their requests and priorities, which are panel results. A reader sees
them only when they may read every one of those proposals, and the request's own, in
confidence; otherwise the entry keeps its reason and a sentence that names no one.
"""

from __future__ import annotations

from collections.abc import Set
from operator import attrgetter

from scheduler.roundfile.contract import RoundFile, ScheduleFile, Unallocated, UnallocatedReason

SCORING_REASONS: frozenset[UnallocatedReason] = frozenset({"below_cutoff", "not_feasible"})
"""Reasons about the proposal alone (its grades, the feasibility review): its own detail says no more."""

PUBLIC_DETAIL: dict[UnallocatedReason, str] = {
    "below_cutoff": "The proposal's score is below the round's cut-off.",
    "not_feasible": "The proposal was not found technically feasible.",
    "capacity": "The time it could use went to proposals ranked higher or kept by the round's rules.",
    "quota": "A quota of the round (a share of the time for a country, group or proposal type) left no room for it.",
    "window": "It was not placed in its dates: maintenance, its unavailable periods or the search's time limit.",
    "link": "A request it is linked with could not be scheduled, so it is not scheduled either.",
    "equipment": "The shared equipment it needs was in use by other experiments at the times it could use.",
}


_REQUEST = attrgetter("request")


def for_proposer(entry: Unallocated) -> Unallocated:
    """A request's outcome as its own team sees it: the reason, in words that name no other proposal."""
    detail = entry.detail if entry.reason in SCORING_REASONS else PUBLIC_DETAIL[entry.reason]
    return entry.model_copy(update={"detail": detail, "competitors": None, "held": None})


def withhold(schedule: ScheduleFile, shown: Set[str]) -> ScheduleFile:
    """The schedule with panel results only of the proposals `shown` (read in confidence).

    Allocations of the others keep their place with priority 0 (a priority is positive, so 0
    says withheld); their unallocated requests are left out; an explanation that speaks of
    proposals not shown is told in words that name no one (`for_proposer`).
    """
    # The requests placed for proposals shown, looked up once per competitor named (~130,000 in a facility round).
    readable_requests = {a.request for a in schedule.allocations if a.proposal in shown}

    def readable(entry: Unallocated) -> bool:
        return not entry.competitors or readable_requests.issuperset(map(_REQUEST, entry.competitors))

    return schedule.model_copy(
        update={
            "allocations": [
                a if a.proposal in shown else a.model_copy(update={"priority": 0.0}) for a in schedule.allocations
            ],
            "unallocated": [
                entry if readable(entry) else for_proposer(entry)
                for entry in schedule.unallocated
                if entry.proposal in shown
            ],
        }
    )


def withhold_round(round_file: RoundFile, shown: Set[str]) -> RoundFile:
    """The round file with reviews and priorities only of the proposals `shown` (read in confidence)."""
    return round_file.model_copy(
        update={
            "proposals": [
                p if p.id in shown else p.model_copy(update={"reviews": [], "priority": None})
                for p in round_file.proposals
            ]
        }
    )
