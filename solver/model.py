"""The CP-SAT model: one optional interval per (request, instrument) candidate.

The same builder serves the whole round and each neighbourhood of the
improvement loop: placements outside the neighbourhood are passed in as
`fixed` and enter every constraint as constants, so a sub-model holds only
the candidates that may change and builds in milliseconds.

A candidate's length is `min_shifts + extra`; `extra` is 0 when the
candidate is absent, which keeps allocated shifts linear (`min·present + extra`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from solver.fair_return import OwedRow, owed_rows
from solver.problem import Placement, Problem, Span

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

# OR-Tools (with pandas: 0.25-0.3 CPU s) is imported where a model is built or solved, not with this
# module: a command whose limit leaves no time for the search returns the greedy's schedule without it.

Candidate = tuple[int, int]
HintRule = Callable[[dict[Candidate, Placement]], int]

OBJECTIVE_RESOLUTION = 1000
"""Integer objective units per unit of the smallest priority."""
MAX_COEFFICIENT = 10_000_000


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    """The part of the schedule a sub-model may change: some instruments within a time window."""

    instruments: frozenset[int]
    window: Span
    requests: frozenset[int] | None = None
    """The requests that may be placed in it (its own blocks' and some unplaced ones), or None for
    every request not held: at facility size most unplaced requests could go anywhere, and a
    sub-model with all of them is too big to solve in a second."""

    def holds(self, placement: Placement) -> bool:
        """Whether `placement` lies within the neighbourhood, so a sub-model may move it."""
        low, high = self.window
        return placement.instrument in self.instruments and low <= placement.start and placement.end <= high


@dataclass
class CandidateVars:
    request: int
    instrument: int
    present: cp_model.IntVar
    start: cp_model.IntVar
    extra: cp_model.IntVar | int
    end: cp_model.IntVar | cp_model.LinearExprT
    """A variable when the length varies, since CP-SAT intervals need an affine end."""
    min_shifts: int
    interval: cp_model.IntervalVar

    @property
    def shifts(self) -> cp_model.LinearExprT:
        return self.min_shifts * self.present + self.extra


@dataclass
class Built:
    model: cp_model.CpModel
    candidates: dict[Candidate, CandidateVars]
    data: ModelData
    fixed: list[Placement] = field(default_factory=list)
    """Placements held as constants, pins included."""
    quota_slack: dict[int, cp_model.IntVar] = field(default_factory=dict)
    owed: dict[int, cp_model.IntVar] = field(default_factory=dict)
    """Fair-return target -> whole shifts it is still owed after this round."""
    kept: dict[int, cp_model.IntVar] = field(default_factory=dict)
    assumptions: dict[cp_model.IntVar, str] = field(default_factory=dict)
    """Diagnosis mode: literal -> the hard rule it switches on, in words."""
    derived_hints: list[tuple[cp_model.IntVar, HintRule]] = field(default_factory=list)
    """Auxiliary variables and how to compute them from placements, for complete hints."""

    def schedule(self, solver: cp_model.CpSolver) -> list[Placement]:
        """The held placements and the sub-model's own: a whole schedule."""
        placed = list(self.fixed)
        for (r, i), var in self.candidates.items():
            if solver.boolean_value(var.present):
                placed.append(Placement(r, i, solver.value(var.start), solver.value(var.shifts)))
        return placed

    def add_hint(self, placements: Iterable[Placement]) -> None:
        """Hint every variable, so CP-SAT takes a feasible hint as its first solution at once."""
        self.model.clear_hints()
        chosen = {(p.request, p.instrument): p for p in placements}
        chosen = {key: placement for key, placement in chosen.items() if key in self.candidates}
        for key, var in self.candidates.items():
            placement = chosen.get(key)
            start = placement.start if placement else int(var.start.proto.domain[0])
            self.model.add_hint(var.present, placement is not None)
            self.model.add_hint(var.start, start)
            if not isinstance(var.extra, int):
                shifts = placement.shifts if placement else var.min_shifts
                self.model.add_hint(var.extra, shifts - var.min_shifts)
                self.model.add_hint(var.end, start + shifts)
        for aux, rule in self.derived_hints:
            self.model.add_hint(aux, rule(chosen))


def free_runs(blocked: Sequence[Span], low: int, high: int) -> list[Span]:
    """The maximal runs of shifts in `[low, high)` outside the sorted, merged `blocked` spans."""
    runs = []
    cursor = low
    for start, end in blocked:
        if end <= cursor:
            continue
        if start >= high:
            break
        if start > cursor:
            runs.append((cursor, min(start, high)))
        cursor = max(cursor, end)
    if cursor < high:
        runs.append((cursor, high))
    return runs


def merged(*span_lists: Iterable[Span]) -> list[Span]:
    result: list[list[int]] = []
    for start, end in sorted(span for spans in span_lists for span in spans):
        if result and start <= result[-1][1]:
            result[-1][1] = max(result[-1][1], end)
        else:
            result.append([start, end])
    return [(start, end) for start, end in result]


def objective_scale(problem: Problem) -> int:
    priorities = [request.priority for request in problem.requests] or [1.0]
    scale = OBJECTIVE_RESOLUTION / min(priorities)
    return max(1, min(round(scale), MAX_COEFFICIENT // max(1, math.ceil(max(priorities)))))


def build(
    problem: Problem,
    data: ModelData,
    neighbourhood: Neighbourhood | None = None,
    fixed: Sequence[Placement] = (),
    diagnose: bool = False,
) -> Built:
    """The model of `problem`; in a neighbourhood, `fixed` placements (and pins) are held as constants.

    On the whole round, pins are candidates whose values are forced, so that
    every rule sees them and pins that collide make the model infeasible. In
    diagnosis mode they, and hard quotas, are switched on by assumption literals
    so that CP-SAT can name a small set of them that cannot hold together.
    """
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    if neighbourhood is not None:
        fixed = _with_pins(problem, fixed)
    built = Built(model, {}, data, list(fixed))
    fixed_requests = {placement.request for placement in fixed}
    _add_candidates(built, problem, neighbourhood, fixed_requests)
    if neighbourhood is None:
        _add_pins(built, problem, diagnose)
    window = neighbourhood.window if neighbourhood else (0, problem.horizon)
    nearby = _nearby(problem, fixed, window)
    _add_request_choice(built)
    _add_instrument_no_overlap(built, problem, nearby, window)
    _add_changeovers(built, problem, nearby)
    _add_capacity(built, problem, fixed)
    _add_equipment(built, problem, nearby)
    _add_all_or_nothing(built, problem, fixed_requests)
    _add_after(built, problem, fixed)
    constants = data.row_values(fixed)
    for index in range(len(problem.quotas)):
        _add_quota(built, problem, index, constants, diagnose)
    for row in data.owed:
        _add_owed(built, problem, row, fixed)
    _add_objective(built, problem, fixed_requests)
    return built


def _nearby(problem: Problem, fixed: Sequence[Placement], window: Span) -> list[Placement]:
    """The held placements a block within `window` could collide with (changeover included):
    a sub-model's size then follows its window, not the round's."""
    low, high = window
    return [
        p
        for p in fixed
        if p.end + problem.instruments[p.instrument].changeover > low
        and p.start < high + problem.instruments[p.instrument].changeover
    ]


def _with_pins(problem: Problem, fixed: Sequence[Placement]) -> list[Placement]:
    held = {placement.request for placement in fixed}
    return list(fixed) + [pin for pin in problem.pinned if pin.request not in held]


def _add_candidates(
    built: Built, problem: Problem, neighbourhood: Neighbourhood | None, fixed_requests: set[int]
) -> None:
    low, high = neighbourhood.window if neighbourhood else (0, problem.horizon)
    requests = range(len(problem.requests))
    if neighbourhood is not None:
        requests = _requests_on(built.data, neighbourhood)  # type: ignore[assignment]
    for r in requests:
        if r in fixed_requests:
            continue
        request = problem.requests[r]
        for i in request.instruments:
            if neighbourhood and i not in neighbourhood.instruments:
                continue
            runs = [(a, b) for a, b in within(built.data.runs[(r, i)], low, high) if b - a >= request.min_shifts]
            if not runs:
                continue
            longest = max(b - a for a, b in runs)
            built.candidates[(r, i)] = _new_candidate(
                built.model, r, i, request.min_shifts, request.shifts, runs, longest
            )


def _requests_on(data: ModelData, neighbourhood: Neighbourhood) -> list[int]:
    """The requests a neighbourhood may place, in order: its own, or every one with a candidate on its instruments."""
    if neighbourhood.requests is not None:
        return sorted(neighbourhood.requests)
    return sorted({r for i in neighbourhood.instruments for r in data.requests_on.get(i, ())})


def within(runs: Iterable[Span], low: int, high: int) -> list[Span]:
    """`runs` cut to `[low, high)`, empty pieces left out."""
    return [(max(a, low), min(b, high)) for a, b in runs if min(b, high) > max(a, low)]


def usable_runs(problem: Problem, r: int, i: int) -> list[Span]:
    """The free runs on instrument `i` within request `r`'s dates, outside its unavailability, long
    enough for its shortest block."""
    request = problem.requests[r]
    latest = problem.horizon if request.latest is None else min(request.latest, problem.horizon)
    blocked = merged(problem.instruments[i].blocked, request.unavailable)
    return [(a, b) for a, b in free_runs(blocked, request.earliest, latest) if b - a >= request.min_shifts]


def _new_candidate(
    model: cp_model.CpModel, r: int, i: int, min_shifts: int, shifts: int, runs: list[Span], longest: int
) -> CandidateVars:
    from ortools.sat.python import cp_model

    starts = cp_model.Domain.from_intervals([[a, b - min_shifts] for a, b in runs])
    name = f"r{r}i{i}"
    present = model.new_bool_var(f"{name}present")
    start = model.new_int_var_from_domain(starts, f"{name}start")
    most_extra = min(shifts, longest) - min_shifts
    if most_extra == 0:
        interval = model.new_optional_fixed_size_interval_var(start, min_shifts, present, name)
        return CandidateVars(r, i, present, start, 0, start + min_shifts, min_shifts, interval)
    extra = model.new_int_var(0, most_extra, f"{name}extra")
    model.add(extra <= most_extra * present)
    # Windows and unavailability inside the runs are kept out by no-overlap; the end's upper
    # bound keeps the block within the round, the request's latest and the neighbourhood.
    end = model.new_int_var(runs[0][0] + min_shifts, runs[-1][1], f"{name}end")
    interval = model.new_optional_interval_var(start, min_shifts + extra, end, present, name)
    return CandidateVars(r, i, present, start, extra, end, min_shifts, interval)


def _padded(built: Built, var: CandidateVars, padding: int) -> cp_model.IntervalVar:
    return built.model.new_optional_interval_var(
        var.start, var.min_shifts + var.extra + padding, var.end + padding, var.present, ""
    )


def _fixed_interval(built: Built, start: int, length: int) -> cp_model.IntervalVar:
    return built.model.new_fixed_size_interval_var(start, length, "")


def _add_request_choice(built: Built) -> None:
    per_request: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    for (r, _), var in built.candidates.items():
        per_request[r].append(var.present)
    for presents in per_request.values():
        if len(presents) > 1:
            built.model.add_at_most_one(presents)


def _by_instrument(built: Built) -> dict[int, list[CandidateVars]]:
    grouped: dict[int, list[CandidateVars]] = defaultdict(list)
    for (_, i), var in built.candidates.items():
        grouped[i].append(var)
    return grouped


def _add_instrument_no_overlap(built: Built, problem: Problem, nearby: Sequence[Placement], window: Span) -> None:
    """Blocks avoid each other and the instrument's windows (those within the sub-model's `window`);
    this also keeps variable-length blocks out of windows that the start domain alone cannot exclude."""
    low, high = window
    taken = _fixed_by_instrument(nearby)
    for i, vars_ in _by_instrument(built).items():
        intervals = [var.interval for var in vars_]
        intervals += [_fixed_interval(built, a, b - a) for a, b in within(problem.instruments[i].blocked, low, high)]
        intervals += [_fixed_interval(built, p.start, p.shifts) for p in taken.get(i, [])]
        for var in vars_:
            request = problem.requests[var.request]
            if request.unavailable and not isinstance(var.extra, int):
                own = [_fixed_interval(built, a, b - a) for a, b in within(request.unavailable, low, high)]
                built.model.add_no_overlap([var.interval, *own])
        if len(intervals) > 1:
            built.model.add_no_overlap(intervals)


def _fixed_by_instrument(fixed: Sequence[Placement]) -> dict[int, list[Placement]]:
    grouped: dict[int, list[Placement]] = defaultdict(list)
    for placement in fixed:
        grouped[placement.instrument].append(placement)
    return grouped


def _add_changeovers(built: Built, problem: Problem, nearby: Sequence[Placement]) -> None:
    """Blocks padded by the changeover do not overlap: the next block starts `changeover` after."""
    taken = _fixed_by_instrument(nearby)
    for i, vars_ in _by_instrument(built).items():
        changeover = problem.instruments[i].changeover
        if changeover == 0:
            continue
        intervals = [_padded(built, var, changeover) for var in vars_]
        intervals += [_fixed_interval(built, p.start, p.shifts + changeover) for p in taken.get(i, [])]
        if len(intervals) > 1:
            built.model.add_no_overlap(intervals)


def _add_capacity(built: Built, problem: Problem, fixed: Sequence[Placement]) -> None:
    used: dict[int, int] = defaultdict(int)
    for placement in fixed:
        used[placement.instrument] += placement.shifts
    for i, vars_ in _by_instrument(built).items():
        capacity = problem.instruments[i].capacity
        if capacity is not None:
            built.model.add(sum(var.shifts for var in vars_) <= capacity - used[i])


def _add_equipment(built: Built, problem: Problem, nearby: Sequence[Placement]) -> None:
    users: dict[int, list[cp_model.IntervalVar]] = defaultdict(list)
    for var in built.candidates.values():
        for e in problem.requests[var.request].equipment:
            users[e].append(var.interval)
    for placement in nearby:
        for e in problem.requests[placement.request].equipment:
            if e in users:
                users[e].append(_fixed_interval(built, placement.start, placement.shifts))
    for e, intervals in users.items():
        units = problem.equipment[e].units
        if len(intervals) <= units:
            continue
        if units == 1:
            built.model.add_no_overlap(intervals)
        else:
            built.model.add_cumulative(intervals, [1] * len(intervals), units)


def _add_all_or_nothing(built: Built, problem: Problem, fixed_requests: set[int]) -> None:
    presence = _presence_by_request(built)
    for link in problem.all_or_nothing:
        placed = [r for r in link.requests if r in fixed_requests]
        must = 1 if placed else None
        free = [r for r in link.requests if r not in fixed_requests]
        if placed and len(placed) < len(link.requests) and not free:
            continue  # a fixed context that already breaks the link is the caller's problem
        sums = [sum(presence.get(r, [])) for r in free]
        if must is not None:
            for total in sums:
                built.model.add(total == 1)
        else:
            for total in sums[1:]:
                built.model.add(total == sums[0])


def _presence_by_request(built: Built) -> dict[int, list[cp_model.IntVar]]:
    grouped: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    for (r, _), var in built.candidates.items():
        grouped[r].append(var.present)
    return grouped


def _add_after(built: Built, problem: Problem, fixed: Sequence[Placement]) -> None:
    """When both are allocated: min_gap <= then.start - first.end <= max_gap."""
    held = {placement.request: placement for placement in fixed}
    by_request: dict[int, list[CandidateVars]] = defaultdict(list)
    for var in built.candidates.values():
        by_request[var.request].append(var)
    for link in problem.after:
        first, then = held.get(link.first), held.get(link.then)
        if first and then:
            continue
        if first:
            for var in by_request.get(link.then, []):
                _gap_bounds(built, first.end, var.start, link.min_gap, link.max_gap, [var.present])
        elif then:
            for var in by_request.get(link.first, []):
                _gap_bounds(built, var.end, then.start, link.min_gap, link.max_gap, [var.present])
        else:
            for a in by_request.get(link.first, []):
                for b in by_request.get(link.then, []):
                    _gap_bounds(built, a.end, b.start, link.min_gap, link.max_gap, [a.present, b.present])


def _gap_bounds(
    built: Built,
    end: cp_model.LinearExprT,
    start: cp_model.LinearExprT,
    min_gap: int,
    max_gap: int | None,
    when: list[cp_model.IntVar],
) -> None:
    built.model.add(start - end >= min_gap).only_enforce_if(when)
    if max_gap is not None:
        built.model.add(start - end <= max_gap).only_enforce_if(when)


@dataclass(frozen=True)
class QuotaRow:
    """One bound of one quota as `sign x sum(coefficient x shifts) >= 0` over whole integers."""

    quota: int
    sign: int
    """+1 for a minimum share, -1 for a maximum."""
    coefficients: dict[Candidate, int]
    denominator: int
    """Integer units per shift of shortfall or excess."""
    spread: int
    """sum(|coefficient|): how far one shift anywhere can move the row at most."""

    def value(self, placements: Iterable[Placement]) -> int:
        return self.sign * sum(self.coefficients.get((p.request, p.instrument), 0) * p.shifts for p in placements)


@dataclass(frozen=True)
class ModelData:
    """What every model of one problem shares, computed once: neighbourhood models build in milliseconds."""

    scale: int
    """Integer objective units per unit of priority x shifts."""
    rows: tuple[QuotaRow, ...]
    owed: tuple[OwedRow, ...]
    runs: Mapping[Candidate, list[Span]]
    """Each candidate's usable runs (`usable_runs`), which a sub-model cuts to its window."""
    requests_on: Mapping[int, tuple[int, ...]]
    """Instrument -> the requests with a candidate on it."""
    columns: Mapping[Candidate, int]
    row_matrix: np.ndarray
    """sign x coefficient of each quota row (one per line) for each candidate (one per column of
    `columns`, and a last column of zeros for pairs that are not candidates)."""

    @classmethod
    def of(cls, problem: Problem) -> ModelData:
        runs = {(r, i): usable_runs(problem, r, i) for r, i in problem.candidates()}
        requests_on: dict[int, list[int]] = defaultdict(list)
        for r, i in runs:
            requests_on[i].append(r)
        rows = tuple(_quota_rows(problem))
        columns = {key: column for column, key in enumerate(runs)}
        row_matrix = np.zeros((len(rows), len(columns) + 1), dtype=np.int64)
        for line, row in enumerate(rows):
            for key, coefficient in row.coefficients.items():
                row_matrix[line, columns[key]] = row.sign * coefficient
        return cls(
            objective_scale(problem),
            rows,
            owed_rows(problem),
            runs,
            {i: tuple(requests) for i, requests in requests_on.items()},
            columns,
            row_matrix,
        )

    def row_values(self, placements: Sequence[Placement]) -> list[int]:
        """`QuotaRow.value` of every row over `placements` at once: a sub-model holds most of a
        facility round's 2,000 blocks fixed, and a row at a time took most of its build."""
        missing = len(self.columns)
        columns = [self.columns.get((p.request, p.instrument), missing) for p in placements]
        shifts = np.array([p.shifts for p in placements], dtype=np.int64)
        return [int(value) for value in self.row_matrix[:, columns] @ shifts]


def _quota_rows(problem: Problem) -> list[QuotaRow]:
    rows = []
    for index, quota in enumerate(problem.quotas):
        for bound, sign in ((quota.min_share, 1), (quota.max_share, -1)):
            if bound is None:
                continue
            weights = {
                (r, i): quota.weights.get((r, i), Fraction(0))
                for r, request in enumerate(problem.requests)
                for i in request.instruments
                if i in quota.instruments
            }
            # Fractions per distinct weight, not per candidate: a facility round has ~10^5 candidates.
            raw = {weight: weight - bound for weight in set(weights.values())}
            denominator = math.lcm(*(value.denominator for value in raw.values()), bound.denominator)
            integral = {weight: int(value * denominator) for weight, value in raw.items()}
            coefficients = {key: integral[weight] for key, weight in weights.items()}
            spread = sum(abs(c) for c in coefficients.values())
            rows.append(QuotaRow(index, sign, coefficients, denominator, spread))
    return rows


def _weighted_shifts(built: Built, coefficients: Mapping[Candidate, int]) -> cp_model.LinearExprT:
    """sum(coefficient x shifts) over the model's candidates, as one weighted sum: a sum of
    per-candidate expressions costs most of a sub-model's build time."""
    from ortools.sat.python import cp_model

    variables: list[cp_model.IntVar] = []
    weights: list[int] = []
    for key, var in built.candidates.items():
        coefficient = coefficients.get(key, 0)
        if coefficient:
            variables.append(var.present)
            weights.append(coefficient * var.min_shifts)
            if not isinstance(var.extra, int):
                variables.append(var.extra)
                weights.append(coefficient)
    return cp_model.LinearExpr.weighted_sum(variables, weights)


def _add_quota(built: Built, problem: Problem, index: int, constants: Sequence[int], diagnose: bool) -> None:
    """The quota's rows over the candidates, each with the `constants` the held placements give it."""
    quota = problem.quotas[index]
    slacks: list[tuple[cp_model.IntVar, HintRule]] = []
    most_in_all = 0
    for row, constant in zip(built.data.rows, constants, strict=True):
        if row.quota != index:
            continue
        value = constant + row.sign * _weighted_shifts(built, row.coefficients)
        if quota.soft:
            # Whole shifts of shortfall or excess, rounded up: value + denominator x slack >= 0.
            most = row.spread * problem.horizon // row.denominator + 1
            most_in_all += most
            slack = built.model.new_int_var(0, most, f"q{index}slack{row.sign}")
            built.model.add(value + row.denominator * slack >= 0)
            slacks.append((slack, _shortfall_rule(row, constant)))
        elif diagnose:
            literal = built.model.new_bool_var(f"q{index}holds{row.sign}")
            built.model.add(value >= 0).only_enforce_if(literal)
            side = "minimum" if row.sign > 0 else "maximum"
            built.assumptions[literal] = f"the hard {side} share of quota {quota.group or quota.name}"
        else:
            built.model.add(value >= 0)
    if slacks:
        # Not read back from the slacks' protos: OR-Tools 9.15's repeated fields read [-1] as 0,
        # which fixed this total at 0 and made every soft quota hard.
        total = built.model.new_int_var(0, most_in_all, f"q{index}slack")
        built.model.add(total == sum(slack for slack, _ in slacks))
        built.quota_slack[index] = total
        built.derived_hints.extend(slacks)
        built.derived_hints.append((total, lambda chosen: sum(rule(chosen) for _, rule in slacks)))


def _add_owed(built: Built, problem: Problem, row: OwedRow, fixed: Sequence[Placement]) -> None:
    """Whole shifts a fair-return target is still owed: denominator x owed >= what it is owed, owed >= 0."""
    constant = row.units(fixed)
    terms = _weighted_shifts(built, row.coefficients)
    most = (abs(constant) + sum(abs(c) for c in row.coefficients.values()) * problem.horizon) // row.denominator + 1
    owed = built.model.new_int_var(0, most, f"owed{row.target}")
    built.model.add(row.denominator * owed >= constant + terms)
    built.owed[row.target] = owed
    held = list(fixed)

    def owed_rule(chosen: dict[Candidate, Placement]) -> int:
        return row.owed_shifts([*held, *chosen.values()])

    built.derived_hints.append((owed, owed_rule))


def _shortfall_rule(row: QuotaRow, constant: int) -> HintRule:
    def shortfall(chosen: dict[Candidate, Placement]) -> int:
        return _whole_shifts_short(constant + row.value(chosen.values()), row.denominator)

    return shortfall


def _whole_shifts_short(value: int, denominator: int) -> int:
    return max(0, -(value // denominator))


def _add_pins(built: Built, problem: Problem, as_assumptions: bool) -> None:
    for pin in problem.pinned:
        var = built.candidates.get((pin.request, pin.instrument))
        literal = built.model.new_bool_var(f"pin{pin.request}")
        if as_assumptions:
            built.assumptions[literal] = (
                f"pinned allocation of {problem.requests[pin.request].name} on "
                f"{problem.instruments[pin.instrument].name} at shift {pin.start}"
            )
        else:
            built.model.add(literal == 1)
        if var is None:
            built.model.add_bool_or([literal.negated()])
        else:
            _enforce_placement(built, var, pin, literal)


def _enforce_placement(built: Built, var: CandidateVars, placement: Placement, literal: cp_model.IntVar) -> None:
    built.model.add(var.present == 1).only_enforce_if(literal)
    built.model.add(var.start == placement.start).only_enforce_if(literal)
    built.model.add(var.shifts == placement.shifts).only_enforce_if(literal)


def _add_objective(built: Built, problem: Problem, fixed_requests: set[int]) -> None:
    scale = built.data.scale
    weights = {key: round(problem.requests[key[0]].priority * scale) for key in built.candidates}
    terms: list[cp_model.LinearExprT] = [_weighted_shifts(built, weights)]
    for index, slack in built.quota_slack.items():
        terms.append(-round(problem.quotas[index].penalty * scale) * slack)
    for index, owed in built.owed.items():
        terms.append(-round(problem.fair_return[index].price * scale) * owed)
    for index, previous in enumerate(problem.previous):
        candidate = built.candidates.get((previous.request, previous.instrument))
        if candidate is None or previous.request in fixed_requests:
            continue
        kept = built.model.new_bool_var(f"kept{index}")
        _enforce_placement(built, candidate, previous, kept)
        built.kept[index] = kept
        built.derived_hints.append((kept, _kept_rule(previous)))
        bonus = round(problem.stability * problem.requests[previous.request].priority * previous.shifts * scale)
        terms.append(bonus * kept)
    built.model.maximize(sum(terms))


def _kept_rule(previous: Placement) -> HintRule:
    def kept(chosen: dict[Candidate, Placement]) -> int:
        return int(chosen.get((previous.request, previous.instrument)) == previous)

    return kept


def objective_units(problem: Problem, data: ModelData, placements: Sequence[Placement]) -> int:
    """The model's objective for a full set of placements, to compare schedules exactly as CP-SAT does."""
    scale = data.scale
    value = sum(round(problem.requests[p.request].priority * scale) * p.shifts for p in placements)
    for row in data.rows:
        quota = problem.quotas[row.quota]
        if quota.soft:
            value -= round(quota.penalty * scale) * _whole_shifts_short(row.value(placements), row.denominator)
    for owed in data.owed:
        value -= round(problem.fair_return[owed.target].price * scale) * owed.owed_shifts(placements)
    placed = set(placements)
    for previous in problem.previous:
        if previous in placed:
            value += round(problem.stability * problem.requests[previous.request].priority * previous.shifts * scale)
    return value
