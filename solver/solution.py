"""The solver's output and the measures taken of a set of placements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from solver.problem import Placement, Problem, Quota

Status = Literal["optimal", "feasible", "infeasible", "unknown"]
Reason = Literal["capacity", "quota", "window", "link", "equipment"]
StayReason = Literal[
    "pinned", "link", "quota", "soft_quota", "stability", "objective", "equipment", "reserve", "search_limit"
]
"""Why a lower-ranked block whose removal alone would make room for a request stays."""


@dataclass(frozen=True, slots=True)
class Progress:
    elapsed: float
    objective: float
    bound: float | None
    phase: str


@dataclass(frozen=True, slots=True)
class QuotaOutcome:
    quota: int
    share: Fraction | None
    """Attributed category shifts over all shifts in scope; None when nothing is allocated there."""
    deviation: Fraction
    """Shifts of shortfall below min_share plus excess above max_share."""
    penalty: float

    @property
    def met(self) -> bool:
        return self.deviation == 0


@dataclass(frozen=True, slots=True)
class HeldBlock:
    """A lower-ranked allocation whose removal alone would make room for an unallocated request."""

    request: int
    stays_because: StayReason


@dataclass(frozen=True, slots=True)
class Unallocated:
    request: int
    reason: Reason
    detail: str
    competitors: tuple[int, ...] = ()
    """Requests allocated in the time this one could use on its instruments, lowest priority first."""
    held: tuple[HeldBlock, ...] = ()


@dataclass(frozen=True)
class Solution:
    status: Status
    placements: tuple[Placement, ...]
    objective: float
    """The primary objective alone: sum of priority x shifts."""
    bound: float | None
    seconds: float
    first_solution_seconds: float | None = None
    penalty: float = 0.0
    """Soft-quota penalties paid, in the objective's units."""
    quotas: tuple[QuotaOutcome, ...] = ()
    unallocated: tuple[Unallocated, ...] = ()
    infeasibility: tuple[str, ...] = ()
    """When infeasible: the hard rules that cannot hold together, in words."""
    stats: dict[str, float] = field(default_factory=dict)


def primary_objective(problem: Problem, placements: Sequence[Placement]) -> float:
    return sum(problem.requests[p.request].priority * p.shifts for p in placements)


def quota_outcome(problem: Problem, index: int, placements: Sequence[Placement]) -> QuotaOutcome:
    quota: Quota = problem.quotas[index]
    total = 0
    attributed = Fraction(0)
    for p in placements:
        if p.instrument in quota.instruments:
            total += p.shifts
            attributed += quota.weights.get((p.request, p.instrument), Fraction(0)) * p.shifts
    deviation = quota_deviation(quota, total, attributed)
    penalty = float(deviation) * quota.penalty if quota.soft else 0.0
    return QuotaOutcome(index, attributed / total if total else None, deviation, penalty)


def quota_deviation(quota: Quota, total: int, attributed: Fraction) -> Fraction:
    """Shifts of shortfall below min_share plus excess above max_share."""
    deviation = Fraction(0)
    if quota.min_share is not None:
        deviation += max(Fraction(0), quota.min_share * total - attributed)
    if quota.max_share is not None:
        deviation += max(Fraction(0), attributed - quota.max_share * total)
    return deviation


def quota_outcomes(problem: Problem, placements: Sequence[Placement]) -> tuple[QuotaOutcome, ...]:
    return tuple(quota_outcome(problem, index, placements) for index in range(len(problem.quotas)))
