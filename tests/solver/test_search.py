"""The search's claims (status, bound, progress, time limit) and its adaptive neighbourhoods."""

from __future__ import annotations

import random
import time
from fractions import Fraction

import pytest

from solver.neighbourhoods import KINDS, Chooser, Outcome
from solver.problem import After, AllOrNothing, Instrument, Placement, Problem, Quota, Request, Settings
from solver.search import solve
from solver.solution import Progress

QUICK = Settings(time_limit=2.0, workers=2, seed=1, subsolve_seconds=0.2)


def request(name: str, priority: float, shifts: int, instruments: tuple[int, ...] = (0,), **rest: object) -> Request:
    return Request(name, 0, priority, shifts, shifts, instruments, **rest)  # type: ignore[arg-type]


def test_a_model_solved_to_optimality_on_penalties_is_not_called_optimal_on_the_primary_objective() -> None:
    # Placing A gains 10 in the primary objective and costs 50 in soft-quota penalty: the model's
    # optimum leaves it out, so the primary objective (0) is not proven optimal (its bound is 10).
    quota = Quota("cap", frozenset({0}), {(0, 0): Fraction(1)}, max_share=Fraction(0), soft=True, penalty=5.0)
    problem = Problem(horizon=10, instruments=(Instrument("I0"),), requests=(request("A", 1.0, 10),), quotas=(quota,))
    solution = solve(problem, QUICK)
    assert solution.placements == ()
    assert solution.status == "feasible"
    assert solution.bound == pytest.approx(10.0)


def test_a_round_proven_optimal_on_the_primary_objective_is_called_optimal_with_its_bound() -> None:
    problem = Problem(
        horizon=10,
        instruments=(Instrument("I0"),),
        requests=(request("A", 2.0, 6), request("B", 1.0, 6), request("C", 1.5, 4)),
    )
    solution = solve(problem, QUICK)
    assert solution.status == "optimal"
    assert solution.objective == pytest.approx(18.0)
    assert solution.bound == pytest.approx(solution.objective)


def test_progress_reports_the_bound_once_known_and_a_final_point() -> None:
    problem = Problem(
        horizon=20,
        instruments=(Instrument("I0"), Instrument("I1")),
        requests=tuple(request(f"R{r}", 1.0 + r % 3, 3 + r % 4, instruments=(r % 2, 1 - r % 2)) for r in range(8)),
    )
    events: list[Progress] = []
    solution = solve(problem, QUICK, events.append)
    assert events[0].phase == "greedy"
    assert events[1].phase == "bound" and events[1].bound is not None
    assert events[-1].phase == "done"
    assert events[-1].objective == pytest.approx(solution.objective)
    assert events[-1].bound == pytest.approx(solution.bound)


def test_the_time_limit_counts_from_the_given_start() -> None:
    problem = Problem(horizon=10, instruments=(Instrument("I0"),), requests=(request("A", 1.0, 4),))
    solution = solve(problem, QUICK, started=time.monotonic() - 5.0)
    assert solution.seconds >= 5.0
    assert solution.placements == (Placement(0, 0, 0, 4),)


def linked_problem() -> Problem:
    requests = tuple(
        request(f"R{r}", 1.0, 2, instruments=(r % 6,), earliest=10 * (r % 3), latest=10 * (r % 3) + 20)
        for r in range(30)
    )
    quota = Quota("q", frozenset({4, 5}), {(0, 0): Fraction(1)}, max_share=Fraction(1, 2))
    return Problem(
        horizon=60,
        instruments=tuple(Instrument(f"I{i}") for i in range(6)),
        requests=requests,
        all_or_nothing=(AllOrNothing((0, 7)),),
        after=(After(7, 14),),
        quotas=(quota,),
    )


def test_every_kind_gives_a_neighbourhood_within_the_round_and_of_its_own_part() -> None:
    problem = linked_problem()
    chooser = Chooser(problem, Settings(neighbourhood_candidates=8), random.Random(3))
    assert set(chooser.records) == set(KINDS)
    placements = [Placement(r, r % 6, 0, 2) for r in range(0, 30, 5)]
    seen: set[str] = set()
    for _ in range(200):
        kind, neighbourhood, seconds = chooser.choose(placements)
        seen.add(kind)
        low, high = neighbourhood.window
        assert 0 <= low < high <= problem.horizon
        assert seconds == Settings().subsolve_seconds
        if kind == "links":
            assert neighbourhood.instruments == {0, 1, 2}
        if kind == "quota":
            assert neighbourhood.instruments == {4, 5}
        if kind == "time":
            assert neighbourhood.instruments == set(range(6))
    assert seen == set(KINDS)


def test_sizes_grow_after_quick_optimal_solves_and_shrink_after_fruitless_timeouts() -> None:
    chooser = Chooser(linked_problem(), Settings(neighbourhood_candidates=100), random.Random(0))
    for _ in range(3):
        chooser.learn(Outcome("time", improved=False, optimal=True, solve_seconds=0.1, seconds=0.2))
        chooser.learn(Outcome("quota", improved=False, optimal=False, solve_seconds=1.0, seconds=1.1))
        chooser.learn(Outcome("links", improved=True, optimal=False, solve_seconds=1.0, seconds=1.1))
    assert chooser.records["time"].size > 100
    assert chooser.records["quota"].size < 100
    assert chooser.records["quota"].seconds == 1.0
    assert chooser.records["links"].seconds > 1.0
    assert chooser.records["links"].reward > chooser.records["quota"].reward


def test_kinds_that_keep_improving_are_drawn_more_often() -> None:
    chooser = Chooser(linked_problem(), Settings(), random.Random(0))
    for _ in range(20):
        for kind in KINDS:
            chooser.learn(Outcome(kind, improved=kind == "unplaced", optimal=True, solve_seconds=0.5, seconds=0.5))
    drawn = [chooser.choose([])[0] for _ in range(500)]
    assert drawn.count("unplaced") > 300


def test_without_adaptation_only_instrument_clusters_of_the_given_size_are_used() -> None:
    chooser = Chooser(linked_problem(), Settings(adaptive=False), random.Random(0))
    chooser.learn(Outcome("instruments", improved=False, optimal=True, solve_seconds=0.01, seconds=0.02))
    assert set(chooser.records) == {"instruments"}
    assert chooser.records["instruments"].size == 100


def test_cp_sat_alone_with_its_own_parameters_is_available_for_comparison() -> None:
    problem = Problem(
        horizon=10,
        instruments=(Instrument("I0"),),
        requests=(request("A", 2.0, 6), request("B", 1.0, 6), request("C", 1.5, 4)),
    )
    settings = Settings(time_limit=2.0, strategy="cp-sat", cp_sat="repair_hint: true")
    assert solve(problem, settings).objective == pytest.approx(18.0)
