"""The engine against the rules, a brute-force optimum, and its own claims (bound, status)."""

from __future__ import annotations

import dataclasses
import itertools
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.greedy import greedy, is_feasible
from solver.problem import AllOrNothing, Equipment, Instrument, Placement, Problem, Quota, Request, Settings
from solver.search import solve
from solver.solution import primary_objective
from tests.strategies import problems

QUICK = Settings(time_limit=3.0, workers=2, seed=1, subsolve_seconds=0.3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_every_solution_keeps_every_hard_rule_and_beats_greedy(problem: Problem) -> None:
    solution = solve(problem, QUICK)
    if solution.status == "infeasible":
        assert is_feasible(problem, list(problem.pinned)) or solution.infeasibility
        return
    assert is_feasible(problem, list(solution.placements)) == []
    assert set(problem.pinned) <= set(solution.placements)
    assert solution.objective == pytest.approx(primary_objective(problem, solution.placements))
    if not any(quota.soft for quota in problem.quotas):
        assert solution.objective >= primary_objective(problem, greedy(problem)) - 1e-9
    assert solution.bound is not None and solution.bound >= solution.objective - 1e-6
    placed = {p.request for p in solution.placements}
    explained = {u.request for u in solution.unallocated}
    assert placed.isdisjoint(explained)
    assert placed | explained == set(range(len(problem.requests)))


def _options(problem: Problem, r: int) -> list[Placement | None]:
    pins = {pin.request: pin for pin in problem.pinned}
    if r in pins:
        return [pins[r]]
    request = problem.requests[r]
    alone = dataclasses.replace(problem, pinned=(), quotas=(), all_or_nothing=(), after=())
    options: list[Placement | None] = [None]
    for i in request.instruments:
        for shifts in range(request.min_shifts, request.shifts + 1):
            for start in range(problem.horizon - shifts + 1):
                placement = Placement(r, i, start, shifts)
                if not is_feasible(alone, [placement]):
                    options.append(placement)
    return options


def _clash(a: Placement, b: Placement, problem: Problem) -> bool:
    if a.instrument != b.instrument:
        return False
    changeover = problem.instruments[a.instrument].changeover
    return not (a.end + changeover <= b.start or b.end + changeover <= a.start)


def brute_force_optimum(problem: Problem) -> float | None:
    """The best primary objective over every combination of placements; None when none is valid."""
    best: float | None = None
    choices = [_options(problem, r) for r in range(len(problem.requests))]
    for combination in itertools.product(*choices):
        placed = [p for p in combination if p is not None]
        if any(_clash(a, b, problem) for a, b in itertools.combinations(placed, 2)):
            continue
        if is_feasible(problem, placed):
            continue
        value = primary_objective(problem, placed)
        best = value if best is None else max(best, value)
    return best


@st.composite
def tiny_problems(draw: st.DrawFn) -> Problem:
    """Small enough to enumerate: 1-2 instruments, 2-4 requests of 1-3 shifts, 6-8 shifts of time."""
    horizon = draw(st.integers(6, 8))
    n_instruments = draw(st.integers(1, 2))
    instruments = tuple(
        Instrument(
            f"I{i}",
            blocked=draw(st.sampled_from([(), ((2, 3),), ((0, 1),)])),
            changeover=draw(st.sampled_from([0, 1])),
            capacity=draw(st.none() | st.integers(3, horizon)),
        )
        for i in range(n_instruments)
    )
    n_requests = draw(st.integers(2, 4))
    requests = []
    for r in range(n_requests):
        shifts = draw(st.integers(1, 3))
        requests.append(
            Request(
                f"R{r}",
                proposal=r,
                priority=draw(st.sampled_from([1.0, 2.0, 3.0, 7.0])),
                shifts=shifts,
                min_shifts=draw(st.integers(1, shifts)),
                instruments=tuple(draw(st.permutations(range(n_instruments)))[: draw(st.integers(1, n_instruments))]),
                equipment=(0,) if draw(st.booleans()) else (),
                earliest=draw(st.sampled_from([0, 0, 1])),
            )
        )
    links = (AllOrNothing((0, 1)),) if draw(st.booleans()) else ()
    quotas: tuple[Quota, ...] = ()
    if draw(st.booleans()):
        weights = {(r, i): Fraction(1) for r in range(0, n_requests, 2) for i in requests[r].instruments}
        quotas = (Quota("half", frozenset(range(n_instruments)), weights, max_share=Fraction(1, 2)),)
    return Problem(
        horizon=horizon,
        instruments=instruments,
        requests=tuple(requests),
        equipment=(Equipment("E0", 1),),
        all_or_nothing=links,
        quotas=quotas,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_problems())
def test_tiny_rounds_reach_the_brute_force_optimum(problem: Problem) -> None:
    solution = solve(problem, QUICK)
    assert solution.status == "optimal"
    assert solution.objective == pytest.approx(brute_force_optimum(problem))
    assert solution.bound == pytest.approx(solution.objective)


def test_colliding_pins_are_named_instead_of_failing() -> None:
    problem = Problem(
        horizon=10,
        instruments=(Instrument("MX"),),
        requests=(
            Request("A", 0, 1.0, 4, 4, (0,)),
            Request("B", 1, 1.0, 4, 4, (0,)),
            Request("C", 2, 1.0, 2, 2, (0,)),
        ),
        pinned=(Placement(0, 0, 2, 4), Placement(1, 0, 4, 4)),
    )
    solution = solve(problem, QUICK)
    assert solution.status == "infeasible"
    assert solution.placements == ()
    message = " ".join(solution.infeasibility)
    assert "A on MX at shift 2" in message and "B on MX at shift 4" in message


def test_a_minimum_quota_that_pins_cannot_meet_is_named() -> None:
    problem = Problem(
        horizon=10,
        instruments=(Instrument("SANS"),),
        requests=(Request("domestic", 0, 1.0, 4, 4, (0,)), Request("foreign", 1, 1.0, 4, 4, (0,))),
        quotas=(Quota("foreign-min", frozenset({0}), {(1, 0): Fraction(1)}, min_share=Fraction(1, 2)),),
        pinned=(Placement(0, 0, 0, 4),),
    )
    solution = solve(problem, QUICK)
    assert solution.status != "infeasible"
    assert Placement(0, 0, 0, 4) in solution.placements
    assert any(p.request == 1 for p in solution.placements)

    crowded = dataclasses.replace(problem, pinned=(Placement(0, 0, 0, 4), Placement(1, 0, 4, 1)))
    crowded = dataclasses.replace(crowded, requests=(problem.requests[0], Request("foreign", 1, 1.0, 1, 1, (0,))))
    solution = solve(crowded, QUICK)
    assert solution.status == "infeasible"
    message = " ".join(solution.infeasibility)
    assert "quota foreign-min" in message and "pinned allocation of domestic" in message


def test_unallocated_requests_get_the_reason_that_stopped_them() -> None:
    problem = Problem(
        horizon=12,
        instruments=(
            Instrument("XAFS", blocked=((4, 6),)),
            Instrument("SAXS", capacity=4),
            Instrument("NR"),
            Instrument("SANS"),
        ),
        requests=(
            Request("long", 0, 9.0, 8, 8, (0,)),  # no 8 free shifts in a row on XAFS
            Request("partner", 1, 9.0, 2, 2, (0,)),  # linked to "long"
            Request("top", 2, 9.0, 4, 4, (1,)),
            Request("reserve", 3, 1.0, 2, 2, (1,)),  # SAXS keeps the rest in reserve
            Request("cryo-a", 4, 5.0, 10, 10, (2,), equipment=(0,)),
            Request("cryo-b", 5, 1.0, 4, 4, (3,), equipment=(0,)),
        ),
        equipment=(Equipment("cryostat", 1),),
        all_or_nothing=(AllOrNothing((0, 1)),),
    )
    solution = solve(problem, QUICK)
    reasons = {problem.requests[u.request].name: u.reason for u in solution.unallocated}
    assert reasons["long"] == "window"
    assert reasons["partner"] == "link"
    assert reasons["reserve"] == "capacity"
    assert "top" not in reasons and "cryo-a" not in reasons
    assert reasons["cryo-b"] == "equipment"


def test_stop_event_ends_the_search_with_the_best_so_far() -> None:
    import threading

    stop = threading.Event()
    stop.set()
    problem = Problem(horizon=20, instruments=(Instrument("MX"),), requests=(Request("A", 0, 2.0, 5, 5, (0,)),))
    solution = solve(problem, Settings(time_limit=60.0), stop=stop)
    assert solution.seconds < 10
    assert is_feasible(problem, list(solution.placements)) == []


def test_the_engine_starts_from_the_tightest_fit_when_it_places_more() -> None:
    # First fit cuts the long free run up for A and leaves B out; the tightest fit places both.
    problem = Problem(
        horizon=10,
        instruments=(Instrument("I0", blocked=((6, 7),)),),
        requests=(Request("A", 0, 3.0, 3, 3, (0,)), Request("B", 1, 2.0, 6, 6, (0,))),
    )
    solution = solve(problem, QUICK)
    assert solution.stats["tightest_fit_kept"] == 1.0
    assert solution.objective == pytest.approx(21.0)
