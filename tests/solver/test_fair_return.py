"""Fair return in the engine: an owed target is paid back, a balanced history changes nothing."""

from __future__ import annotations

from fractions import Fraction

import pytest

from solver.fair_return import fair_return_outcomes, owed_first
from solver.problem import FairReturnTarget, Instrument, Problem, Request, Settings
from solver.search import solve

QUICK = Settings(time_limit=2.0, workers=2, seed=0, subsolve_seconds=0.2)


def _problem(requests: list[tuple[str, float, int]], history_total: int, history_part: int) -> Problem:
    """One 10-shift instrument; requests (name, priority, shifts); the target is owed half: proposals named IN-*."""
    solver_requests = tuple(
        Request(name, proposal=p, priority=priority, shifts=shifts, min_shifts=shifts, instruments=(0,))
        for p, (name, priority, shifts) in enumerate(requests)
    )
    weights = {(r, 0): Fraction(1) for r, request in enumerate(solver_requests) if request.name.startswith("IN")}
    target = FairReturnTarget(
        "india",
        frozenset({0}),
        weights,
        Fraction(1, 2),
        Fraction(history_total),
        Fraction(history_part),
        price=1.05,
    )
    return Problem(horizon=10, instruments=(Instrument("beamline"),), requests=solver_requests, fair_return=(target,))


def _placed(problem: Problem) -> set[str]:
    solution = solve(problem, QUICK)
    return {problem.requests[p.request].name for p in solution.placements}


def test_a_country_owed_70_shifts_is_paid_back_before_a_slightly_better_one() -> None:
    requests = [("IN-a", 1.0, 10), ("BR-b", 1.1, 10)]
    plain = _problem(requests, 0, 0)
    assert _placed(Problem(horizon=10, instruments=plain.instruments, requests=plain.requests)) == {"BR-b"}
    owed = _problem(requests, history_total=140, history_part=0)
    assert _placed(owed) == {"IN-a"}
    solution = solve(owed, QUICK)
    (outcome,) = fair_return_outcomes(owed, solution.placements)
    # 0.5 x (140 + 10) - (0 + 10) = 65 shifts still owed after this round.
    assert outcome.deficit == 65
    assert outcome.history_share == 0
    assert outcome.round_share == 1
    assert outcome.cumulative_share == Fraction(10, 150)


def test_a_balanced_history_changes_nothing() -> None:
    requests = [("IN-a", 1.2, 5), ("BR-b", 1.1, 5), ("BR-c", 1.0, 5)]
    plain = _problem(requests, 0, 0)
    without = Problem(horizon=plain.horizon, instruments=plain.instruments, requests=plain.requests)
    balanced = _problem(requests, history_total=100, history_part=50)
    assert _placed(without) == _placed(balanced) == {"IN-a", "BR-b"}
    (outcome,) = fair_return_outcomes(balanced, solve(balanced, QUICK).placements)
    assert outcome.deficit == 0
    assert outcome.cumulative_share == Fraction(1, 2)


def test_owed_first_values_a_shift_as_the_objective_does_while_history_is_owed() -> None:
    requests = [("IN-a", 1.0, 10), ("BR-b", 1.1, 10)]
    owed = owed_first(_problem(requests, history_total=140, history_part=0))
    # A shift to India pays back (1 - 0.5) x 1.05 of what is owed; a shift to Brazil adds 0.5 x 1.05 to it.
    assert [request.priority for request in owed.requests] == [pytest.approx(1.525), pytest.approx(0.575)]
    balanced = owed_first(_problem(requests, history_total=140, history_part=70))
    assert [request.priority for request in balanced.requests] == [1.0, 1.1]
