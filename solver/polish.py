"""Local moves that finish a schedule: exact insertions, then swaps with a refill, then component swaps
(a lower-ranked block out on each linked member's instruments).

The neighbourhood search sees part of the round at a time, so a request that
fits as it is, or lower-ranked blocks whose removal makes room for a better
request or linked component, can be left behind. These passes try such moves on the whole schedule
and keep each one that raises the model's objective (`objective_units`: the
primary objective net of soft-quota penalties and the stability bonus), so a
returned schedule has no free insertion and no improving single swap.

Every move is checked against every hard rule through the greedy's occupancy
(blocked spans, changeovers, capacity, equipment, windows, unavailability,
after links, all_or_nothing components) and its hard-quota tally.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from solver.greedy import Occupancy, all_or_nothing_components
from solver.model import ModelData, objective_units
from solver.problem import Placement, Problem

COMPONENT_REMOVALS = 20
"""Lower-ranked blocks tried per member of a linked component when making room for it (least valuable first)."""


@dataclass(frozen=True)
class Move:
    removed: tuple[Placement, ...]
    added: tuple[Placement, ...]
    units: int
    """The model's objective after the move."""


class _Schedule:
    """A valid schedule that moves can be tried on and undone."""

    def __init__(self, problem: Problem, data: ModelData, placements: Sequence[Placement]) -> None:
        self.problem = problem
        self.data = data
        self.occupancy = Occupancy(problem)
        for placement in placements:
            self.occupancy.add(placement)
        self.units = objective_units(problem, data, placements)
        self.components = all_or_nothing_components(problem)
        pinned = {pin.request for pin in problem.pinned}
        self.movable = [pinned.isdisjoint(self.members(r)) for r in range(len(problem.requests))]
        self.previous = {placement.request: placement for placement in problem.previous}
        self.by_priority = sorted(range(len(problem.requests)), key=lambda r: -problem.requests[r].priority)
        self._blocks: dict[int, list[Placement]] | None = None

    def blocks(self, i: int) -> list[Placement]:
        """The blocks on instrument `i` by start, as of the last applied move."""
        if self._blocks is None:
            self._blocks = defaultdict(list)
            for placement in sorted(self.occupancy.placed.values(), key=lambda p: p.start):
                self._blocks[placement.instrument].append(placement)
        return self._blocks.get(i, [])

    def members(self, r: int) -> tuple[int, ...]:
        return self.components[r] or (r,)

    def placements(self) -> list[Placement]:
        return list(self.occupancy.placed.values())

    def unplaced(self) -> list[int]:
        """Unplaced requests, highest priority first, one per all_or_nothing component."""
        seen: set[int] = set()
        found = []
        for r in self.by_priority:
            if r not in self.occupancy.placed and r not in seen:
                seen.update(self.members(r))
                found.append(r)
        return found

    def value(self) -> int | None:
        """The objective of the schedule as it stands, or None when a hard quota is broken."""
        if not self.occupancy.quotas.hold():
            return None
        return objective_units(self.problem, self.data, self.placements())

    def apply(self, move: Move) -> None:
        for placement in move.removed:
            self.occupancy.remove(placement)
        for placement in move.added:
            self.occupancy.add(placement)
        self.units = move.units
        self._blocks = None


def _additions(schedule: _Schedule, r: int) -> Iterator[tuple[Placement, ...]]:
    """Every distinct way to add unplaced request `r` as things stand.

    A lone request: its previous block, and the earliest block of every length on every
    instrument (where a block sits changes nothing else in the objective). A component of
    linked requests: its members by first fit, together.
    """
    occupancy = schedule.occupancy
    members = schedule.members(r)
    if len(members) > 1:
        added: list[Placement] = []
        for member in members:
            placement = occupancy.first_fit(member, respect_quotas=False)
            if placement is None:
                break
            occupancy.add(placement)
            added.append(placement)
        for placement in added:
            occupancy.remove(placement)
        if len(added) == len(members):
            yield tuple(added)
        return
    previous = schedule.previous.get(r)
    if previous is not None and occupancy.fits(previous):
        yield (previous,)
    for i in schedule.problem.requests[r].instruments:
        for placement in occupancy.earliest_blocks(r, i):
            yield (placement,)


def _best_after(schedule: _Schedule, removed: tuple[Placement, ...], r: int) -> Move | None:
    """The best valid move that takes out `removed` and adds request `r` (with its component);
    when `removed` is not empty, also with the removed blocks put back elsewhere (a refill)."""
    occupancy = schedule.occupancy
    if removed and not _quotas_may_allow(schedule, removed, r):
        return None
    for placement in removed:
        occupancy.remove(placement)
    best: Move | None = None
    for added in list(_additions(schedule, r)):
        for placement in added:
            occupancy.add(placement)
        best = _better(best, _evaluated(schedule, removed, added))
        if removed:
            refill = _refill(schedule, removed)
            if refill:
                best = _better(best, _evaluated(schedule, removed, added + refill))
                for placement in refill:
                    occupancy.remove(placement)
        for placement in added:
            occupancy.remove(placement)
    for placement in removed:
        occupancy.add(placement)
    return best


def _quotas_may_allow(schedule: _Schedule, removed: tuple[Placement, ...], r: int) -> bool:
    """Whether, with `removed` taken out, the hard quotas let lone request `r` in on one of its
    instruments at some length (a share is linear in the length, so the two extremes decide).

    A cheap test before the occupancy is touched, which most swaps in quota-bound rounds fail
    (polish took 3.6 s of CPU on a quota-tight facility round without it, 2.0 s with it). Every
    valid plain swap passes it; a refill that would restore the share is not looked for then.
    """
    if len(schedule.members(r)) > 1:
        return True
    tally = schedule.occupancy.quotas
    request = schedule.problem.requests[r]
    for placement in removed:
        tally.count(placement, -1)
    allowed = any(
        tally.allows(r, i, shifts) for i in request.instruments for shifts in (request.min_shifts, request.shifts)
    )
    for placement in removed:
        tally.count(placement, 1)
    return allowed


def _refill(schedule: _Schedule, removed: tuple[Placement, ...]) -> tuple[Placement, ...]:
    """The removed requests placed again by first fit (all of them, or none), left in the occupancy."""
    occupancy = schedule.occupancy
    placed: list[Placement] = []
    for old in removed:
        placement = occupancy.first_fit(old.request, respect_quotas=False)
        if placement is None:
            for undone in placed:
                occupancy.remove(undone)
            return ()
        occupancy.add(placement)
        placed.append(placement)
    return tuple(placed)


def _evaluated(schedule: _Schedule, removed: tuple[Placement, ...], added: tuple[Placement, ...]) -> Move | None:
    """The move as it now stands in the occupancy, if it keeps the hard quotas and gains in primary value.

    A swap that lowers the primary objective is not looked for, so the model's full
    objective is only computed for moves that may raise it.
    """
    requests = schedule.problem.requests
    gain = sum(requests[p.request].priority * p.shifts for p in added)
    loss = sum(requests[p.request].priority * p.shifts for p in removed)
    if gain <= loss and not (added and any(p == schedule.previous.get(p.request) for p in added)):
        return None
    units = schedule.value()
    return None if units is None else Move(removed, added, units)


def _better(best: Move | None, candidate: Move | None) -> Move | None:
    if candidate is None or (best is not None and best.units >= candidate.units):
        return best
    return candidate


def _best_insertion(schedule: _Schedule, r: int) -> Move | None:
    """The best valid way to add unplaced request `r` as the schedule stands, if it raises the objective."""
    move = _best_after(schedule, (), r)
    return move if move is not None and move.units > schedule.units else None


def _removals(schedule: _Schedule, r: int) -> Iterator[tuple[Placement, ...]]:
    """Lower-ranked blocks on `r`'s instruments (with their components) whose removal opens a hole that
    `r` could use within its dates; the least valuable first."""
    problem = schedule.problem
    request = problem.requests[r]
    latest = problem.horizon if request.latest is None else min(request.latest, problem.horizon)
    found: list[tuple[float, tuple[Placement, ...]]] = []
    for i in request.instruments:
        blocks = schedule.blocks(i)
        # Only a block whose hole reaches into the request's dates: the next block starts after
        # `earliest` and the one before ends before `latest` (blocks on an instrument are disjoint).
        first = max(0, bisect_right(blocks, request.earliest, key=lambda p: p.start) - 1)
        last = min(len(blocks), bisect_left(blocks, latest, key=lambda p: p.end) + 1)
        for k in range(first, last):
            block = blocks[k]
            if problem.requests[block.request].priority >= request.priority or not schedule.movable[block.request]:
                continue
            low = blocks[k - 1].end if k > 0 else 0
            high = blocks[k + 1].start if k + 1 < len(blocks) else problem.horizon
            if min(high, latest) - max(low, request.earliest) < request.min_shifts:
                continue
            removed = tuple(schedule.occupancy.placed[m] for m in schedule.members(block.request))
            found.append((sum(problem.requests[p.request].priority * p.shifts for p in removed), removed))
    found.sort(key=lambda item: item[0])
    yield from (removed for _, removed in found)


def _best_swap(schedule: _Schedule, r: int, deadline: float = float("inf")) -> Move | None:
    """The first lower-ranked block (least valuable first) whose removal, with or without a refill,
    lets unplaced request `r` in and raises the objective."""
    for removed in _removals(schedule, r):
        if time.monotonic() > deadline:
            return None
        move = _best_after(schedule, removed, r)
        if move is not None and move.units > schedule.units:
            return move
    return None


def _best_component_swap(schedule: _Schedule, r: int, deadline: float = float("inf")) -> Move | None:
    """For an unplaced component of linked requests, lower-ranked blocks taken out on each member's
    instruments in turn (the least valuable that lets that member in by first fit), then the component
    added and the removed blocks refilled, if that raises the objective.

    A single swap frees one member's instruments only, so a component whose instruments are all full
    never gets in by one (link-heavy facility rounds: 1-2 % of the objective was left there)."""
    members = schedule.members(r)
    if len(members) < 2:
        return None
    occupancy = schedule.occupancy
    options = [list(islice(_removals(schedule, m), COMPONENT_REMOVALS)) for m in members]
    removed: list[Placement] = []
    added: list[Placement] = []
    for m, removals in zip(members, options, strict=True):
        placement = occupancy.first_fit(m, respect_quotas=False)
        for candidate in removals if placement is None else ():
            if time.monotonic() > deadline:
                break
            if any(p in removed for p in candidate):
                continue
            for p in candidate:
                occupancy.remove(p)
            placement = occupancy.first_fit(m, respect_quotas=False)
            if placement is not None:
                removed.extend(candidate)
                break
            for p in candidate:
                occupancy.add(p)
        if placement is None:
            break
        occupancy.add(placement)
        added.append(placement)
    complete = len(added) == len(members)
    for p in added:
        occupancy.remove(p)
    for p in removed:
        occupancy.add(p)
    if not complete or not removed:
        return None
    move = _best_after(schedule, tuple(removed), r)
    return move if move is not None and move.units > schedule.units else None


def polish(
    problem: Problem, data: ModelData, placements: Sequence[Placement], deadline: float = float("inf")
) -> list[Placement]:
    """`placements` (a valid schedule) improved by insertions, swaps and component swaps until none
    finds a move or `time.monotonic()` passes `deadline`. The result is valid and never scores lower."""
    schedule = _Schedule(problem, data, placements)
    passes = (_best_insertion_by_deadline, _best_swap, _best_component_swap)
    changed = True
    while changed and time.monotonic() < deadline:
        changed = False
        for best_move in passes:
            for r in schedule.unplaced():
                if time.monotonic() > deadline:
                    break
                move = best_move(schedule, r, deadline)
                if move is not None:
                    schedule.apply(move)
                    changed = True
    return schedule.placements()


def _best_insertion_by_deadline(schedule: _Schedule, r: int, deadline: float) -> Move | None:
    return _best_insertion(schedule, r)


def free_insertions(problem: Problem, data: ModelData, placements: Sequence[Placement]) -> list[int]:
    """Unplaced requests that could be added as they are, raising the objective."""
    schedule = _Schedule(problem, data, placements)
    return [r for r in schedule.unplaced() if _best_insertion(schedule, r) is not None]


def improving_swaps(problem: Problem, data: ModelData, placements: Sequence[Placement]) -> list[tuple[int, int]]:
    """(unplaced request, lower-ranked placed request) pairs where taking out the second (with its
    component, refilled elsewhere or not) lets the first in and raises the objective."""
    schedule = _Schedule(problem, data, placements)
    pairs = []
    for r in schedule.unplaced():
        for removed in _removals(schedule, r):
            move = _best_after(schedule, removed, r)
            if move is not None and move.units > schedule.units:
                pairs.append((r, removed[0].request))
    return pairs
