"""Which part of the schedule a sub-model of the search may change, chosen by record (adaptive LNS).

Every neighbourhood is some instruments over a window of time, of one of six kinds:
- instruments: one instrument (weighted by the unplaced value waiting for it) and some that share requests with it;
- time: every instrument over a short window;
- links: the instruments and dates of a cluster of linked requests (all_or_nothing and after links,
  often across facilities);
- quota: the instruments of one quota group;
- equipment: the instruments whose requests need one item (weighted by the unplaced value needing it);
- unplaced: the instruments and dates of an unplaced request, weighted by priority x min_shifts.

A neighbourhood frees about `size` requests: the blocks within its window (sized so that they are
about half of them) and unplaced requests that could go there, drawn by priority x min_shifts. At
facility size a thousand unplaced requests could use any window, so taking them all would make
every sub-model too big to solve in its second. A kind is drawn with probability from its record
(an exponential average of improvements per second, with a floor to keep exploring); its size grows
while its sub-solves are proven optimal quickly and shrinks when they time out without improving;
its sub-solve time grows while time-outs still improve.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from solver.greedy import all_or_nothing_components, joined
from solver.model import ModelData, Neighbourhood
from solver.problem import Placement, Problem, Settings

KINDS = ("instruments", "time", "links", "quota", "equipment", "unplaced")
EXPLORE = 0.2
"""Share of draws spread evenly over the kinds, whatever their record."""
MEMORY = 0.2
"""Weight of the latest outcome in a kind's average reward."""
GROW, SHRINK = 1.15, 0.85
SIZE_RANGE = (10.0, 4000.0)
HELD_SHARE = 0.5
"""Share of a neighbourhood's size the blocks within its window are meant to take."""
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
    def __init__(self, problem: Problem, data: ModelData, settings: Settings, rng: random.Random) -> None:
        self.problem = problem
        self.data = data
        self.settings = settings
        self.rng = rng
        self.neighbours: dict[int, set[int]] = defaultdict(set)
        for request in problem.requests:
            for i in request.instruments:
                self.neighbours[i].update(set(request.instruments) - {i})
        lengths = [request.shifts for request in problem.requests] or [1]
        self.min_width = max(1, 2 * round(statistics.median(lengths)))
        self.clusters = _link_clusters(problem)
        self.components = all_or_nothing_components(problem)
        self.quota_scopes = sorted({quota.instruments for quota in problem.quotas if quota.instruments}, key=sorted)
        self.equipment_users = _equipment_users(problem)
        self.blocks_on: Counter[int] = Counter()
        builders: dict[str, Callable[[list[Placement], float], Neighbourhood | None]] = {
            "instruments": self._instruments,
            "time": self._time,
            "links": self._links,
            "quota": self._quota,
            "equipment": self._equipment,
            "unplaced": self._unplaced,
        }
        unusable = {"links"} if not self.clusters else set()
        unusable |= {"quota"} if not self.quota_scopes else set()
        unusable |= {"equipment"} if not self.equipment_users else set()
        kinds = [kind for kind in (KINDS if settings.adaptive else ("instruments",)) if kind not in unusable]
        self.builders = {kind: builders[kind] for kind in kinds}
        self.records = {
            kind: _Record(float(settings.neighbourhood_candidates), settings.subsolve_seconds) for kind in kinds
        }

    def choose(self, placements: list[Placement]) -> tuple[str, Neighbourhood, float]:
        """A kind by its record, a neighbourhood of that kind with the requests it frees, and the time
        to re-solve it."""
        self.blocks_on = Counter(p.instrument for p in placements)
        kind = self._draw()
        record = self.records[kind]
        neighbourhood = self.builders[kind](placements, record.size)
        if neighbourhood is None:
            kind = "instruments"
            record = self.records[kind]
            neighbourhood = self._instruments(placements, record.size)
            assert neighbourhood is not None
        return kind, self._with_requests(neighbourhood, placements, record.size), record.seconds

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

    def _window(
        self, instruments: frozenset[int], size: float, low: int = 0, high: int | None = None, focus: Iterable[int] = ()
    ) -> Neighbourhood:
        """`instruments` over a window inside [low, high) that holds about HELD_SHARE x `size` blocks;
        `focus`: requests it frees whatever the draw."""
        horizon = self.problem.horizon
        high = horizon if high is None else min(high, horizon)
        count = sum(self.blocks_on[i] for i in instruments)
        held = HELD_SHARE * size
        width = horizon if count <= held else max(self.min_width, int(horizon * held / count))
        width = min(width, horizon)
        first = min(max(0, low), horizon - width)
        last = max(first, min(high, horizon) - width)
        start = self.rng.randint(first, last)
        return Neighbourhood(instruments, (start, start + width), frozenset(focus))

    def _with_requests(self, neighbourhood: Neighbourhood, placements: list[Placement], size: float) -> Neighbourhood:
        """The neighbourhood freeing its own blocks, its focus and unplaced requests that could go in
        its window (drawn by priority x min_shifts) up to `size`, with their all_or_nothing partners."""
        inside = {p.request for p in placements if neighbourhood.holds(p)}
        placed = {p.request for p in placements}
        focus = set(neighbourhood.requests or ())
        instruments = neighbourhood.instruments
        waiting = sorted(
            {r for i in instruments for r in self.data.requests_on.get(i, ()) if r not in placed and r not in focus}
        )
        room = max(0, round(size) - len(inside) - len(focus))
        # A weighted draw without replacement: the largest keys u^(1/w) (Efraimidis and Spirakis)
        # among the requests that fit in the window, looked at in order of key until there is no room.
        keys = {r: self.rng.random() ** (1.0 / self._value(r)) for r in waiting}
        entering: set[int] = set()
        for r in sorted(waiting, key=keys.__getitem__, reverse=True):
            if len(entering) >= room:
                break
            if any(
                self._fits(r, i, neighbourhood.window) for i in self.problem.requests[r].instruments if i in instruments
            ):
                entering.add(r)
        entering |= focus
        partners = {m for r in entering for m in self.components[r] or () if m not in placed}
        return Neighbourhood(instruments, neighbourhood.window, frozenset(inside | entering | partners))

    def _fits(self, r: int, i: int, window: tuple[int, int]) -> bool:
        low, high = window
        shortest = self.problem.requests[r].min_shifts
        return any(min(b, high) - max(a, low) >= shortest for a, b in self.data.runs[(r, i)])

    def _value(self, r: int) -> float:
        request = self.problem.requests[r]
        return max(1e-9, request.priority * request.min_shifts)

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
        """`chosen` with some instruments that share requests with them, while they hold under `size` blocks."""
        count = sum(self.blocks_on[i] for i in chosen)
        frontier = sorted(set().union(*(self.neighbours[i] for i in chosen)) - chosen)
        while frontier and count < size and self.rng.random() < 0.7:
            extra = frontier.pop(self.rng.randrange(len(frontier)))
            chosen.add(extra)
            count += self.blocks_on[extra]
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

    def _equipment(self, placements: list[Placement], size: float) -> Neighbourhood | None:
        placed = {p.request for p in placements}
        items = sorted(self.equipment_users)
        weights = [1.0 + sum(self._value(r) for r in self.equipment_users[e] if r not in placed) for e in items]
        users = self.equipment_users[self.rng.choices(items, weights=weights)[0]]
        instruments = frozenset(i for r in users for i in self.problem.requests[r].instruments)
        return self._window(instruments, size)

    def _unplaced(self, placements: list[Placement], size: float) -> Neighbourhood | None:
        placed = {p.request for p in placements}
        waiting = [r for r in range(len(self.problem.requests)) if r not in placed]
        if not waiting:
            return None
        chosen = self.rng.choices(waiting, weights=[self._value(r) for r in waiting])[0]
        request = self.problem.requests[chosen]
        latest = self.problem.horizon if request.latest is None else request.latest
        instruments = self._grown(set(request.instruments), size)
        return self._window(instruments, size, request.earliest, latest, focus=(chosen,))


def _equipment_users(problem: Problem) -> dict[int, list[int]]:
    """Equipment item -> the requests that need it, for items some requests contend for."""
    users: dict[int, list[int]] = defaultdict(list)
    for r, request in enumerate(problem.requests):
        for e in request.equipment:
            users[e].append(r)
    return {e: found for e, found in users.items() if len(found) > problem.equipment[e].units}


def _link_clusters(problem: Problem) -> list[tuple[int, ...]]:
    """Requests joined by all_or_nothing groups or after links, transitively."""
    groups: list[Sequence[int]] = [group.requests for group in problem.all_or_nothing]
    groups += [(link.first, link.then) for link in problem.after]
    return sorted({component for component in joined(len(problem.requests), groups) if component})
