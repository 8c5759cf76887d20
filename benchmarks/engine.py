"""Greedy alone against the engine at several time limits, on generated rounds.

Every run (the baseline of a round, and each engine solve) happens in a fresh
spawned process, so that peak memory is that run's own and a solver crash costs
one row rather than the whole benchmark. Ratios are on the primary objective;
soft-quota penalties are reported beside them.

    python -m benchmarks.engine --sizes medium facility huge --limits 10 60 300 --seeds 1 --workers 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import ortools
import scipy

from fixtures.generate import SIZES, dumps, generate_round
from scheduler.roundfile.build import Prepared, prepare
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.schedule import schedule_file
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import exclusions, priorities
from scheduler.roundfile.validate import format_violations, validate_schedule
from solver.bound import lp_bound
from solver.greedy import greedy, is_feasible
from solver.model import ModelData
from solver.polish import free_insertions, improving_swaps
from solver.problem import Problem, Settings
from solver.search import solve
from solver.solution import Progress, Solution, primary_objective, quota_outcomes

T = TypeVar("T")

RSS_UNIT = 1 if sys.platform == "darwin" else 1024
"""ru_maxrss is in bytes on macOS and in kilobytes on Linux."""


@dataclass(frozen=True)
class Baseline:
    """What a round offers before the engine runs: the greedy schedule and the LP upper bound."""

    requests: int
    instruments: int
    greedy_objective: float
    greedy_penalty: float
    greedy_seconds: float
    greedy_errors: int
    """Hard rules the greedy schedule breaks; the engine then cannot start from it."""
    lp_bound: float
    lp_seconds: float


@dataclass(frozen=True)
class EngineRun:
    status: str
    objective: float
    penalty: float
    engine_bound: float | None
    prepare_seconds: float
    """Reading the round file's text, checking, scoring and preparing it, before solve() starts."""
    first_valid_seconds: float | None
    """From just before solve() to its first progress event, which carries a valid schedule."""
    first_phase: str | None
    last_improvement_seconds: float | None
    wall_seconds: float
    """solve() alone, from its call to its return (explanations included)."""
    whole_seconds: float
    """From the round file's text to the schedule file: what `beamtime solve` spends beside the disk and JSON output."""
    peak_mb: float
    """Peak resident memory of the whole run's process, round generation included."""
    violations: list[str]
    cpu_seconds: float
    """CPU time of the solve; well under workers x wall seconds means other work shared the CPUs."""
    stats: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    error: str


@dataclass
class RoundResult:
    size: str
    seed: int
    baseline: Baseline | Failure
    runs: dict[float, EngineRun | Failure] = field(default_factory=dict)


def _prepared(round_text: str) -> Prepared:
    round_file = load_round(round_text)
    scores = score_round(round_file)
    return prepare(round_file, priorities(scores), exclusions(scores))


def baseline(size: str, seed: int, shape: str = "default") -> Baseline:
    """Runs in a child process: greedy and the LP bound, each timed on its own."""
    problem = _prepared(dumps(generate_round(size, seed, shape=shape))).problem
    started = time.perf_counter()
    placements = greedy(problem)
    greedy_seconds = time.perf_counter() - started
    started = time.perf_counter()
    bound = lp_bound(problem)
    lp_seconds = time.perf_counter() - started
    return Baseline(
        requests=len(problem.requests),
        instruments=len(problem.instruments),
        greedy_objective=primary_objective(problem, placements),
        greedy_penalty=sum(outcome.penalty for outcome in quota_outcomes(problem, placements)),
        greedy_seconds=greedy_seconds,
        greedy_errors=len(is_feasible(problem, placements)),
        lp_bound=bound,
        lp_seconds=lp_seconds,
    )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def engine_run(size: str, seed: int, settings: Settings, shape: str = "default") -> EngineRun:
    """Runs in a child process: one engine solve, its schedule file checked by the independent validator."""
    round_text = dumps(generate_round(size, seed, shape=shape))
    started = time.monotonic()
    prepared = _prepared(round_text)
    events: list[tuple[float, Progress]] = []
    cpu_started = _cpu_seconds()
    solve_started = time.monotonic()

    def record(progress: Progress) -> None:
        events.append((time.monotonic() - solve_started, progress))

    solution = solve(prepared.problem, settings, record)
    wall_seconds = time.monotonic() - solve_started
    cpu_seconds = _cpu_seconds() - cpu_started
    schedule = schedule_file(prepared, solution)
    whole_seconds = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * RSS_UNIT / 2**20
    violations = validate_schedule(prepared.round_file, schedule, prepared.priorities, prepared.excluded.keys())
    return EngineRun(
        status=solution.status,
        objective=solution.objective,
        penalty=solution.penalty,
        engine_bound=solution.bound,
        prepare_seconds=solve_started - started,
        first_valid_seconds=events[0][0] if events else None,
        first_phase=events[0][1].phase if events else None,
        last_improvement_seconds=max((t for t, p in events if p.phase not in ("bound", "done")), default=None),
        wall_seconds=wall_seconds,
        whole_seconds=whole_seconds,
        peak_mb=peak_mb,
        violations=format_violations(violations).splitlines(),
        cpu_seconds=cpu_seconds,
        stats=dict(solution.stats) | _local_moves_left(prepared.problem, solution),
    )


def _local_moves_left(problem: Problem, solution: Solution) -> dict[str, float]:
    """Free insertions and improving single swaps the returned schedule still has (should be none)."""
    data, placements = ModelData.of(problem), list(solution.placements)
    return {
        "free_insertions": len(free_insertions(problem, data, placements)),
        "improving_swaps": len(improving_swaps(problem, data, placements)),
    }


def in_fresh_process(function: Callable[..., T], *args: object) -> T | Failure:
    """`function(*args)` in a new spawned interpreter; an exception or a crash there becomes a Failure."""
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(function, *args).result()
    except Exception as error:
        return Failure(f"{type(error).__name__}: {error}")


def number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def ratio(value: float, reference: float | None) -> str:
    return "–" if not reference else f"{value / reference:.3f}"


def machine() -> str:
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"OR-Tools {ortools.__version__}, SciPy {scipy.__version__}"
    )


def table(results: Sequence[RoundResult], size: str) -> list[str]:
    lines = [
        f"## {size}",
        "",
        "| size | seed | limit s | objective | ratio to greedy | ratio to LP bound | penalty (greedy) "
        "| first valid s | wall s | peak MB | violations |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes: list[str] = []
    for result in (r for r in results if r.size == size):
        base = result.baseline
        if isinstance(base, Failure):
            greedy_objective = bound = greedy_penalty = None
            notes.append(f"- seed {result.seed}: baseline failed: {base.error}")
        else:
            greedy_objective, bound, greedy_penalty = base.greedy_objective, base.lp_bound, base.greedy_penalty
            lines.append(
                f"| {size} | {result.seed} | greedy | {number(base.greedy_objective)} | 1.000 "
                f"| {ratio(base.greedy_objective, bound)} | {number(base.greedy_penalty)} "
                f"| {base.greedy_seconds:.2f} | {base.greedy_seconds:.2f} | – | {base.greedy_errors} |"
            )
            notes.append(
                f"- seed {result.seed}: {base.requests:,} requests on {base.instruments} instruments; "
                f"greedy {base.greedy_seconds:.2f} s; LP bound {number(base.lp_bound)} in {base.lp_seconds:.2f} s"
            )
        for limit, run in result.runs.items():
            if isinstance(run, Failure):
                lines.append(f"| {size} | {result.seed} | {limit:g} | failed | | | | | | | |")
                notes.append(f"- seed {result.seed}, {limit:g} s: failed: {run.error}")
                continue
            lines.append(
                f"| {size} | {result.seed} | {limit:g} | {number(run.objective)} "
                f"| {ratio(run.objective, greedy_objective)} | {ratio(run.objective, bound)} "
                f"| {number(run.penalty)} ({number(greedy_penalty)}) | {number(run.first_valid_seconds, 2)} "
                f"| {run.wall_seconds:.1f} | {run.peak_mb:,.0f} | {len(run.violations)} |"
            )
            notes.append(
                f"- seed {result.seed}, {limit:g} s: status {run.status}; round prepared in "
                f"{run.prepare_seconds:.2f} s; first valid from {run.first_phase or 'nothing'}; last improvement at "
                f"{number(run.last_improvement_seconds, 2)} s; {run.stats.get('neighbourhoods', 0):.0f} "
                f"neighbourhoods, {run.stats.get('improvements', 0):.0f} improving; engine bound "
                f"{number(run.engine_bound)}; {run.cpu_seconds:.1f} CPU s"
            )
    return [*lines, "", *notes, ""]


def report(command: str, workers: int, results: Sequence[RoundResult], sizes: Sequence[str]) -> str:
    head = [
        "# Engine benchmark",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine()}; engine with {workers} workers.",
        "",
        "Ratios are on the primary objective (sum of priority x shifts). Penalty is the soft-quota penalty, "
        "greedy's in parentheses. First valid s counts from the call of solve(); the round's generation, "
        "checks, scoring and preparation are listed below each table. Peak MB is the run's whole process. "
        "Violations are the independent validator's findings on the written schedule (greedy row: hard "
        "rules its schedule breaks).",
        "",
    ]
    return "\n".join([*head, *(line for size in sizes for line in table(results, size))])


def _baseline_line(size: str, seed: int, base: Baseline | Failure) -> str:
    label = f"[{size} seed {seed} greedy]"
    if isinstance(base, Failure):
        return f"{label} baseline failed: {base.error}"
    return (
        f"{label} objective {number(base.greedy_objective)} in {base.greedy_seconds:.2f} s, penalty "
        f"{number(base.greedy_penalty)}, {base.greedy_errors} broken rules; LP bound {number(base.lp_bound)} "
        f"in {base.lp_seconds:.2f} s"
    )


def _progress_line(size: str, seed: int, limit: float, run: EngineRun | Failure, base: Baseline | Failure) -> str:
    label = f"[{size} seed {seed} {limit:g} s]"
    if isinstance(run, Failure):
        return f"{label} failed: {run.error}"
    greedy_objective = None if isinstance(base, Failure) else base.greedy_objective
    bound = None if isinstance(base, Failure) else base.lp_bound
    return (
        f"{label} objective {number(run.objective)} ({ratio(run.objective, greedy_objective)} x greedy, "
        f"{ratio(run.objective, bound)} x LP), penalty {number(run.penalty)}, first valid "
        f"{number(run.first_valid_seconds, 2)} s, peak {run.peak_mb:,.0f} MB, {len(run.violations)} violations"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.engine", description="Greedy alone against the engine at several time limits."
    )
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=["medium", "facility", "huge"])
    parser.add_argument("--limits", nargs="+", type=float, default=[10.0, 60.0, 300.0], help="seconds")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS-engine.md"))
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(arguments)
    command = shlex.join(["python", "-m", "benchmarks.engine", *arguments])

    results: list[RoundResult] = []
    healthy = True
    for size in args.sizes:
        for seed in args.seeds:
            base = in_fresh_process(baseline, size, seed)
            print(_baseline_line(size, seed, base), file=sys.stderr, flush=True)
            result = RoundResult(size, seed, base)
            results.append(result)
            for limit in args.limits:
                settings = Settings(time_limit=limit, workers=args.workers, seed=seed)
                run = in_fresh_process(engine_run, size, seed, settings)
                result.runs[limit] = run
                print(_progress_line(size, seed, limit, run, base), file=sys.stderr, flush=True)
                if isinstance(run, Failure):
                    healthy = False
                elif run.violations:
                    healthy = False
                    print("\n".join(run.violations[:20]), file=sys.stderr, flush=True)
                # Rewritten after every run, so that a long matrix stopped midway keeps what it measured.
                args.output.write_text(report(command, args.workers, results, args.sizes), encoding="utf-8")
    text = report(command, args.workers, results, args.sizes)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
