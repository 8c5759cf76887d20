"""Why a request got no time, and which hard rules make a round infeasible.

Reasons are tested in the order a coordinator would ask: could it ever fit
(windows), does a linked request rule it out, is there a gap on any of its
instruments (capacity), would shared equipment or the reserve or a link or a
quota stop it there. A request that would fit with nothing against it is
reported as capacity with the place it would fit, so the answer stays honest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from ortools.sat.python import cp_model

from solver.model import ModelData, build, free_runs, merged
from solver.problem import Placement, Problem, Settings
from solver.solution import Reason, Unallocated, quota_outcome

DIAGNOSIS_SECONDS = 30.0

Mask = NDArray[np.bool_]


class _Occupancy:
    """Shifts each instrument and equipment item has taken in a schedule."""

    def __init__(self, problem: Problem, placements: Sequence[Placement]) -> None:
        self.problem = problem
        self.busy = [np.zeros(problem.horizon, dtype=bool) for _ in problem.instruments]
        self.used = np.zeros(len(problem.instruments), dtype=np.int64)
        self.equipment = [np.zeros(problem.horizon, dtype=np.int64) for _ in problem.equipment]
        self.placed = {p.request: p for p in placements}
        for p in placements:
            changeover = problem.instruments[p.instrument].changeover
            self.busy[p.instrument][max(0, p.start - changeover) : p.end + changeover] = True
            self.used[p.instrument] += p.shifts
            for e in problem.requests[p.request].equipment:
                self.equipment[e][p.start : p.end] += 1

    def closed(self, r: int, i: int, with_schedule: bool) -> Mask:
        """Shifts where request `r` may not lie on instrument `i`."""
        request = self.problem.requests[r]
        mask = np.ones(self.problem.horizon, dtype=bool)
        latest = self.problem.horizon if request.latest is None else request.latest
        spans = merged(self.problem.instruments[i].blocked, request.unavailable)
        for start, end in free_runs(spans, request.earliest, min(latest, self.problem.horizon)):
            mask[start:end] = False
        if with_schedule:
            mask |= self.busy[i]
        return mask

    def equipment_full(self, r: int) -> Mask:
        full = np.zeros(self.problem.horizon, dtype=bool)
        for e in self.problem.requests[r].equipment:
            full |= self.equipment[e] >= self.problem.equipment[e].units
        return full


def _starts(closed: Mask, length: int) -> list[int]:
    """Starts of blocks of `length` shifts that avoid every closed shift."""
    if length > len(closed):
        return []
    window = np.lib.stride_tricks.sliding_window_view(closed, length)
    return [int(s) for s in np.flatnonzero(~window.any(axis=1))]


def explain_unallocated(problem: Problem, placements: Sequence[Placement]) -> tuple[Unallocated, ...]:
    occupancy = _Occupancy(problem, placements)
    never = {r for r in range(len(problem.requests)) if not _could_ever_fit(occupancy, r)}
    partners: dict[int, set[int]] = defaultdict(set)
    for link in problem.all_or_nothing:
        for r in link.requests:
            partners[r].update(set(link.requests) - {r})
    explained = []
    for r in range(len(problem.requests)):
        if r in occupancy.placed:
            continue
        reason, detail = _reason(problem, occupancy, r, never, partners[r])
        explained.append(Unallocated(r, reason, detail))
    return tuple(explained)


def _could_ever_fit(occupancy: _Occupancy, r: int) -> bool:
    length = occupancy.problem.requests[r].min_shifts
    return any(_starts(occupancy.closed(r, i, False), length) for i in occupancy.problem.requests[r].instruments)


def _names(problem: Problem, instruments: Sequence[int]) -> str:
    return ", ".join(problem.instruments[i].name for i in instruments)


def _reason(problem: Problem, occupancy: _Occupancy, r: int, never: set[int], partners: set[int]) -> tuple[Reason, str]:
    request = problem.requests[r]
    length = request.min_shifts
    if r in never:
        return "window", (
            f"no {length} consecutive shifts on {_names(problem, request.instruments)} are free of "
            "maintenance windows and the team's unavailability within its dates"
        )
    hopeless = sorted(problem.requests[p].name for p in partners & never)
    if hopeless:
        return "link", f"linked all-or-nothing with {', '.join(hopeless)}, which can never be scheduled"
    gaps = {i: _starts(occupancy.closed(r, i, True), length) for i in request.instruments}
    if not any(gaps.values()):
        return "capacity", f"{_names(problem, request.instruments)} have no free {length}-shift gap left"
    full = occupancy.equipment_full(r)
    usable = {i: [s for s in starts if not full[s : s + length].any()] for i, starts in gaps.items()}
    if not any(usable.values()):
        items = ", ".join(problem.equipment[e].name for e in request.equipment)
        return "equipment", f"{items} is in use at every gap its instruments have"
    room = {i: starts for i, starts in usable.items() if starts and _has_room(problem, occupancy, i, length)}
    if not room:
        return "capacity", f"{_names(problem, list(usable))} reached the share of time kept in reserve"
    unplaced = sorted(problem.requests[p].name for p in partners if p not in occupancy.placed)
    if unplaced:
        return "link", f"linked all-or-nothing with {', '.join(unplaced)}, which got no time"
    room = {i: [s for s in starts if _after_links_hold(problem, occupancy, r, s, length)] for i, starts in room.items()}
    if not any(room.values()):
        return "link", "no gap keeps the required distance to its linked request"
    i, start = next((i, starts[0]) for i, starts in room.items() if starts)
    broken = _quotas_broken_by(problem, _placements_with(occupancy, Placement(r, i, start, length)), occupancy)
    if broken:
        return "quota", f"giving it time would break {', '.join(broken)}"
    return "capacity", (
        f"would fit at shift {start} on {problem.instruments[i].name}, but the search did not place it "
        "within its time limit"
    )


def _has_room(problem: Problem, occupancy: _Occupancy, i: int, length: int) -> bool:
    capacity = problem.instruments[i].capacity
    return capacity is None or occupancy.used[i] + length <= capacity


def _after_links_hold(problem: Problem, occupancy: _Occupancy, r: int, start: int, length: int) -> bool:
    for link in problem.after:
        if link.then == r and (first := occupancy.placed.get(link.first)):
            gap = start - first.end
        elif link.first == r and (then := occupancy.placed.get(link.then)):
            gap = then.start - (start + length)
        else:
            continue
        if gap < link.min_gap or (link.max_gap is not None and gap > link.max_gap):
            return False
    return True


def _placements_with(occupancy: _Occupancy, extra: Placement) -> list[Placement]:
    return [*occupancy.placed.values(), extra]


def _quotas_broken_by(problem: Problem, after: list[Placement], occupancy: _Occupancy) -> list[str]:
    before = list(occupancy.placed.values())
    broken = []
    for index, quota in enumerate(problem.quotas):
        was, now = quota_outcome(problem, index, before), quota_outcome(problem, index, after)
        if now.deviation > was.deviation and (not quota.soft or now.penalty - was.penalty > 0):
            broken.append(f"{'soft' if quota.soft else 'hard'} quota {quota.group or quota.name}")
    return broken


def explain_infeasibility(problem: Problem, settings: Settings) -> tuple[str, ...]:
    """A small set of pinned allocations and hard quotas that cannot all hold, in words."""
    built = build(problem, ModelData.of(problem), diagnose=True)
    literals = list(built.assumptions)
    built.model.add_assumptions(literals)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = min(settings.time_limit, DIAGNOSIS_SECONDS)
    solver.parameters.num_workers = 1
    status = solver.solve(built.model)
    if status != cp_model.INFEASIBLE:
        return ("the pinned allocations conflict, but no smaller cause was found in time",)
    core = solver.sufficient_assumptions_for_infeasibility()
    by_index = {literal.index: name for literal, name in built.assumptions.items()}
    causes = sorted(by_index[index] for index in core if index in by_index)
    if not causes:
        return ("the round's hard rules cannot hold together even with nothing allocated",)
    return (f"these cannot hold together: {'; '.join(causes)}",)
