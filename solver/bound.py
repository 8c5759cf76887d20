"""An upper bound on the primary objective from a linear relaxation, solved by HiGHS.

CP-SAT's own bound is weak on big rounds early on; this one is cheap and lets the
schedule file report a meaningful gap from the first second.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from solver.greedy import all_or_nothing_components
from solver.model import free_runs, usable_runs
from solver.problem import Instrument, Problem, Span

Runs = Mapping[tuple[int, int], list[Span]]


def lp_bound(problem: Problem, runs: Runs | None = None, seconds: float | None = None) -> float:
    """The optimum of an LP whose feasible set contains every valid schedule.

    Variables: x[r, i] in [0, cap] shifts of request r on instrument i, where cap
    is the longest run of shifts inside the request's window free of the
    instrument's blocked and the request's unavailable spans, capped at
    `shifts` (0 when shorter than `min_shifts`). Kept constraints:
    - a request outside all_or_nothing groups: sum_i x[r, i] <= shifts;
    - an all_or_nothing component shares one y in [0, 1] (fixed to 1 when it holds
      a pinned request), and each member has min_shifts*y <= sum_i x[r, i] <= shifts*y;
    - per instrument: sum_r x[r, i] <= min(capacity, its usable shifts), the shifts some candidate's
      usable runs on it cover (time no request can use there is no room);
    - changeovers: with z[r, i] in [0, 1] the share of a block (x <= cap*z, sum_i z <= 1),
      sum_r (x + changeover*z) <= the sum over the instrument's free runs of
      min(usable + changeover*pieces, length + changeover), since k blocks within one stretch of
      time need k - 1 changeovers between them (the last one's may run past its end);
    - time-indexed capacity: for each span [a, b) that is the hull of some candidate's usable runs,
      the x of the unpinned candidates whose hull lies inside it sum to at most its unblocked shifts
      (1 % tighter on the medium fragmented-by-windows shape, nothing on most shapes);
    - equipment: the x of the requests that need an item sum to at most its room, the sum over
      shifts of min(units, instruments on which some candidate that needs it could be then);
    - hard quotas: sum (w - min_share) x >= 0 and sum (w - max_share) x <= 0 over
      the candidates on the quota's instruments;
    - pinned: x fixed at the pinned shifts on its instrument, 0 on the others.
    Dropped: soft quotas, timing (changeovers, equipment over time, after links), one
    instrument per request, and the integrality of the blocks.

    The value is HiGHS's optimum, exact up to its tolerances (about 1e-7 relative).
    `runs` are the candidates' usable runs when already worked out (`ModelData.runs`). HiGHS
    stops after `seconds` (by default it runs to the optimum), and then TimeoutError is raised.
    Raises ValueError when the pinned placements alone break the relaxation (then no
    valid schedule exists), or name a request's instrument it cannot use.
    """
    # SciPy is imported here, not with the engine: a short solve that has no time for the bound
    # skips its import too (0.3-0.5 s of a command's start-up).
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    candidates = problem.candidates()
    if runs is None:
        runs = {(r, i): usable_runs(problem, r, i) for r, i in candidates}
    column = {pair: k for k, pair in enumerate(candidates)}
    n_x = len(candidates)
    upper = np.array([_longest_usable_run(problem, r, runs[(r, i)]) for r, i in candidates], dtype=np.float64)
    lower = np.zeros(n_x)
    pinned_requests = {pin.request for pin in problem.pinned}
    for pin in problem.pinned:
        if (pin.request, pin.instrument) not in column:
            raise ValueError(f"pinned {_request_name(problem, pin.request)} is on an instrument it cannot use")
        for i in problem.requests[pin.request].instruments:
            k = column[(pin.request, i)]
            lower[k] = upper[k] = pin.shifts if i == pin.instrument else 0

    components = sorted({c for c in all_or_nothing_components(problem) if c is not None})
    component_column = {r: 2 * n_x + g for g, component in enumerate(components) for r in component}
    n_vars = 2 * n_x + len(components)
    block_lower = np.array([1.0 if lower[k] > 0 else 0.0 for k in range(n_x)])
    lower = np.concatenate(
        [lower, block_lower, [1.0 if not pinned_requests.isdisjoint(c) else 0.0 for c in components]]
    )
    upper = np.concatenate([upper, np.ones(n_x), np.ones(len(components))])

    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    rhs: list[float] = []

    def add_row(columns: list[int], coefficients: list[float], limit: float) -> None:
        rows.extend([len(rhs)] * len(columns))
        cols.extend(columns)
        values.extend(coefficients)
        rhs.append(limit)

    by_request: list[list[int]] = [[] for _ in problem.requests]
    by_instrument: list[list[int]] = [[] for _ in problem.instruments]
    for k, (r, i) in enumerate(candidates):
        by_request[r].append(k)
        by_instrument[i].append(k)
    for r, request in enumerate(problem.requests):
        on_request = by_request[r]
        if not on_request:
            continue
        add_row([n_x + k for k in on_request], [1.0] * len(on_request), 1.0)
        for k in on_request:
            add_row([k, n_x + k], [1.0, -upper[k]], 0.0)
        y = component_column.get(r)
        if y is None:
            add_row(on_request, [1.0] * len(on_request), request.shifts)
        else:
            add_row([*on_request, y], [1.0] * len(on_request) + [-float(request.shifts)], 0.0)
            add_row([*on_request, y], [-1.0] * len(on_request) + [float(request.min_shifts)], 0.0)
    for i, instrument in enumerate(problem.instruments):
        usable = _usable_shifts(problem.horizon, [runs[candidates[k]] for k in by_instrument[i]])
        room = int(usable.sum())
        add_row(
            by_instrument[i],
            [1.0] * len(by_instrument[i]),
            room if instrument.capacity is None else min(room, instrument.capacity),
        )
        if instrument.changeover:
            blocks = [n_x + k for k in by_instrument[i]]
            add_row(
                by_instrument[i] + blocks,
                [1.0] * len(blocks) + [float(instrument.changeover)] * len(blocks),
                _changeover_room(instrument, usable),
            )

    for columns, free in _window_rows(problem, candidates, runs, pinned_requests):
        add_row(columns, [1.0] * len(columns), free)
    for columns, free in _equipment_rows(problem, candidates, runs):
        add_row(columns, [1.0] * len(columns), free)

    instrument_of = np.array([i for _, i in candidates], dtype=np.int64)
    for quota in problem.quotas:
        if quota.soft:
            continue
        weight = np.zeros(n_x)
        for pair, share in quota.weights.items():
            weighted_column = column.get(pair)
            if weighted_column is not None:
                weight[weighted_column] = float(share)
        in_scope = np.flatnonzero(np.isin(instrument_of, list(quota.instruments)))
        if quota.min_share is not None:
            add_row(in_scope.tolist(), (float(quota.min_share) - weight[in_scope]).tolist(), 0.0)
        if quota.max_share is not None:
            add_row(in_scope.tolist(), (weight[in_scope] - float(quota.max_share)).tolist(), 0.0)

    objective = np.zeros(n_vars)
    objective[:n_x] = [-problem.requests[r].priority for r, _ in candidates]
    matrix = coo_matrix((values, (rows, cols)), shape=(len(rhs), n_vars)).tocsr()
    options = {} if seconds is None else {"time_limit": max(seconds, 0.0)}
    bounds = np.column_stack([lower, upper])
    result = linprog(objective, A_ub=matrix, b_ub=np.array(rhs), bounds=bounds, method="highs", options=options)
    if result.status == 1:
        raise TimeoutError(f"LP bound not found in {seconds:.2f} s: {result.message}")
    if result.status == 2:
        raise ValueError("no schedule can keep the pinned placements: their LP relaxation is infeasible")
    if result.status != 0:
        raise RuntimeError(f"LP bound failed: {result.message}")
    return -float(result.fun)


def _request_name(problem: Problem, r: int) -> str:
    return problem.requests[r].name if 0 <= r < len(problem.requests) else f"request #{r}"


def _clipped_length(span: Span, horizon: int) -> int:
    return max(0, min(span[1], horizon) - max(span[0], 0))


def _longest_usable_run(problem: Problem, r: int, runs: list[Span]) -> int:
    """Longest block request r could get in its usable `runs` on one instrument, or 0 if below min_shifts."""
    return min(problem.requests[r].shifts, max((end - start for start, end in runs), default=0))


def _usable_shifts(horizon: int, candidate_runs: list[list[Span]]) -> np.ndarray:
    """Per shift of the round, whether one of the candidates' usable runs covers it."""
    covered = np.zeros(horizon, dtype=bool)
    for usable in candidate_runs:
        for start, end in usable:
            covered[max(start, 0) : min(end, horizon)] = True
    return covered


def _changeover_room(instrument: Instrument, usable: np.ndarray) -> float:
    """Most of sum (x + changeover*z) on an instrument: in each of its free runs, the usable shifts plus
    one changeover per stretch of them, and never more than the run's length plus one changeover.

    A block lies within one stretch (it is inside one of its candidate's usable runs), and k blocks
    there need k - 1 changeovers within it."""
    room = 0.0
    for start, end in free_runs(instrument.blocked, 0, len(usable)):
        covered = usable[start:end]
        shifts = int(covered.sum())
        if shifts:
            stretches = int(covered[0]) + int(np.count_nonzero(covered[1:] & ~covered[:-1]))
            room += min(shifts + instrument.changeover * stretches, end - start + instrument.changeover)
    return room


def _equipment_rows(problem: Problem, candidates: list[tuple[int, int]], runs: Runs) -> list[tuple[list[int], float]]:
    """For each item, the x of the candidates that need it sum to at most its room: per shift, its
    units or the instruments on which one of those candidates could be then, whichever is fewer."""
    users: dict[int, list[int]] = defaultdict(list)
    for k, (r, _) in enumerate(candidates):
        for e in problem.requests[r].equipment:
            users[e].append(k)
    rows = []
    for e, columns in sorted(users.items()):
        on_instrument: dict[int, list[list[Span]]] = defaultdict(list)
        for k in columns:
            on_instrument[candidates[k][1]].append(runs[candidates[k]])
        open_instruments = sum(
            (_usable_shifts(problem.horizon, spans).astype(np.int64) for spans in on_instrument.values()),
            start=np.zeros(problem.horizon, dtype=np.int64),
        )
        rows.append((columns, float(np.minimum(open_instruments, problem.equipment[e].units).sum())))
    return rows


def _window_rows(
    problem: Problem, candidates: list[tuple[int, int]], runs: Runs, pinned_requests: set[int]
) -> list[tuple[list[int], float]]:
    """Time-indexed capacity: for each span some request can only use on an instrument (its usable
    runs' hull there), the requests confined to that span share its unblocked shifts.

    Pinned requests are left out of these rows, which only loosens them.
    """
    by_instrument: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for k, (r, i) in enumerate(candidates):
        if r in pinned_requests:
            continue
        usable = runs[(r, i)]
        if usable:
            by_instrument[i].append((k, usable[0][0], usable[-1][1]))
    rows = []
    for i, confined in by_instrument.items():
        columns = np.array([k for k, _, _ in confined])
        lows = np.array([low for _, low, _ in confined])
        highs = np.array([high for _, _, high in confined])
        blocked = problem.instruments[i].blocked
        for low, high in sorted({(low, high) for _, low, high in confined}):
            if low == 0 and high >= problem.horizon:
                continue  # the instrument's own row
            inside = columns[(lows >= low) & (highs <= high)]
            room = high - low - sum(_clipped_length(span, high) - _clipped_length(span, low) for span in blocked)
            if len(inside) > 1:
                rows.append((inside.tolist(), float(room)))
    return rows
