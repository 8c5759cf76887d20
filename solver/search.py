"""The engine: greedy construction, a complete hint for CP-SAT, then a neighbourhood search.

On two cores CP-SAT alone barely improves a good first schedule of a whole
round in a minute. It does well on small sub-models, so the loop frees a few
instruments over a stretch of time, holds the rest, and re-solves that part
for about a second, many times over. The neighbourhood grows while sub-solves
finish early and shrinks while they time out.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from solver.bound import lp_bound
from solver.explain import explain_infeasibility, explain_unallocated
from solver.greedy import greedy, is_feasible
from solver.model import Built, Neighbourhood, build, objective_units
from solver.problem import Placement, Problem, Settings
from solver.solution import Progress, Solution, Status, primary_objective, quota_outcomes

ProgressCallback = Callable[[Progress], None]

FULL_MODEL_SHARE = 0.1
"""Share of the time limit given to CP-SAT on the whole round before the neighbourhood loop."""
BOUND_TOLERANCE = 1e-6
TARGET_FREE_CANDIDATES = 120
"""Starting size of a neighbourhood, in candidates; adapted as sub-solves go."""


@dataclass
class _Run:
    problem: Problem
    settings: Settings
    on_progress: ProgressCallback | None
    stop: threading.Event
    started: float
    best: list[Placement]
    best_units: int
    scale: int
    bound: float | None = None
    proven_optimal: bool = False
    first_solution_seconds: float | None = None
    stats: dict[str, float] = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.settings.time_limit - self.elapsed()

    def offer(self, placements: list[Placement], phase: str) -> bool:
        """Keep `placements` if they score at least as well as the best so far."""
        units = objective_units(self.problem, placements, self.scale)
        if units < self.best_units:
            return False
        improved = units > self.best_units
        self.best, self.best_units = placements, units
        if improved:
            self.report(phase)
        return True

    def report(self, phase: str) -> None:
        if self.on_progress:
            objective = primary_objective(self.problem, self.best)
            self.on_progress(Progress(self.elapsed(), objective, self.bound, phase))


class _StopWhenAsked(cp_model.CpSolverSolutionCallback):  # type: ignore[misc]
    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self._stop = stop

    def on_solution_callback(self) -> None:
        if self._stop.is_set():
            self.stop_search()


def solve(
    problem: Problem,
    settings: Settings = Settings(),
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> Solution:
    """Best schedule found within `settings.time_limit`; `stop` ends the search early, keeping the best."""
    started = time.monotonic()
    constructed = greedy(problem)
    built = build(problem)
    run = _Run(problem, settings, on_progress, stop or threading.Event(), started, [], -(1 << 62), built.scale)
    run.bound = _lp_bound_or_none(problem)
    if not is_feasible(problem, constructed):
        run.offer(constructed, "greedy")
        run.first_solution_seconds = run.elapsed()
    status = _solve_whole(run, built)
    if status == "infeasible":
        return _infeasible(problem, settings, started)
    if run.first_solution_seconds is None:
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


def _solve_whole(run: _Run, built: Built) -> Status:
    """CP-SAT on the whole round from the constructed schedule; small rounds are proven optimal here.

    Without a valid constructed schedule (pins or quotas the greedy cannot satisfy),
    CP-SAT gets the remaining time to find one or prove there is none.
    """
    constructed = run.first_solution_seconds is not None
    share = run.settings.time_limit * FULL_MODEL_SHARE if constructed else run.remaining()
    budget = min(run.remaining(), max(1.0, share))
    if constructed:
        built.add_hint(run.best)
    solver = _solver(run.settings, budget, run.settings.seed)
    status = solver.solve(built.model, _StopWhenAsked(run.stop))
    if status == cp_model.INFEASIBLE:
        return "infeasible"
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        run.offer(built.schedule(solver), "whole")
        if run.first_solution_seconds is None:
            run.first_solution_seconds = run.elapsed()
        run.proven_optimal = status == cp_model.OPTIMAL
        if _objective_is_primary(run.problem, built.scale):
            held = primary_objective(run.problem, built.fixed)
            cp_bound = held + solver.best_objective_bound / built.scale
            run.bound = cp_bound if run.bound is None else min(run.bound, cp_bound)
    return "feasible"


def _objective_is_primary(problem: Problem, scale: int) -> bool:
    """CP-SAT's bound bounds the primary objective only when nothing else is in the objective
    and every priority scales to an integer exactly."""
    exact = all(abs(r.priority * scale - round(r.priority * scale)) < 1e-9 for r in problem.requests)
    soft = any(quota.soft for quota in problem.quotas)
    return exact and not soft and not problem.previous


def _improve(run: _Run) -> None:
    rng = random.Random(run.settings.seed)
    pinned = set(run.problem.pinned)
    target = TARGET_FREE_CANDIDATES
    iterations = improvements = 0
    while run.remaining() > 0.2 and not run.stop.is_set():
        neighbourhood = _choose_neighbourhood(run.problem, run.best, target, rng)
        held = [p for p in run.best if not _inside(p, neighbourhood) or p in pinned]
        built = build(run.problem, neighbourhood, held)
        built.add_hint([p for p in run.best if _inside(p, neighbourhood)])
        seconds = min(run.settings.subsolve_seconds, run.remaining() - 0.1)
        solver = _solver(run.settings, seconds, rng.randrange(1 << 30))
        status = solver.solve(built.model, _StopWhenAsked(run.stop))
        iterations += 1
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            before = run.best_units
            run.offer(built.schedule(solver), "neighbourhood")
            improvements += run.best_units > before
        if status == cp_model.OPTIMAL:
            target = min(int(target * 1.2) + 1, 2000)
        else:
            target = max(30, int(target * 0.8))
    run.stats = {"neighbourhoods": iterations, "improvements": improvements, "final_neighbourhood": target}


def _inside(placement: Placement, neighbourhood: Neighbourhood) -> bool:
    low, high = neighbourhood.window
    return placement.instrument in neighbourhood.instruments and low <= placement.start and placement.end <= high


def _choose_neighbourhood(
    problem: Problem, placements: Sequence[Placement], target: int, rng: random.Random
) -> Neighbourhood:
    """Instruments that share requests with a random seed instrument, over a window sized to `target`."""
    per_instrument: dict[int, int] = defaultdict(int)
    neighbours: dict[int, set[int]] = defaultdict(set)
    for request in problem.requests:
        for i in request.instruments:
            per_instrument[i] += 1
            neighbours[i].update(request.instruments)
    chosen = {rng.randrange(len(problem.instruments))}
    frontier = sorted(neighbours[next(iter(chosen))] - chosen)
    count = per_instrument[next(iter(chosen))]
    while frontier and count < target and rng.random() < 0.7:
        extra = frontier.pop(rng.randrange(len(frontier)))
        chosen.add(extra)
        count += per_instrument[extra]
    if count <= target:
        return Neighbourhood(frozenset(chosen), (0, problem.horizon))
    width = max(1, problem.horizon * target // count)
    start = rng.randrange(max(1, problem.horizon - width + 1))
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
