"""The engine: greedy construction, a complete hint for CP-SAT, then a neighbourhood search.

On two cores CP-SAT alone barely improves a good first schedule of a whole
round in a minute (about 0.4 % on the medium fixture in 30 s). It does well on
small sub-models, so the loop frees one instrument and those that share
requests with it over a stretch of time, holds the rest, and re-solves that
part for about a second, many times over. Measured on the medium fixture,
sub-models of about 100 candidates and 1 s sub-solves did best (see BENCHMARKS.md).
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from solver.bound import lp_bound
from solver.explain import explain_infeasibility, explain_unallocated
from solver.greedy import greedy, is_feasible
from solver.model import ModelData, Neighbourhood, build, objective_units
from solver.problem import Placement, Problem, Settings
from solver.solution import Progress, Solution, Status, primary_objective, quota_outcomes

ProgressCallback = Callable[[Progress], None]

WHOLE_MODEL_SHARE = 0.1
"""Share of the time limit CP-SAT gets on the whole round, to prove small rounds optimal."""
WHOLE_MODEL_SECONDS = 5.0
WHOLE_MODEL_CANDIDATES = 2000
"""Past this many candidates the whole model is only built when the greedy finds no valid schedule."""
NEIGHBOURHOOD_CANDIDATES = 100
"""Free candidates in one sub-model."""
EXPLAIN_SECONDS_PER_REQUEST = 0.0002
"""Time kept back at the end for explaining unallocated requests, so the limit holds."""
BOUND_TOLERANCE = 1e-6
STOP_POLL_SECONDS = 0.05


@dataclass
class _Run:
    problem: Problem
    settings: Settings
    on_progress: ProgressCallback | None
    stop: threading.Event
    data: ModelData
    started: float = field(default_factory=time.monotonic)
    best: list[Placement] = field(default_factory=list)
    best_units: int | None = None
    bound: float | None = None
    proven_optimal: bool = False
    first_solution_seconds: float | None = None
    stats: dict[str, float] = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        reserve = EXPLAIN_SECONDS_PER_REQUEST * len(self.problem.requests)
        return self.settings.time_limit - reserve - self.elapsed()

    def offer(self, placements: list[Placement], phase: str) -> None:
        """Keep `placements` if they score at least as well as the best so far."""
        units = objective_units(self.problem, self.data, placements)
        if self.best_units is not None and units < self.best_units:
            return
        improved = self.best_units is None or units > self.best_units
        self.best, self.best_units = placements, units
        if self.first_solution_seconds is None:
            self.first_solution_seconds = self.elapsed()
        if improved:
            self.report(phase)

    def report(self, phase: str) -> None:
        if self.on_progress:
            objective = primary_objective(self.problem, self.best)
            self.on_progress(Progress(self.elapsed(), objective, self.bound, phase))


def _solve_unless_stopped(solver: cp_model.CpSolver, model: cp_model.CpModel, stop: threading.Event) -> int:
    """CP-SAT's solve, ended within a few milliseconds of `stop` being set."""
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            if stop.wait(STOP_POLL_SECONDS):
                solver.stop_search()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        return int(solver.solve(model))
    finally:
        finished.set()
        watcher.join()


def solve(
    problem: Problem,
    settings: Settings = Settings(),
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> Solution:
    """Best schedule found within `settings.time_limit`; `stop` ends the search early, keeping the best."""
    run = _Run(problem, settings, on_progress, stop or threading.Event(), ModelData.of(problem))
    constructed = greedy(problem)
    if not is_feasible(problem, constructed):
        run.offer(constructed, "greedy")
    run.bound = _lp_bound_or_none(problem)
    whole = run.best_units is None or len(problem.candidates()) <= WHOLE_MODEL_CANDIDATES
    if whole and _solve_whole(run) == "infeasible":
        return _infeasible(problem, settings, run.started)
    if run.best_units is None:
        return _no_schedule_found(run)
    if not run.proven_optimal:
        _improve(run)
    return _finish(run)


def _lp_bound_or_none(problem: Problem) -> float | None:
    try:
        return lp_bound(problem)
    except ValueError:
        return None


def _solver(settings: Settings, seconds: float, seed: int) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, seconds)
    solver.parameters.num_workers = max(1, settings.workers)
    solver.parameters.random_seed = seed
    return solver


def _solve_whole(run: _Run) -> Status:
    """CP-SAT on the whole round from the constructed schedule; small rounds are proven optimal here.

    Without a valid constructed schedule (pins or quotas the greedy cannot satisfy),
    CP-SAT gets the remaining time to find one or prove there is none.
    """
    built = build(run.problem, run.data)
    constructed = run.best_units is not None
    if constructed:
        built.add_hint(run.best)
        budget = min(run.settings.time_limit * WHOLE_MODEL_SHARE, WHOLE_MODEL_SECONDS)
    else:
        budget = run.remaining()
    solver = _solver(run.settings, min(budget, run.remaining()), run.settings.seed)
    status = _solve_unless_stopped(solver, built.model, run.stop)
    if status == cp_model.INFEASIBLE:
        return "infeasible"
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        run.offer(built.schedule(solver), "whole")
        run.proven_optimal = status == cp_model.OPTIMAL
        if _objective_is_primary(run.problem, run.data.scale):
            cp_bound = primary_objective(run.problem, built.fixed) + solver.best_objective_bound / run.data.scale
            run.bound = cp_bound if run.bound is None else min(run.bound, cp_bound)
    return "feasible"


def _objective_is_primary(problem: Problem, scale: int) -> bool:
    """CP-SAT's bound bounds the primary objective only when nothing else (soft quotas, kept
    allocations, fair return) is in the objective and every priority scales to an integer exactly."""
    exact = all(abs(r.priority * scale - round(r.priority * scale)) < 1e-9 for r in problem.requests)
    soft = any(quota.soft for quota in problem.quotas)
    return exact and not soft and not problem.previous and not problem.fair_return


def _improve(run: _Run) -> None:
    rng = random.Random(run.settings.seed)
    pinned = set(run.problem.pinned)
    chooser = _NeighbourhoodChooser(run.problem, rng)
    iterations = improvements = 0
    building = solving = 0.0
    while run.remaining() > 0.2 and not run.stop.is_set():
        began = time.monotonic()
        neighbourhood = chooser.choose(run.best)
        held = [p for p in run.best if not _inside(p, neighbourhood) or p in pinned]
        built = build(run.problem, run.data, neighbourhood, held)
        built.add_hint([p for p in run.best if _inside(p, neighbourhood)])
        seconds = min(run.settings.subsolve_seconds, run.remaining())
        solver = _solver(run.settings, seconds, rng.randrange(1 << 30))
        built_at = time.monotonic()
        status = _solve_unless_stopped(solver, built.model, run.stop)
        building += built_at - began
        solving += time.monotonic() - built_at
        iterations += 1
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            before = run.best_units
            run.offer(built.schedule(solver), "neighbourhood")
            improvements += run.best_units != before
    run.stats = {
        "neighbourhoods": iterations,
        "improvements": improvements,
        "building_seconds": round(building, 2),
        "solving_seconds": round(solving, 2),
    }


def _inside(placement: Placement, neighbourhood: Neighbourhood) -> bool:
    low, high = neighbourhood.window
    return placement.instrument in neighbourhood.instruments and low <= placement.start and placement.end <= high


class _NeighbourhoodChooser:
    """A random instrument, then instruments that share requests with it, over a window sized so
    that about NEIGHBOURHOOD_CANDIDATES candidates are free."""

    def __init__(self, problem: Problem, rng: random.Random) -> None:
        self.problem = problem
        self.rng = rng
        self.candidates: dict[int, int] = defaultdict(int)
        self.neighbours: dict[int, set[int]] = defaultdict(set)
        for request in problem.requests:
            for i in request.instruments:
                self.candidates[i] += 1
                self.neighbours[i].update(set(request.instruments) - {i})

    def choose(self, placements: list[Placement]) -> Neighbourhood:
        placed = {p.request for p in placements}
        potential = [1.0] * len(self.problem.instruments)
        for r, request in enumerate(self.problem.requests):
            if r not in placed:
                for i in request.instruments:
                    potential[i] += request.priority * request.min_shifts
        first = self.rng.choices(range(len(potential)), weights=potential)[0]
        chosen = {first}
        count = self.candidates[first]
        frontier = sorted(self.neighbours[first])
        while frontier and count < NEIGHBOURHOOD_CANDIDATES and self.rng.random() < 0.7:
            extra = frontier.pop(self.rng.randrange(len(frontier)))
            chosen.add(extra)
            count += self.candidates[extra]
        horizon = self.problem.horizon
        if count <= NEIGHBOURHOOD_CANDIDATES:
            return Neighbourhood(frozenset(chosen), (0, horizon))
        width = max(1, horizon * NEIGHBOURHOOD_CANDIDATES // count)
        start = self.rng.randrange(max(1, horizon - width + 1))
        return Neighbourhood(frozenset(chosen), (start, start + width))


def _finish(run: _Run) -> Solution:
    problem = run.problem
    objective = primary_objective(problem, run.best)
    outcomes = quota_outcomes(problem, run.best)
    bound = run.bound
    if bound is not None and objective - bound <= BOUND_TOLERANCE * max(1.0, objective):
        bound = max(bound, objective)  # the LP solver's own tolerance, not a looser bound
    return Solution(
        status="optimal" if run.proven_optimal else "feasible",
        placements=tuple(sorted(run.best, key=lambda p: (p.instrument, p.start))),
        objective=objective,
        bound=bound,
        seconds=run.elapsed(),
        first_solution_seconds=run.first_solution_seconds,
        penalty=sum(outcome.penalty for outcome in outcomes),
        quotas=outcomes,
        unallocated=explain_unallocated(problem, run.best),
        stats=run.stats,
    )


def _no_schedule_found(run: _Run) -> Solution:
    return Solution(
        status="unknown",
        placements=(),
        objective=0.0,
        bound=run.bound,
        seconds=run.elapsed(),
        infeasibility=("no valid schedule was found within the time limit, nor a proof that none exists",),
    )


def _infeasible(problem: Problem, settings: Settings, started: float) -> Solution:
    return Solution(
        status="infeasible",
        placements=(),
        objective=0.0,
        bound=None,
        seconds=time.monotonic() - started,
        infeasibility=explain_infeasibility(problem, settings),
    )
