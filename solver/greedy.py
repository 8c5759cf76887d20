"""The baseline schedule (rank-ordered first fit), a checker of the hard rules, and the primary objective.

The greedy is what a user office does by hand; CP-SAT gets it as a hint and the
benchmarks measure how far the optimiser improves on it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import Literal

import numpy as np
import numpy.typing as npt

from solver.problem import After, Placement, Problem, Quota, Span

BoolArray = npt.NDArray[np.bool_]
CountArray = npt.NDArray[np.int32]
Side = Literal["min", "max"]
Fit = Literal["first", "tightest", "tightest-on-first"]


def primary_objective(problem: Problem, placements: Sequence[Placement]) -> float:
    """The contract's objective: the sum of priority x shifts."""
    return sum(problem.requests[p.request].priority * p.shifts for p in placements)


def greedy(problem: Problem, fit: Fit = "first") -> list[Placement]:
    """Rank-ordered first fit, then a hard-quota repair and a quota-respecting refill.

    `fit` "tightest" or "tightest-on-first" places each block instead where it fills a free run
    most closely (see `Occupancy.first_fit`): the engine's other constructions, never the baseline.

    1. Every `pinned` placement is kept as given. Then each `previous` placement
       that still obeys every hard rule except the quotas is kept, in rank order
       and by whole all_or_nothing components, so that a re-solve starts from the
       schedule in force rather than from scratch.
    2. An all_or_nothing component (groups sharing a request, joined transitively)
       is placed as a unit: its unplaced members in index order, each by first fit;
       if one fails, the members added in this attempt are removed again.
       Components holding a pinned request are attempted before everything else.
    3. First-fit pass: requests by proposal priority (descending; ties by proposal
       index), within a proposal by index; each unplaced request (with its
       component) is tried. First fit = for n from `shifts` down to `min_shifts`,
       for each of the request's instruments in order, the earliest start where the
       block obeys every hard rule except the quotas (blocked spans, changeovers on
       both sides, the request's window and unavailable spans, equipment units,
       instrument capacity, after-gaps to already placed link partners); the first
       hit wins.
    4. Repair: hard quotas are visited in order, repeatedly until none changes;
       while a quota is violated, the lowest-priority placement (ties: the later in
       the order of step 3) on its instruments whose weight lies beyond the violated
       bound (> max_share, or < min_share) is dropped with its all_or_nothing
       component. Pinned placements and components holding one are never dropped.
    5. Refill: the first-fit pass of step 3 again over the unplaced requests, where
       an (instrument, length) is also rejected unless every hard quota on that
       instrument still holds after adding it.

    The result obeys every hard rule whenever the pinned placements alone form a
    valid schedule that holds whole all_or_nothing components; otherwise a pinned
    request's partners or an unrepairable quota may be left broken (see `is_feasible`).
    """
    state = Occupancy(problem, fit)
    for placement in problem.pinned:
        state.add(placement)
    pinned = {placement.request for placement in problem.pinned}
    components = all_or_nothing_components(problem)
    order = _rank_order(problem)
    anchored = {component for component in components if component and not pinned.isdisjoint(component)}
    for component in sorted(anchored):
        state.place_together(component, respect_quotas=False)
    _keep_previous(state, order, components)
    _first_fit_pass(state, order, components, respect_quotas=False)
    _repair_quotas(state, order, components, pinned)
    _first_fit_pass(state, order, components, respect_quotas=True)
    return sorted(state.placed.values(), key=lambda placement: placement.request)


def _rank_order(problem: Problem) -> list[int]:
    """Requests by proposal priority (descending, ties by proposal index), then by request index."""
    proposal_priority: dict[int, float] = {}
    for request in problem.requests:
        known = proposal_priority.get(request.proposal, request.priority)
        proposal_priority[request.proposal] = max(known, request.priority)

    def rank(r: int) -> tuple[float, int, int]:
        proposal = problem.requests[r].proposal
        return (-proposal_priority[proposal], proposal, r)

    return sorted(range(len(problem.requests)), key=rank)


def all_or_nothing_components(problem: Problem) -> list[tuple[int, ...] | None]:
    """Each request's all_or_nothing component (groups sharing a request stand or fall together), or None."""
    return joined(len(problem.requests), [group.requests for group in problem.all_or_nothing])


def joined(count: int, groups: Iterable[Sequence[int]]) -> list[tuple[int, ...] | None]:
    """For each of `count` items, its component when groups sharing an item are joined transitively
    (members in order), or None when it is in no group."""
    groups = [group for group in groups if group]
    parent = list(range(count))

    def root(r: int) -> int:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    for group in groups:
        for r in group[1:]:
            parent[root(r)] = root(group[0])
    members: dict[int, list[int]] = defaultdict(list)
    for r in sorted({r for group in groups for r in group}):
        members[root(r)].append(r)
    components: list[tuple[int, ...] | None] = [None] * count
    for group_members in members.values():
        component = tuple(group_members)
        for r in component:
            components[r] = component
    return components


def _keep_previous(state: Occupancy, order: list[int], components: list[tuple[int, ...] | None]) -> None:
    previous = {placement.request: placement for placement in state.problem.previous}
    for r in order:
        members = components[r] or (r,)
        if r not in previous or r in state.placed or any(m not in previous for m in members):
            continue
        kept: list[Placement] = []
        for m in members:
            if not state.fits(previous[m]):
                break
            state.add(previous[m])
            kept.append(previous[m])
        else:
            continue
        for undone in kept:
            state.remove(undone)


def _first_fit_pass(
    state: Occupancy, order: list[int], components: list[tuple[int, ...] | None], respect_quotas: bool
) -> None:
    attempted: set[int] = set()
    for r in order:
        if r in state.placed or r in attempted:
            continue
        members = components[r] or (r,)
        attempted.update(members)
        state.place_together(members, respect_quotas)


def _repair_quotas(
    state: Occupancy, order: list[int], components: list[tuple[int, ...] | None], pinned: set[int]
) -> None:
    """Drop lowest-priority offenders until the hard quotas hold or no offender can be dropped.

    Only removals happen here, so each quota's scan position through `lowest_first`
    only moves forward and the loop ends.
    """
    tally = state.quotas

    def droppable(r: int) -> bool:
        return pinned.isdisjoint(components[r] or (r,))

    lowest_first = [r for r in reversed(order) if r in state.placed and droppable(r)]
    scanned: dict[tuple[int, Side], int] = {}

    def lowest_offender(k: int, side: Side) -> int | None:
        position = scanned.get((k, side), 0)
        while position < len(lowest_first):
            placement = state.placed.get(lowest_first[position])
            if placement is not None and tally.offends(k, side, placement):
                break
            position += 1
        scanned[(k, side)] = position
        return lowest_first[position] if position < len(lowest_first) else None

    repairing = True
    while repairing:
        repairing = False
        for k in range(len(tally.quotas)):
            while (side := tally.violation(k)) is not None:
                victim = lowest_offender(k, side)
                if victim is None:
                    break
                for member in components[victim] or (victim,):
                    if member in state.placed:
                        state.remove(state.placed[member])
                repairing = True


def _mask(horizon: int, spans: Iterable[Span]) -> BoolArray:
    mask = np.zeros(horizon, dtype=np.bool_)
    for start, end in spans:
        mask[max(start, 0) : max(min(end, horizon), 0)] = True
    return mask


def _unoccupied_runs(occupied: BoolArray, offset: int) -> list[Span]:
    """Maximal runs of unoccupied shifts, shifted by `offset`."""
    padded = np.concatenate(([1], occupied.view(np.int8), [1]))
    edges = np.flatnonzero(np.diff(padded)) + offset
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


class _QuotaTally:
    """Running shares of the hard quotas, exact in integers.

    Each quota's weights and bounds are scaled by the lcm of their denominators, so
    `weighted <= max_scaled * total` decides `share <= max_share` without Fractions.
    """

    def __init__(self, problem: Problem) -> None:
        self.quotas: list[Quota] = [quota for quota in problem.quotas if not quota.soft]
        self.scale: list[int] = []
        self.min_scaled: list[int | None] = []
        self.max_scaled: list[int | None] = []
        self.on_instrument: list[list[int]] = [[] for _ in problem.instruments]
        for k, quota in enumerate(self.quotas):
            bounds = [bound for bound in (quota.min_share, quota.max_share) if bound is not None]
            denominators = {weight.denominator for weight in quota.weights.values()}
            scale = math.lcm(*denominators, *(bound.denominator for bound in bounds))
            self.scale.append(scale)
            self.min_scaled.append(_scaled(quota.min_share, scale))
            self.max_scaled.append(_scaled(quota.max_share, scale))
            for i in quota.instruments:
                if 0 <= i < len(problem.instruments):
                    self.on_instrument[i].append(k)
        self.weighted = [0] * len(self.quotas)
        self.total = [0] * len(self.quotas)
        self._weights: list[dict[tuple[int, int], int]] = [{} for _ in self.quotas]
        """Scaled weights as they are first asked for: Fraction arithmetic once per pair."""
        self._terms: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {}
        """(request, instrument) -> (quota, scaled weight) of each hard quota on the instrument."""

    def weight(self, k: int, request: int, instrument: int) -> int:
        known = self._weights[k]
        scaled = known.get((request, instrument))
        if scaled is None:
            weight = self.quotas[k].weights.get((request, instrument))
            scaled = 0 if weight is None else weight.numerator * (self.scale[k] // weight.denominator)
            known[(request, instrument)] = scaled
        return scaled

    def terms(self, request: int, instrument: int) -> tuple[tuple[int, int], ...]:
        """(quota, scaled weight) of each hard quota on `instrument` for `request`, worked out once per
        pair: a polish counts blocks in and out tens of thousands of times (54,000 on a quota-tight
        facility round, each looking up every quota's weight anew before)."""
        terms = self._terms.get((request, instrument))
        if terms is None:
            terms = tuple((k, self.weight(k, request, instrument)) for k in self.on_instrument[instrument])
            self._terms[(request, instrument)] = terms
        return terms

    def count(self, placement: Placement, sign: int) -> None:
        shifts = sign * placement.shifts
        weighted, total = self.weighted, self.total
        for k, weight in self.terms(placement.request, placement.instrument):
            weighted[k] += weight * shifts
            total[k] += shifts

    def _broken(self, k: int, weighted: int, total: int) -> Side | None:
        lowest, highest = self.min_scaled[k], self.max_scaled[k]
        if lowest is not None and weighted < lowest * total:
            return "min"
        if highest is not None and weighted > highest * total:
            return "max"
        return None

    def violation(self, k: int) -> Side | None:
        return self._broken(k, self.weighted[k], self.total[k])

    def hold(self) -> bool:
        """Whether every hard quota holds."""
        return all(self.violation(k) is None for k in range(len(self.quotas)))

    def allows(self, request: int, instrument: int, shifts: int) -> bool:
        """Whether every hard quota on `instrument` holds after adding this block."""
        for k, weight in self.terms(request, instrument):
            if self._broken(k, self.weighted[k] + weight * shifts, self.total[k] + shifts) is not None:
                return False
        return True

    def offends(self, k: int, side: Side, placement: Placement) -> bool:
        """Whether dropping `placement` shrinks quota `k`'s violation on `side`."""
        if placement.instrument not in self.quotas[k].instruments:
            return False
        weight = self.weight(k, placement.request, placement.instrument)
        lowest, highest = self.min_scaled[k], self.max_scaled[k]
        if side == "min":
            return lowest is not None and weight < lowest
        return highest is not None and weight > highest


def _scaled(bound: Fraction | None, scale: int) -> int | None:
    return None if bound is None else bound.numerator * (scale // bound.denominator)


class Occupancy:
    """A partial schedule with per-shift occupancy counts, updated as placements come and go."""

    def __init__(self, problem: Problem, fit: Fit = "first") -> None:
        self.problem = problem
        self.fit = fit
        horizon = problem.horizon
        self.blocked = [_mask(horizon, instrument.blocked) for instrument in problem.instruments]
        self.near_allocation: list[CountArray] = [np.zeros(horizon, np.int32) for _ in problem.instruments]
        """Per shift, how many allocations widened by the instrument's changeover cover it."""
        self.allocated_shifts = [0] * len(problem.instruments)
        self.equipment_in_use: list[CountArray] = [np.zeros(horizon, np.int32) for _ in problem.equipment]
        self.unavailable = {
            r: _mask(horizon, request.unavailable) for r, request in enumerate(problem.requests) if request.unavailable
        }
        self.after_as_then: list[list[After]] = [[] for _ in problem.requests]
        self.after_as_first: list[list[After]] = [[] for _ in problem.requests]
        for link in problem.after:
            self.after_as_then[link.then].append(link)
            self.after_as_first[link.first].append(link)
        self.placed: dict[int, Placement] = {}
        self.quotas = _QuotaTally(problem)

    def add(self, placement: Placement) -> None:
        self._mark(placement, 1)
        self.placed[placement.request] = placement

    def remove(self, placement: Placement) -> None:
        self._mark(placement, -1)
        del self.placed[placement.request]

    def _mark(self, placement: Placement, sign: int) -> None:
        changeover = self.problem.instruments[placement.instrument].changeover
        start = max(placement.start, 0)
        self.near_allocation[placement.instrument][max(start - changeover, 0) : placement.end + changeover] += sign
        self.allocated_shifts[placement.instrument] += sign * placement.shifts
        for e in self.problem.requests[placement.request].equipment:
            self.equipment_in_use[e][start : placement.end] += sign
        self.quotas.count(placement, sign)

    def place_together(self, members: Iterable[int], respect_quotas: bool) -> bool:
        """Place every unplaced member by first fit, or none of them."""
        added: list[Placement] = []
        for r in members:
            if r in self.placed:
                continue
            placement = self.first_fit(r, respect_quotas)
            if placement is None:
                for undone in added:
                    self.remove(undone)
                return False
            self.add(placement)
            added.append(placement)
        return True

    def first_fit(self, r: int, respect_quotas: bool, instruments: Sequence[int] | None = None) -> Placement | None:
        """The longest block first, then the first instrument (of `instruments`, by default the
        request's own), then the earliest start. The "tightest" fit takes instead the free run on any
        of them that the block leaves least of (ties: the first instrument, the earliest run), at its
        start; "tightest-on-first" that run on the first instrument that holds the block."""
        problem = self.problem
        request = problem.requests[r]
        window = self._window(r)
        runs: dict[int, list[Span]] = {}
        longest: dict[int, int] = {}
        for shifts in range(request.shifts, request.min_shifts - 1, -1):
            tightest: tuple[int, int, int] | None = None
            for i in request.instruments if instruments is None else instruments:
                capacity = problem.instruments[i].capacity
                if capacity is not None and self.allocated_shifts[i] + shifts > capacity:
                    continue
                if respect_quotas and not self.quotas.allows(r, i, shifts):
                    continue
                if i not in runs:
                    runs[i] = self._free_runs(r, i, window.lo, window.hi)
                    longest[i] = max((end - start for start, end in runs[i]), default=0)
                if shifts > longest[i]:
                    continue
                if self.fit == "first":
                    start = window.earliest_start(runs[i], shifts)
                    if start is not None:
                        return Placement(r, i, start, shifts)
                    continue
                found = window.tightest_start(runs[i], shifts)
                if found is not None and self.fit == "tightest-on-first":
                    return Placement(r, i, found[1], shifts)
                if found is not None and (tightest is None or found[0] < tightest[0]):
                    tightest = (*found, i)
            if tightest is not None:
                return Placement(r, tightest[2], tightest[1], shifts)
        return None

    def earliest_blocks(self, r: int, i: int) -> list[Placement]:
        """For each length request `r` may take, its earliest block on instrument `i` that obeys every
        hard rule but the quotas, given what is placed; longest first."""
        request = self.problem.requests[r]
        capacity = self.problem.instruments[i].capacity
        room = request.shifts if capacity is None else min(request.shifts, capacity - self.allocated_shifts[i])
        window = self._window(r)
        runs = self._free_runs(r, i, window.lo, window.hi)
        blocks = []
        for shifts in range(room, request.min_shifts - 1, -1):
            start = window.earliest_start(runs, shifts)
            if start is not None:
                blocks.append(Placement(r, i, start, shifts))
        return blocks

    def _window(self, r: int) -> _Window:
        """Where request `r`'s block may lie: its own dates, narrowed by the after links to placed partners."""
        problem = self.problem
        request = problem.requests[r]
        lo = max(request.earliest, 0)
        hi = problem.horizon if request.latest is None else min(request.latest, problem.horizon)
        window = _Window(lo, hi, lo, hi, lo, hi)
        for link in self.after_as_then[r]:
            first = self.placed.get(link.first)
            if first is not None:
                window.start_min = max(window.start_min, first.end + link.min_gap)
                if link.max_gap is not None:
                    window.start_max = min(window.start_max, first.end + link.max_gap)
        for link in self.after_as_first[r]:
            then = self.placed.get(link.then)
            if then is not None:
                window.end_max = min(window.end_max, then.start - link.min_gap)
                if link.max_gap is not None:
                    window.end_min = max(window.end_min, then.start - link.max_gap)
        return window

    def fits(self, placement: Placement) -> bool:
        """Whether this exact block obeys every hard rule but the quotas, given what is placed."""
        r, i = placement.request, placement.instrument
        request = self.problem.requests[r]
        latest = self.problem.horizon if request.latest is None else min(request.latest, self.problem.horizon)
        if i not in request.instruments or not request.min_shifts <= placement.shifts <= request.shifts:
            return False
        if placement.start < max(request.earliest, 0) or placement.end > latest:
            return False
        capacity = self.problem.instruments[i].capacity
        if capacity is not None and self.allocated_shifts[i] + placement.shifts > capacity:
            return False
        for link in self.after_as_then[r]:
            first = self.placed.get(link.first)
            if first is not None and not _gap_ok(placement.start - first.end, link):
                return False
        for link in self.after_as_first[r]:
            then = self.placed.get(link.then)
            if then is not None and not _gap_ok(then.start - placement.end, link):
                return False
        return self._free_runs(r, i, placement.start, placement.end) == [(placement.start, placement.end)]

    def _free_runs(self, r: int, i: int, lo: int, hi: int) -> list[Span]:
        """Runs in [lo, hi) where request `r` could sit on instrument `i`, ignoring capacity and links."""
        if hi <= lo:
            return []
        occupied = self.blocked[i][lo:hi] | (self.near_allocation[i][lo:hi] > 0)
        unavailable = self.unavailable.get(r)
        if unavailable is not None:
            occupied |= unavailable[lo:hi]
        for e in self.problem.requests[r].equipment:
            occupied |= self.equipment_in_use[e][lo:hi] >= self.problem.equipment[e].units
        return _unoccupied_runs(occupied, lo)


@dataclass(slots=True)
class _Window:
    lo: int
    hi: int
    start_min: int
    start_max: int
    end_min: int
    end_max: int

    def earliest_start(self, runs: Sequence[Span], shifts: int) -> int | None:
        """The first start of a `shifts` block inside one of the sorted free `runs` and this window."""
        first_start = max(self.start_min, self.end_min - shifts)
        last_start = min(self.start_max, self.end_max - shifts)
        for run_start, run_end in runs:
            start = max(run_start, first_start)
            if start > last_start:
                return None
            if start + shifts <= run_end:
                return start
        return None

    def tightest_start(self, runs: Sequence[Span], shifts: int) -> tuple[int, int] | None:
        """Of the sorted free `runs` that hold a `shifts` block inside this window, the one it leaves
        fewest shifts of (the first of equals): (those shifts, the block's first start in it)."""
        first_start = max(self.start_min, self.end_min - shifts)
        last_start = min(self.start_max, self.end_max - shifts)
        best: tuple[int, int] | None = None
        for run_start, run_end in runs:
            start = max(run_start, first_start)
            if start > last_start:
                break
            left = run_end - run_start - shifts
            if start + shifts <= run_end and (best is None or left < best[0]):
                best = (left, start)
        return best


def _gap_ok(gap: int, link: After) -> bool:
    return gap >= link.min_gap and (link.max_gap is None or gap <= link.max_gap)


def is_feasible(problem: Problem, placements: Sequence[Placement]) -> list[str]:
    """Every broken hard rule of the contract, one message each; empty when the schedule is valid.

    Deliberately naive (no shared state with `greedy`) so that it can check it.
    Rule 9 (proposals cut by scoring) is decided before a Problem exists.
    """
    errors: list[str] = []
    known: list[Placement] = []
    seen: set[int] = set()
    for p in placements:
        if not 0 <= p.request < len(problem.requests):
            errors.append(f"allocation of unknown request #{p.request}")
            continue
        request = problem.requests[p.request]
        if p.request in seen:
            errors.append(f"{request.name}: more than one allocation")
        seen.add(p.request)
        if p.instrument not in request.instruments or not 0 <= p.instrument < len(problem.instruments):
            errors.append(f"{request.name}: instrument #{p.instrument} is not one of its instruments")
            continue
        known.append(p)
        errors.extend(_block_errors(problem, p))
    errors.extend(_changeover_and_capacity_errors(problem, known))
    errors.extend(_equipment_errors(problem, known))
    errors.extend(_link_errors(problem, known))
    errors.extend(_quota_errors(problem, known))
    present = set(placements)
    for pin in problem.pinned:
        if pin not in present:
            errors.append(f"{_name(problem, pin.request)}: pinned allocation missing or changed")
    return errors


def _name(problem: Problem, r: int) -> str:
    return problem.requests[r].name if 0 <= r < len(problem.requests) else f"request #{r}"


def _overlaps(start: int, end: int, spans: Iterable[Span]) -> bool:
    return any(start < span_end and span_start < end for span_start, span_end in spans)


def _block_errors(problem: Problem, p: Placement) -> list[str]:
    """Rules 2 and 4: length, grid, blocked shifts, the request's window and unavailable spans."""
    request = problem.requests[p.request]
    instrument = problem.instruments[p.instrument]
    where = f"{request.name} on {instrument.name} [{p.start}, {p.end})"
    errors = []
    if not request.min_shifts <= p.shifts <= request.shifts:
        errors.append(f"{where}: {p.shifts} shifts outside [{request.min_shifts}, {request.shifts}]")
    if p.start < 0 or p.end > problem.horizon:
        errors.append(f"{where}: outside the grid of {problem.horizon} shifts")
    if _overlaps(p.start, p.end, instrument.blocked):
        errors.append(f"{where}: overlaps a blocked span")
    if p.start < request.earliest or (request.latest is not None and p.end > request.latest):
        errors.append(f"{where}: outside its window [{request.earliest}, {request.latest})")
    if _overlaps(p.start, p.end, request.unavailable):
        errors.append(f"{where}: overlaps an unavailable span")
    return errors


def _changeover_and_capacity_errors(problem: Problem, placements: Sequence[Placement]) -> list[str]:
    """Rules 3 and 7 (capacity): sorted by start, each block must clear the previous one's changeover."""
    errors = []
    by_instrument: dict[int, list[Placement]] = defaultdict(list)
    for p in placements:
        by_instrument[p.instrument].append(p)
    for i, on_instrument in sorted(by_instrument.items()):
        instrument = problem.instruments[i]
        on_instrument.sort(key=lambda p: (p.start, p.end))
        for before, after in pairwise(on_instrument):
            if after.start < before.end + instrument.changeover:
                errors.append(
                    f"{instrument.name}: {_name(problem, after.request)} at {after.start} starts before "
                    f"{_name(problem, before.request)} ending at {before.end} plus changeover "
                    f"{instrument.changeover}"
                )
        allocated = sum(p.shifts for p in on_instrument)
        if instrument.capacity is not None and allocated > instrument.capacity:
            errors.append(f"{instrument.name}: {allocated} shifts allocated, capacity {instrument.capacity}")
    return errors


def _equipment_errors(problem: Problem, placements: Sequence[Placement]) -> list[str]:
    """Rule 5: count the users of each item shift by shift."""
    errors = []
    for e, item in enumerate(problem.equipment):
        in_use: Counter[int] = Counter()
        for p in placements:
            if e in problem.requests[p.request].equipment:
                in_use.update(range(p.start, p.end))
        overbooked = sorted(shift for shift, users in in_use.items() if users > item.units)
        if overbooked:
            errors.append(
                f"equipment {item.name}: {in_use[overbooked[0]]} users at shift {overbooked[0]}, {item.units} units"
            )
    return errors


def _link_errors(problem: Problem, placements: Sequence[Placement]) -> list[str]:
    """Rule 6."""
    errors = []
    by_request = {p.request: p for p in placements}
    for group in problem.all_or_nothing:
        placed = [r for r in group.requests if r in by_request]
        if placed and len(placed) < len(group.requests):
            names = ", ".join(_name(problem, r) for r in group.requests)
            errors.append(f"all_or_nothing ({names}): only some are allocated")
    for link in problem.after:
        first, then = by_request.get(link.first), by_request.get(link.then)
        if first is None or then is None:
            continue
        gap = then.start - first.end
        if gap < link.min_gap or (link.max_gap is not None and gap > link.max_gap):
            errors.append(
                f"after link {_name(problem, link.first)} -> {_name(problem, link.then)}: gap {gap} "
                f"outside [{link.min_gap}, {link.max_gap}]"
            )
    return errors


def _quota_errors(problem: Problem, placements: Sequence[Placement]) -> list[str]:
    """Rule 7 (hard quotas), in exact fractions; a scope without allocated shifts meets any quota."""
    errors = []
    for quota in problem.quotas:
        if quota.soft:
            continue
        in_scope = [p for p in placements if p.instrument in quota.instruments]
        total = sum(p.shifts for p in in_scope)
        if total == 0:
            continue
        weighted = sum(Fraction(quota.weights.get((p.request, p.instrument), 0)) * p.shifts for p in in_scope)
        share = weighted / total
        if quota.min_share is not None and share < quota.min_share:
            errors.append(f"quota {quota.name}: share {share} below {quota.min_share}")
        if quota.max_share is not None and share > quota.max_share:
            errors.append(f"quota {quota.name}: share {share} above {quota.max_share}")
    return errors
