"""The solver's input: every time and calendar question already answered in shifts.

Indices refer to positions in `Problem`'s tuples; names are kept only for
messages. Intervals are half-open shift ranges `(start, end)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Instrument:
    name: str
    blocked: tuple[Span, ...] = ()
    """Merged, sorted runs of shifts in windows of the instrument or its facility."""
    changeover: int = 0
    capacity: int | None = None
    """Most shifts that may be allocated, from `reserve_share`; None for no limit beyond the grid."""


@dataclass(frozen=True, slots=True)
class Request:
    name: str
    proposal: int
    priority: float
    shifts: int
    min_shifts: int
    instruments: tuple[int, ...]
    equipment: tuple[int, ...] = ()
    earliest: int = 0
    """First shift the block may start in."""
    latest: int | None = None
    """Shift the block must end by (exclusive); None for the end of the round."""
    unavailable: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class Equipment:
    name: str
    units: int = 1


@dataclass(frozen=True, slots=True)
class AllOrNothing:
    requests: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class After:
    first: int
    then: int
    min_gap: int = 0
    max_gap: int | None = None


@dataclass(frozen=True, slots=True)
class Quota:
    """share = sum(weight x shifts) / sum(shifts) over allocations on `instruments`."""

    name: str
    instruments: frozenset[int]
    weights: Mapping[tuple[int, int], Fraction]
    """(request, instrument) -> attributed fraction of its shifts; absent pairs count 0."""
    min_share: Fraction | None = None
    max_share: Fraction | None = None
    soft: bool = False
    penalty: float = 1.0
    """Cost per shift of shortfall or excess when soft."""
    group: str = ""
    """The round file's quota id; `each_country` quotas expand into one Quota per country."""
    counts: str = ""
    """Whose time the share counts, in words ("country RU", "country group CIS"), for explanations."""


@dataclass(frozen=True, slots=True)
class FairReturnTarget:
    """A category owed `share` of the time on `instruments`, over past rounds and this one.

    After this round it is owed `max(0, share x (H + T) - (h + t))` shifts: H and h the
    history's totals and the target's part of them, T and t this round's.
    """

    name: str
    instruments: frozenset[int]
    weights: Mapping[tuple[int, int], Fraction]
    """(request, instrument) -> the fraction of its shifts attributed to the target; absent pairs count 0."""
    share: Fraction
    history_total: Fraction = Fraction(0)
    history_part: Fraction = Fraction(0)
    price: float = 1.0
    """Cost per owed shift, in priority units: a secondary term, never a hard rule."""


@dataclass(frozen=True, slots=True)
class Placement:
    request: int
    instrument: int
    start: int
    shifts: int

    @property
    def end(self) -> int:
        return self.start + self.shifts


@dataclass(frozen=True)
class Problem:
    horizon: int
    instruments: tuple[Instrument, ...]
    requests: tuple[Request, ...]
    equipment: tuple[Equipment, ...] = ()
    all_or_nothing: tuple[AllOrNothing, ...] = ()
    after: tuple[After, ...] = ()
    quotas: tuple[Quota, ...] = ()
    fair_return: tuple[FairReturnTarget, ...] = ()
    pinned: tuple[Placement, ...] = ()
    """Allocations that must be kept exactly."""
    previous: tuple[Placement, ...] = ()
    """Unpinned allocations of the schedule in force, kept where possible."""
    stability: float = 0.5
    """Bonus for keeping a previous allocation, as a fraction of its priority x shifts."""
    proposals: tuple[str, ...] = field(default=())
    """Proposal names, for messages."""

    def candidates(self) -> list[tuple[int, int]]:
        """Every (request, instrument) pair a request may be placed on."""
        return [(r, i) for r, request in enumerate(self.requests) for i in request.instruments]


@dataclass(frozen=True, slots=True)
class Settings:
    time_limit: float = 60.0
    workers: int = 2
    seed: int = 0
    subsolve_seconds: float = 0.3
    """Time for one neighbourhood re-solve at first; adapted by outcome when `adaptive`. Most sub-models
    of 40 requests are solved, or improved, within 0.3 s; a second each left 15-20 of them to a
    facility minute (BENCHMARKS.md, facility-size search)."""
    neighbourhood_candidates: int = 40
    """Requests one neighbourhood frees at first (its blocks and unplaced requests that could go in);
    adapted by outcome when `adaptive`."""
    adaptive: bool = True
    """Neighbourhood kinds chosen by their record, sizes and times adapted; else instrument clusters alone."""
    strategy: Literal["lns", "cp-sat"] = "lns"
    """"lns": the engine's neighbourhood search; "cp-sat": CP-SAT alone on the whole round (for comparison)."""
    cp_sat: str = ""
    """Extra CP-SAT parameters in its text format (e.g. "repair_hint:true"), for every solve."""
