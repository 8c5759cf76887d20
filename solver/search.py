"""The engine: greedy construction, CP-SAT on the whole round, an adaptive neighbourhood search, polish.

On two cores CP-SAT alone barely improves a good first schedule of a whole
round in a minute. It does well on small sub-models, so the loop frees part of
the schedule (some instruments over a stretch of time), holds the rest, and
re-solves that part, many times over. Which part pays depends on the round's
shape, so there are several kinds of neighbourhood (`solver.neighbourhoods`),
chosen by their record; each kind's size and sub-solve time follow their
outcomes. Every so often during the search and before returning, `solver.polish`
takes every free insertion and improving swap the sub-models left behind.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from solver.bound import lp_bound
from solver.clock import slowdown
from solver.explain import explain_infeasibility, explain_unallocated
from solver.fair_return import owed_first
from solver.greedy import Fit, greedy, is_feasible
from solver.model import ModelData, build, objective_units
from solver.neighbourhoods import Chooser, Outcome
from solver.polish import polish
from solver.problem import Placement, Problem, Settings
from solver.solution import Progress, Solution, Status, primary_objective, quota_outcomes

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

ProgressCallback = Callable[[Progress], None]

WHOLE_MODEL_SHARE = 0.1
"""Share of the time limit CP-SAT gets on the whole round, to prove small rounds optimal."""
WHOLE_MODEL_SECONDS = 5.0
WHOLE_MODEL_CANDIDATES = 2000
"""Past this many candidates the whole model is only built when the greedy finds no valid schedule."""
EXPLAIN_CPU_PER_REQUEST = 0.0002
"""CPU seconds per request kept back at the end for explaining unallocated requests and tallying the
quotas, times the slowdown, so the limit holds (facility rounds: 0.38-0.60 CPU s at 3,257-4,042 requests)."""
EXPLAIN_PER_POLISH = 0.5
"""Explaining takes about half a polish's time (facility round: 0.34 s and 0.7 s of CPU)."""
POLISH_SHARE = 0.1
"""Most of the search time spent polishing between sub-solves."""
POLISH_CPU_PER_REQUEST = 0.0003
"""A first guess of a polish's CPU time, kept back (times the slowdown) until one has been timed."""
SETUP_CPU_PER_REQUEST = 0.00015
"""CPU seconds per request of the model's data and a polish's set-up (facility rounds: 0.39-0.51 CPU s at
3,257-4,042 requests): with less time than that left, the greedy's schedule is returned as it is."""
BOUND_CPU_PER_CANDIDATE = 0.00015
"""CPU seconds per candidate of the LP bound (facility rounds: 0.50-0.59 at 4,720-5,863 candidates,
importing SciPy 0.3-0.5 more): it is worked out only when the search's time left covers that."""
TIGHT_FITS: tuple[Fit, ...] = ("tightest", "tightest-on-first")
"""The constructions tried after the first-fit greedy, when time allows."""
BOUND_TOLERANCE = 1e-6
STOP_POLL_SECONDS = 0.05


@dataclass
class _Run:
    problem: Problem
    settings: Settings
    on_progress: ProgressCallback | None
    stop: threading.Event
    started: float
    slowdown: float
    """Wall seconds per CPU second of this process's work so far (`solver.clock`)."""
    best: list[Placement] = field(default_factory=list)
    best_units: int | None = None
    bound: float | None = None
    model_solved: bool = False
    """CP-SAT proved the whole model's objective (primary and secondary terms) optimal."""
    primary_proven: bool = False
    """The primary objective is proven optimal (by CP-SAT on a primary-only model)."""
    first_solution_seconds: float | None = None
    polish_seconds: float = 0.0
    """How long the last full polish took (at first a guess from the round's size): what to keep
    back for the final one."""
    stats: dict[str, float] = field(default_factory=dict)

    @cached_property
    def data(self) -> ModelData:
        """Built when first needed: a search with no time left returns the greedy's schedule without it."""
        return ModelData.of(self.problem)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        """Seconds until the search must stop for explaining: the deadline of every polish."""
        return self.settings.time_limit - self.explaining() - self.elapsed()

    def remaining(self) -> float:
        """Seconds left for the phases before the final polish."""
        return self.left() - 1.5 * self.polish_seconds

    def wall(self, cpu_per_item: float, items: int) -> float:
        """The wall seconds of a phase costing `cpu_per_item` CPU seconds per item, at the slowdown."""
        return cpu_per_item * items * self.slowdown

    def explaining(self) -> float:
        """Time kept back for explaining: per request at the slowdown, or (when a polish took longer)
        as a share of the last polish's wall time, which walks the same unplaced requests."""
        per_request = self.wall(EXPLAIN_CPU_PER_REQUEST, len(self.problem.requests))
        return max(per_request, EXPLAIN_PER_POLISH * self.polish_seconds)

    def offer(self, placements: list[Placement], phase: str) -> bool:
        """Keep `placements` if they score at least as well as the best so far; whether they score better."""
        units = objective_units(self.problem, self.data, placements)
        if self.best_units is not None and units < self.best_units:
            return False
        improved = self.best_units is None or units > self.best_units
        self.best, self.best_units = placements, units
        if self.first_solution_seconds is None:
            self.first_solution_seconds = self.elapsed()
        if improved:
            self.report(phase)
        return improved

    def report(self, phase: str) -> None:
        if self.on_progress and self.first_solution_seconds is not None:
            objective = primary_objective(self.problem, self.best)
            self.on_progress(Progress(self.elapsed(), objective, self.bound, phase))

    def polish(self, phase: str) -> None:
        if self.stop.is_set() or self.left() <= 0:
            return
        began = time.monotonic()
        self.offer(polish(self.problem, self.data, self.best, began + self.left()), phase)
        self.polish_seconds = time.monotonic() - began


def _solve_unless_stopped(solver: cp_model.CpSolver, model: cp_model.CpModel, stop: threading.Event) -> Status:
    """CP-SAT's solve, ended within a few milliseconds of `stop` being set; its status in the engine's
    words ("unknown" when it found no solution nor a proof that none exists)."""
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            if stop.wait(STOP_POLL_SECONDS):
                solver.stop_search()  # again until the solve returns: a stop before it starts is lost
                finished.wait(STOP_POLL_SECONDS)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        name = solver.status_name(solver.solve(model)).lower()
    finally:
        finished.set()
        watcher.join()
    return name if name in ("optimal", "feasible", "infeasible") else "unknown"


def solve(
    problem: Problem,
    settings: Settings = Settings(),
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    started: float | None = None,
) -> Solution:
    """Best schedule found by `started + settings.time_limit` (`time.monotonic()`, by default now);
    `stop` ends the search early, keeping the best."""
    started = time.monotonic() if started is None else started
    wall, cpu = time.monotonic(), time.thread_time()
    constructed = greedy(problem)
    valid = not is_feasible(problem, constructed)
    constructed_at = time.monotonic() - started
    constructing = time.monotonic() - wall
    if valid and on_progress:  # before the model's data is ready: the first schedule at once
        on_progress(Progress(constructed_at, primary_objective(problem, constructed), None, "greedy"))
    measured = slowdown(time.monotonic() - wall, time.thread_time() - cpu)
    run = _Run(problem, settings, on_progress, stop or threading.Event(), started, measured)
    requests = len(problem.requests)
    run.polish_seconds = run.wall(POLISH_CPU_PER_REQUEST, requests)
    if valid:
        run.best, run.first_solution_seconds = constructed, constructed_at
        if run.left() < run.wall(SETUP_CPU_PER_REQUEST, requests):
            run.stats = {"bound_skipped": 1.0, "polish_skipped": 1.0}
            return _finish(run)
        run.best_units = objective_units(problem, run.data, constructed)
    _construct_tightest(run, constructing)
    if problem.fair_return:
        paying_back = greedy(owed_first(problem))
        if not is_feasible(problem, paying_back):
            run.offer(paying_back, "greedy")
    _bound(run)
    whole = run.best_units is None or len(problem.candidates()) <= WHOLE_MODEL_CANDIDATES
    if (settings.strategy == "cp-sat" or whole) and _solve_whole(run) == "infeasible":
        return _infeasible(problem, settings, run.started)
    if run.best_units is None:
        return _no_schedule_found(run)
    if not run.model_solved:
        if settings.strategy == "lns":
            _improve(run)
        run.polish("polish")
    return _finish(run)


def _construct_tightest(run: _Run, constructing: float) -> None:
    """The greedy again with each tight fit (`greedy`'s "tightest" and "tightest-on-first": each
    block where it fills a free run most closely), kept when valid and better. On facility rounds of
    long requests, fragmented time or many links the better of them starts 0.7-1.9 % above first
    fit. Each is skipped unless the time before the final polish covers twice what the first
    construction and its check took."""
    for fit in TIGHT_FITS:
        if run.remaining() < 2 * constructing:
            return
        placements = greedy(run.problem, fit)
        if not is_feasible(run.problem, placements):
            run.stats[f"{fit}_fit_kept"] = float(run.offer(placements, "greedy"))


def _bound(run: _Run) -> None:
    """The LP bound, when the time left before the final polish covers it (HiGHS is stopped there
    too); else none, and the gap stays unknown."""
    budget = run.remaining()
    if budget < run.wall(BOUND_CPU_PER_CANDIDATE, len(run.data.runs)):
        run.stats["bound_skipped"] = 1.0
        return
    try:
        run.bound = lp_bound(run.problem, run.data.runs, budget)
    except TimeoutError:
        run.stats["bound_skipped"] = 1.0
    except ValueError:
        return
    run.report("bound")


def _solver(settings: Settings, seconds: float, seed: int) -> cp_model.CpSolver:
    # OR-Tools is imported here, not with the module: `solver.model` says why.
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    if settings.cp_sat:
        solver.parameters.merge_text_format(settings.cp_sat)
    solver.parameters.max_time_in_seconds = max(0.05, seconds)
    solver.parameters.num_workers = max(1, settings.workers)
    solver.parameters.random_seed = seed
    return solver


def _solve_whole(run: _Run) -> Status:
    """CP-SAT on the whole round from the constructed schedule; small rounds are proven optimal here.

    Without a valid constructed schedule (pins or quotas the greedy cannot satisfy),
    or with the "cp-sat" strategy, CP-SAT gets the remaining time.
    """
    built = build(run.problem, run.data)
    constructed = run.best_units is not None
    budget = run.remaining()
    if constructed:
        built.add_hint(run.best)
        if run.settings.strategy == "lns":
            budget = min(run.settings.time_limit * WHOLE_MODEL_SHARE, WHOLE_MODEL_SECONDS, budget)
    solver = _solver(run.settings, budget, run.settings.seed)
    status = _solve_unless_stopped(solver, built.model, run.stop)
    if status == "infeasible":
        return "infeasible"
    if status in ("optimal", "feasible"):
        primary_only = _objective_is_primary(run.problem, run.data.scale)
        run.model_solved = status == "optimal"
        run.primary_proven = run.model_solved and primary_only
        if primary_only:
            cp_bound = primary_objective(run.problem, built.fixed) + solver.best_objective_bound / run.data.scale
            run.bound = cp_bound if run.bound is None else min(run.bound, cp_bound)
        run.offer(built.schedule(solver), "whole")
    return "feasible"


def _objective_is_primary(problem: Problem, scale: int) -> bool:
    """CP-SAT's bound bounds the primary objective only when nothing else (soft quotas, kept
    allocations, fair return) is in the objective and every priority scales to an integer exactly."""
    exact = all(abs(r.priority * scale - round(r.priority * scale)) < 1e-9 for r in problem.requests)
    soft = any(quota.soft for quota in problem.quotas)
    return exact and not soft and not problem.previous and not problem.fair_return


def _improve(run: _Run) -> None:
    """Sub-solves of chosen neighbourhoods until the time is up, with a polish every so often
    (at most POLISH_SHARE of the time)."""
    rng = random.Random(run.settings.seed)
    pinned = set(run.problem.pinned)
    chooser = Chooser(run.problem, run.data, run.settings, rng)
    iterations = improvements = 0
    building = solving = polishing = 0.0
    last_polish = time.monotonic()
    while run.remaining() > 0.2 and not run.stop.is_set():
        began = time.monotonic()
        kind, neighbourhood, seconds = chooser.choose(run.best)
        held = [p for p in run.best if not neighbourhood.holds(p) or p in pinned]
        built = build(run.problem, run.data, neighbourhood, held)
        built.add_hint([p for p in run.best if neighbourhood.holds(p)])
        solver = _solver(run.settings, min(seconds, run.remaining()), rng.randrange(1 << 30))
        built_at = time.monotonic()
        status = _solve_unless_stopped(solver, built.model, run.stop)
        solved_at = time.monotonic()
        building += built_at - began
        solving += solved_at - built_at
        iterations += 1
        improved = False
        if status in ("optimal", "feasible"):
            improved = run.offer(built.schedule(solver), f"neighbourhood ({kind})")
            improvements += improved
        chooser.learn(Outcome(kind, improved, status == "optimal", solved_at - built_at, solved_at - began))
        since = time.monotonic() - last_polish
        if since * POLISH_SHARE > run.polish_seconds and run.remaining() > run.polish_seconds:
            run.polish("polish")
            polishing += run.polish_seconds
            last_polish = time.monotonic()
    run.stats |= {
        "neighbourhoods": iterations,
        "improvements": improvements,
        "building_seconds": round(building, 2),
        "solving_seconds": round(solving, 2),
        "polishing_seconds": round(polishing, 2),
        **chooser.stats(),
    }


def _finish(run: _Run) -> Solution:
    problem = run.problem
    objective = primary_objective(problem, run.best)
    outcomes = quota_outcomes(problem, run.best)
    bound = run.bound
    if bound is not None and objective - bound <= BOUND_TOLERANCE * max(1.0, objective):
        bound = max(bound, objective)  # the LP solver's own tolerance, not a looser bound
    closed = bound is not None and bound - objective <= BOUND_TOLERANCE * max(1.0, objective)
    run.report("done")
    return Solution(
        status="optimal" if run.primary_proven or closed else "feasible",
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
