"""Which part of the schedule a sub-model of the search may change, chosen by record (adaptive LNS).

Every neighbourhood is some instruments over a window of time, of one of five kinds:
- instruments: one instrument (weighted by the unplaced value waiting for it) and some that share requests with it;
- time: every instrument over a short window;
- links: the instruments and dates of a cluster of linked requests (all_or_nothing and after links,
  often across facilities);
- quota: the instruments of one quota group;
- unplaced: the instruments and dates of an unplaced request, weighted by priority x min_shifts.

The window is sized so that about `size` candidates are free. A kind is drawn with probability
from its record (an exponential average of improvements per second, with a floor to keep exploring);
its size grows while its sub-solves are proven optimal quickly and shrinks when they time out without
improving; its sub-solve time grows while time-outs still improve.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from solver.greedy import joined
from solver.model import Neighbourhood
from solver.problem import Placement, Problem, Settings

KINDS = ("instruments", "time", "links", "quota", "unplaced")
EXPLORE = 0.2
"""Share of draws spread evenly over the kinds, whatever their record."""
MEMORY = 0.2
"""Weight of the latest outcome in a kind's average reward."""
GROW, SHRINK = 1.15, 0.85
SIZE_RANGE = (20.0, 4000.0)
MOST_SECONDS = 5.0
"""Longest sub-solve time, as a multiple of `Settings.subsolve_seconds`."""
QUICK = 0.5
"""A proven-optimal sub-solve within this share of its time counts as quick: the size may grow."""


@dataclass(frozen=True)
class Outcome:
    kind: str
    improved: bool
    optimal: bool
    """The sub-model was solved to optimality (not timed out)."""
    solve_seconds: float
    seconds: float
    """Building and solving."""


@dataclass
class _Record:
    size: float
    seconds: float
    reward: float = 1.0
    """Improvements per second, averaged; optimistic at first so every kind gets tried."""
    tries: int = 0
    wins: int = 0


class Chooser:
    def __init__(self, problem: Problem, settings: Settings, rng: random.Random) -> None:
        self.problem = problem
        self.settings = settings
        self.rng = rng
        self.candidates: dict[int, int] = defaultdict(int)
        self.neighbours: dict[int, set[int]] = defaultdict(set)
        for request in problem.requests:
            for i in request.instruments:
                self.candidates[i] += 1
                self.neighbours[i].update(set(request.instruments) - {i})
        lengths = [request.shifts for request in problem.requests] or [1]
        self.min_width = max(1, 2 * round(statistics.median(lengths)))
        self.clusters = _link_clusters(problem)
        self.quota_scopes = sorted({quota.instruments for quota in problem.quotas if quota.instruments}, key=sorted)
        builders: dict[str, Callable[[list[Placement], float], Neighbourhood | None]] = {
            "instruments": self._instruments,
            "time": self._time,
            "links": self._links,
            "quota": self._quota,
            "unplaced": self._unplaced,
        }
        unusable = {"links"} if not self.clusters else set()
        unusable |= {"quota"} if not self.quota_scopes else set()
        kinds = [kind for kind in (KINDS if settings.adaptive else ("instruments",)) if kind not in unusable]
        self.builders = {kind: builders[kind] for kind in kinds}
        self.records = {
            kind: _Record(float(settings.neighbourhood_candidates), settings.subsolve_seconds) for kind in kinds
        }

    def choose(self, placements: list[Placement]) -> tuple[str, Neighbourhood, float]:
        """A kind by its record, a neighbourhood of that kind, and the time to re-solve it."""
        kind = self._draw()
        record = self.records[kind]
        neighbourhood = self.builders[kind](placements, record.size)
        if neighbourhood is None:
            kind = "instruments"
            record = self.records[kind]
            neighbourhood = self._instruments(placements, record.size)
            assert neighbourhood is not None
        return kind, neighbourhood, record.seconds

    def learn(self, outcome: Outcome) -> None:
        record = self.records[outcome.kind]
        record.tries += 1
        record.wins += outcome.improved
        reward = float(outcome.improved) / max(outcome.seconds, 0.05)
        record.reward = (1 - MEMORY) * record.reward + MEMORY * reward
        if not self.settings.adaptive:
            return
        if outcome.optimal:
            if outcome.solve_seconds < QUICK * record.seconds:
                record.size = min(SIZE_RANGE[1], record.size * GROW)
        elif outcome.improved:
            record.seconds = min(MOST_SECONDS * self.settings.subsolve_seconds, record.seconds * GROW)
        else:
            record.size = max(SIZE_RANGE[0], record.size * SHRINK)

    def stats(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for kind, record in self.records.items():
            found[f"{kind}_tries"] = record.tries
            found[f"{kind}_improvements"] = record.wins
            found[f"{kind}_size"] = round(record.size)
            found[f"{kind}_seconds"] = round(record.seconds, 2)
        return found

    def _draw(self) -> str:
        kinds = list(self.records)
        total = sum(record.reward for record in self.records.values())
        weights = [
            EXPLORE / len(kinds) + (1 - EXPLORE) * (record.reward / total if total else 1 / len(kinds))
            for record in self.records.values()
        ]
        return self.rng.choices(kinds, weights=weights)[0]

    def _window(self, instruments: frozenset[int], size: float, low: int = 0, high: int | None = None) -> Neighbourhood:
        """`instruments` over a window inside [low, high) wide enough for about `size` free candidates."""
        horizon = self.problem.horizon
        high = horizon if high is None else min(high, horizon)
        count = sum(self.candidates[i] for i in instruments)
        width = horizon if count <= size else max(self.min_width, int(horizon * size / count))
        width = min(width, horizon)
        first = min(max(0, low), horizon - width)
        last = max(first, min(high, horizon) - width)
        start = self.rng.randint(first, last)
        return Neighbourhood(instruments, (start, start + width))

    def _instruments(self, placements: list[Placement], size: float) -> Neighbourhood | None:
        placed = {p.request for p in placements}
        potential = [1.0] * len(self.problem.instruments)
        for r, request in enumerate(self.problem.requests):
            if r not in placed:
                for i in request.instruments:
                    potential[i] += request.priority * request.min_shifts
        first = self.rng.choices(range(len(potential)), weights=potential)[0]
        return self._window(self._grown({first}, size), size)

    def _grown(self, chosen: set[int], size: float) -> frozenset[int]:
        """`chosen` with some instruments that share requests with them, while under `size` candidates."""
        count = sum(self.candidates[i] for i in chosen)
        frontier = sorted(set().union(*(self.neighbours[i] for i in chosen)) - chosen)
        while frontier and count < size and self.rng.random() < 0.7:
            extra = frontier.pop(self.rng.randrange(len(frontier)))
            chosen.add(extra)
            count += self.candidates[extra]
        return frozenset(chosen)

    def _time(self, placements: list[Placement], size: float) -> Neighbourhood | None:
        return self._window(frozenset(range(len(self.problem.instruments))), size)

    def _links(self, placements: list[Placement], size: float) -> Neighbourhood | None:
        cluster = self.rng.choice(self.clusters)
        requests = [self.problem.requests[r] for r in cluster]
        instruments = frozenset(i for request in requests for i in request.instruments)
        low = min(request.earliest for request in requests)
        high = max(self.problem.horizon if request.latest is None else request.latest for request in requests)
        return self._window(instruments, size, low, high)

    def _quota(self, placements: list[Placement], size: float) -> Neighbourhood | None:
        return self._window(self.rng.choice(self.quota_scopes), size)

    def _unplaced(self, placements: list[Placement], size: float) -> Neighbourhood | None:
        placed = {p.request for p in placements}
        waiting = [r for r in range(len(self.problem.requests)) if r not in placed]
        if not waiting:
            return None
        weights = [self.problem.requests[r].priority * self.problem.requests[r].min_shifts for r in waiting]
        request = self.problem.requests[self.rng.choices(waiting, weights=weights)[0]]
        latest = self.problem.horizon if request.latest is None else request.latest
        return self._window(self._grown(set(request.instruments), size), size, request.earliest, latest)


def _link_clusters(problem: Problem) -> list[tuple[int, ...]]:
    """Requests joined by all_or_nothing groups or after links, transitively."""
    groups: list[Sequence[int]] = [group.requests for group in problem.all_or_nothing]
    groups += [(link.first, link.then) for link in problem.after]
    return sorted({component for component in joined(len(problem.requests), groups) if component})
