"""Fair return across rounds: what each target is still owed after this round.

`share x (H + T) - (h + t)` is a constant (the history) plus, per placement in the
target's scope, `(share - weight) x shifts`: linear like a quota row. The model
prices its whole-shift ceiling when positive; the schedule file reports it exactly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from solver.problem import FairReturnTarget, Placement, Problem

Candidate = tuple[int, int]
MIN_PRIORITY_FACTOR = 1e-3
"""In `owed_first`, a request that only adds to what is owed keeps a sliver of its priority: every priority
stays positive."""


@dataclass(frozen=True)
class OwedRow:
    """`constant + sum(coefficient x shifts)` is `denominator` x the shifts owed (when positive)."""

    target: int
    coefficients: dict[Candidate, int]
    constant: int
    denominator: int

    def units(self, placements: Iterable[Placement]) -> int:
        return self.constant + sum(self.coefficients.get((p.request, p.instrument), 0) * p.shifts for p in placements)

    def owed_shifts(self, placements: Iterable[Placement]) -> int:
        """Whole shifts still owed, rounded up: what the model prices."""
        return max(0, -(-self.units(placements) // self.denominator))


def owed_rows(problem: Problem) -> tuple[OwedRow, ...]:
    return tuple(_owed_row(problem, index, target) for index, target in enumerate(problem.fair_return))


def _owed_row(problem: Problem, index: int, target: FairReturnTarget) -> OwedRow:
    raw = {
        (r, i): target.share - target.weights.get((r, i), Fraction(0))
        for r, request in enumerate(problem.requests)
        for i in request.instruments
        if i in target.instruments
    }
    denominator = math.lcm(target.share.denominator, *(value.denominator for value in raw.values()))
    history = target.share * target.history_total - target.history_part
    # History figures may carry any decimals: rounding up errs by under 1/denominator of a shift.
    constant = math.ceil(history * denominator)
    return OwedRow(index, {key: int(value * denominator) for key, value in raw.items()}, constant, denominator)


@dataclass(frozen=True)
class FairReturnOutcome:
    """A target's shares over the history, this round and both; None where the total is zero."""

    target: int
    history_share: Fraction | None
    round_share: Fraction | None
    cumulative_share: Fraction | None
    deficit: Fraction


def fair_return_outcomes(problem: Problem, placements: Iterable[Placement]) -> tuple[FairReturnOutcome, ...]:
    placed = list(placements)
    outcomes = []
    for index, target in enumerate(problem.fair_return):
        in_scope = [p for p in placed if p.instrument in target.instruments]
        total = Fraction(sum(p.shifts for p in in_scope))
        part = sum(
            (target.weights.get((p.request, p.instrument), Fraction(0)) * p.shifts for p in in_scope), Fraction(0)
        )
        cumulative_total = target.history_total + total
        cumulative_part = target.history_part + part
        outcomes.append(
            FairReturnOutcome(
                index,
                _share(target.history_part, target.history_total),
                _share(part, total),
                _share(cumulative_part, cumulative_total),
                max(Fraction(0), target.share * cumulative_total - cumulative_part),
            )
        )
    return tuple(outcomes)


def _share(part: Fraction, total: Fraction) -> Fraction | None:
    return part / total if total else None


def owed_first(problem: Problem) -> Problem:
    """The problem with each request's priority worth what a shift of it is worth to the objective while its
    targets are owed time from history: `priority + price x (weight - share)` summed over those targets.

    A rank-ordered greedy on it starts the search from a schedule that pays history back, which small
    neighbourhoods rarely find on their own: they seldom trade one country's time for another's.
    """
    owed = [target for target in problem.fair_return if target.share * target.history_total > target.history_part]
    requests = []
    for r, request in enumerate(problem.requests):
        value = request.priority
        for target in owed:
            in_scope = [i for i in request.instruments if i in target.instruments]
            if in_scope:
                weight = sum((target.weights.get((r, i), Fraction(0)) for i in in_scope), Fraction(0)) / len(in_scope)
                value += target.price * float(weight - target.share)
        requests.append(dataclasses.replace(request, priority=max(value, request.priority * MIN_PRIORITY_FACTOR)))
    return dataclasses.replace(problem, requests=tuple(requests))
