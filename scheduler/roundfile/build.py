"""From a round file to the solver's Problem and from a Solution back to a schedule file.

All calendar arithmetic ends here: the solver sees shifts, spans and
attributed fractions only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from scheduler.roundfile.checks import InputError, InputProblem
from scheduler.roundfile.contract import (
    Facility,
    FairReturnTarget,
    Instrument,
    Interval,
    Proposal,
    Quota,
    QuotaCategory,
    Request,
    RoundFile,
    UnallocatedReason,
)
from scheduler.roundfile.grid import Grid, Span, merge
from scheduler.roundfile.quotas import WHOLE_CATEGORY, Attribution, attributed_fractions, in_scope
from solver import problem as sp

DEFAULT_PENALTY = 1.0
"""Cost per shift of a soft quota's shortfall or excess when the round file gives none."""


@dataclass(frozen=True)
class Exclusion:
    """A proposal the scoring rules give no time."""

    reason: UnallocatedReason
    detail: str


@dataclass(frozen=True)
class Prepared:
    """A round file turned into a Problem, with the ids to map the Solution back."""

    round_file: RoundFile
    grid: Grid
    problem: sp.Problem
    request_ids: tuple[str, ...]
    proposal_of_request: tuple[str, ...]
    instrument_ids: tuple[str, ...]
    priorities: Mapping[str, float]
    excluded: Mapping[str, Exclusion]


def prepare(round_file: RoundFile, priorities: Mapping[str, float], excluded: Mapping[str, Exclusion]) -> Prepared:
    """The Problem for the proposals that may get time; `priorities` covers every one of them."""
    grid = Grid(round_file.round)
    facility_of = {i.id: f for f in round_file.facilities for i in f.instruments}
    instruments = [i for f in round_file.facilities for i in f.instruments]
    instrument_index = {instrument.id: index for index, instrument in enumerate(instruments)}
    equipment_index = {item.id: index for index, item in enumerate(round_file.equipment)}
    proposals = [p for p in round_file.proposals if p.id not in excluded]
    request_owner = [(proposal, request) for proposal in proposals for request in proposal.requests]
    request_index = {request.id: index for index, (_, request) in enumerate(request_owner)}
    proposal_index = {proposal.id: index for index, proposal in enumerate(proposals)}

    solver_instruments = tuple(
        _instrument(grid, facility_of[instrument.id].maintenance, instrument) for instrument in instruments
    )
    solver_requests = tuple(
        sp.Request(
            name=request.id,
            proposal=proposal_index[proposal.id],
            priority=priorities[proposal.id],
            shifts=request.shifts,
            min_shifts=request.shortest,
            instruments=tuple(instrument_index[i] for i in request.instruments),
            equipment=tuple(equipment_index[e] for e in request.equipment),
            earliest=grid.first_starting_at_or_after(request.earliest) if request.earliest else 0,
            latest=grid.last_ending_by(request.latest) if request.latest else None,
            unavailable=_covered(grid, request.unavailable),
        )
        for proposal, request in request_owner
    )
    pinned, previous = _previous(round_file, request_index, instrument_index, excluded)
    problem = sp.Problem(
        horizon=grid.count,
        instruments=solver_instruments,
        requests=solver_requests,
        equipment=tuple(sp.Equipment(item.id, item.units) for item in round_file.equipment),
        all_or_nothing=tuple(
            sp.AllOrNothing(tuple(request_index[r] for r in link.requests))
            for proposal in proposals
            for link in proposal.links
            if link.type == "all_or_nothing"
        ),
        after=tuple(
            sp.After(request_index[link.first], request_index[link.then], link.min_gap_shifts, link.max_gap_shifts)
            for proposal in proposals
            for link in proposal.links
            if link.type == "after"
        ),
        quotas=_quotas(round_file, request_owner, instrument_index, facility_of),
        fair_return=_fair_return(round_file, request_owner, instrument_index, facility_of, priorities),
        pinned=pinned,
        previous=previous,
        proposals=tuple(proposal.id for proposal in proposals),
    )
    return Prepared(
        round_file,
        grid,
        problem,
        tuple(request.id for _, request in request_owner),
        tuple(proposal.id for proposal, _ in request_owner),
        tuple(instrument.id for instrument in instruments),
        priorities,
        excluded,
    )


def _covered(grid: Grid, intervals: Sequence[Interval]) -> tuple[Span, ...]:
    spans = [grid.covering(interval.start, interval.end) for interval in intervals]
    return merge(span for span in spans if span is not None)


def _instrument(grid: Grid, facility_windows: Sequence[Interval], instrument: Instrument) -> sp.Instrument:
    blocked = _covered(grid, [*facility_windows, *instrument.maintenance])
    unblocked = grid.count - sum(end - start for start, end in blocked)
    capacity = None
    if instrument.reserve_share > 0:
        capacity = math.floor((1 - Fraction(str(instrument.reserve_share))) * unblocked)
    return sp.Instrument(instrument.id, blocked, instrument.changeover_shifts, capacity)


def _previous(
    round_file: RoundFile,
    request_index: Mapping[str, int],
    instrument_index: Mapping[str, int],
    excluded: Mapping[str, Exclusion],
) -> tuple[tuple[sp.Placement, ...], tuple[sp.Placement, ...]]:
    pinned: list[sp.Placement] = []
    previous: list[sp.Placement] = []
    problems: list[InputProblem] = []
    for k, allocation in enumerate(round_file.previous_schedule or []):
        r = request_index.get(allocation.request)
        if r is None:
            if allocation.pinned:
                problems.append(
                    InputProblem(
                        f"$.previous_schedule[{k}]",
                        f"pinned allocation of {allocation.request}, whose proposal the scoring rules give "
                        f"no time ({_owner_exclusion(round_file, allocation.request, excluded)})",
                    )
                )
            continue
        placement = sp.Placement(r, instrument_index[allocation.instrument], allocation.start_shift, allocation.shifts)
        (pinned if allocation.pinned else previous).append(placement)
    if problems:
        raise InputError(problems)
    return tuple(pinned), tuple(previous)


def _owner_exclusion(round_file: RoundFile, request_id: str, excluded: Mapping[str, Exclusion]) -> str:
    for proposal in round_file.proposals:
        if any(request.id == request_id for request in proposal.requests):
            return excluded[proposal.id].detail
    return "unknown request"


@dataclass(frozen=True)
class _Counting:
    """Who counts for a quota or fair-return target: its instruments and, per key, each candidate's fraction.

    A key is present once any candidate is in scope, even at fraction 0 (`attributed_fractions`).
    """

    instruments: frozenset[int]
    weights: Mapping[str, Mapping[tuple[int, int], Fraction]]


def _counting(
    round_file: RoundFile,
    request_owner: Sequence[tuple[Proposal, Request]],
    facility_of: Mapping[str, Facility],
    instrument_index: Mapping[str, int],
    rule: Quota | FairReturnTarget,
    attribution: Attribution,
) -> _Counting:
    scope = frozenset(
        index
        for instrument_id, index in instrument_index.items()
        if in_scope(rule.scope, facility_of[instrument_id].id, instrument_id)
    )
    weights: dict[str, dict[tuple[int, int], Fraction]] = {}
    by_proposal_and_country: dict[tuple[int, str], dict[str, Fraction]] = {}
    """A proposal's (by identity: a broken file may repeat an id) fractions at facilities of one country, worked
    out once for all its requests and instruments."""
    for r, (proposal, request) in enumerate(request_owner):
        for instrument_id in request.instruments:
            i = instrument_index[instrument_id]
            if i not in scope:
                continue
            country = facility_of[instrument_id].country
            fractions = by_proposal_and_country.get((id(proposal), country))
            if fractions is None:
                fractions = attributed_fractions(
                    proposal, rule.category, country, round_file.country_groups, attribution
                )
                by_proposal_and_country[id(proposal), country] = fractions
            for key, fraction in fractions.items():
                weights.setdefault(key, {})[(r, i)] = fraction
    return _Counting(scope, weights)


def _quotas(
    round_file: RoundFile,
    request_owner: Sequence[tuple[Proposal, Request]],
    instrument_index: Mapping[str, int],
    facility_of: Mapping[str, Facility],
) -> tuple[sp.Quota, ...]:
    """One solver quota per round-file quota, or one per country for the each-country categories."""
    expanded = []
    for quota in round_file.quotas:
        counting = _counting(round_file, request_owner, facility_of, instrument_index, quota, quota.attribution)
        per_key = quota.category.each_country or quota.category.each_foreign_country
        for key, pair_weights in sorted(counting.weights.items()):
            expanded.append(
                sp.Quota(
                    name=f"{quota.id}[{key}]" if per_key else quota.id,
                    instruments=counting.instruments,
                    weights={pair: weight for pair, weight in pair_weights.items() if weight},
                    min_share=None if quota.min_share is None else Fraction(str(quota.min_share)),
                    max_share=None if quota.max_share is None else Fraction(str(quota.max_share)),
                    soft=quota.soft,
                    penalty=DEFAULT_PENALTY if quota.penalty is None else quota.penalty,
                    group=quota.id,
                    counts=_whose(quota.category, key),
                )
            )
    return tuple(expanded)


def _whose(category: QuotaCategory, key: str) -> str:
    """Whose time a quota counts, in words; `key` is the country of an each_* quota's part."""
    if category.each_country or category.each_foreign_country:
        return f"country {key}"
    if category.country or category.country_group:
        return f"country {category.country}" if category.country else f"country group {category.country_group}"
    if category.proposal_type:
        return f"{category.proposal_type} proposals"
    return "foreign proposals" if category.foreign else "domestic proposals"


def _fair_return(
    round_file: RoundFile,
    request_owner: Sequence[tuple[Proposal, Request]],
    instrument_index: Mapping[str, int],
    facility_of: Mapping[str, Facility],
    priorities: Mapping[str, float],
) -> tuple[sp.FairReturnTarget, ...]:
    """One solver target per fair-return target, its history summed; priced at the median priority by default."""
    fair_return = round_file.fair_return
    if fair_return is None:
        return ()
    price = fair_return.price_per_shift
    if price is None:
        price = statistics.median(priorities[proposal.id] for proposal, _ in request_owner) if request_owner else 1.0
    targets = []
    for target in fair_return.targets:
        counting = _counting(round_file, request_owner, facility_of, instrument_index, target, fair_return.attribution)
        history = [entry for entry in fair_return.history if entry.target == target.id]
        targets.append(
            sp.FairReturnTarget(
                name=target.id,
                instruments=counting.instruments,
                weights={pair: w for pair, w in counting.weights.get(WHOLE_CATEGORY, {}).items() if w},
                share=Fraction(str(target.share)),
                history_total=sum((Fraction(str(entry.shifts_total)) for entry in history), Fraction(0)),
                history_part=sum((Fraction(str(entry.shifts)) for entry in history), Fraction(0)),
                price=price,
            )
        )
    return tuple(targets)
