"""The engine on the family of round shapes (issue 11): greedy, the LP bound and the engine per shape, size and seed.

Each run (a round's greedy and LP bound, then its engine solve) happens in a fresh
spawned process, as in `benchmarks.engine`. `--settings key=value ...` sets fields of
`solver.problem.Settings`, so that variants of the engine are compared on the same
rounds; `--json` keeps every run, and `--best-known` reads such files back so that each
round's engine objective is set against the best any of those runs found.

    python -m benchmarks.family --time-limit 20 --sizes medium --seeds 0 1 2 --json family-medium.json
    python -m benchmarks.family --settings subsolve_seconds=3 adaptive=false --json variant.json \\
        --best-known family-medium.json
    python -m benchmarks.family --baseline-only --sizes medium facility --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

from pydantic import TypeAdapter, ValidationError

from benchmarks.engine import Baseline, EngineRun, Failure, baseline, engine_run, in_fresh_process, machine, ratio
from fixtures.generate import SHAPES, SIZES
from solver.problem import Settings

RUN_FIELDS = ("time_limit", "workers", "seed")
"""Settings the command sets itself: --time-limit, --workers, and the round's seed."""


@dataclass
class FamilyRun:
    shape: str
    size: str
    seed: int
    baseline: Baseline | Failure
    engine: EngineRun | Failure | None = None
    """None with --baseline-only."""

    @property
    def key(self) -> tuple[str, str, int]:
        return self.shape, self.size, self.seed


def parse_settings(pairs: Sequence[str]) -> dict[str, Any]:
    """`key=value` pairs as Settings fields, each value validated against the field's type."""
    hints = get_type_hints(Settings)
    chosen: dict[str, Any] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals:
            raise ValueError(f"setting {pair!r} is not key=value")
        if key in RUN_FIELDS:
            raise ValueError(f"setting {key!r} is set by the command itself (--time-limit, --workers, --seeds)")
        if key not in hints:
            options = ", ".join(name for name in hints if name not in RUN_FIELDS)
            raise ValueError(f"unknown setting {key!r}; Settings has {options}")
        try:
            chosen[key] = TypeAdapter(hints[key]).validate_strings(text)
        except ValidationError as error:
            reasons = "; ".join(detail["msg"] for detail in error.errors())
            raise ValueError(f"setting {key}={text!r}: {reasons}") from None
    return chosen


def best_known(runs: Iterable[FamilyRun], files: Sequence[Path]) -> dict[tuple[str, str, int], float]:
    """The best engine objective per (shape, size, seed) over this benchmark's runs and earlier JSON dumps."""
    best: dict[tuple[str, str, int], float] = {}

    def offer(key: tuple[str, str, int], objective: float) -> None:
        best[key] = max(objective, best.get(key, objective))

    for run in runs:
        if isinstance(run.engine, EngineRun) and not run.engine.violations:
            offer(run.key, run.engine.objective)
    for file in files:
        for record in json.loads(file.read_text(encoding="utf-8"))["runs"]:
            engine = record["engine"]
            if engine is not None and "objective" in engine and not engine["violations"]:
                offer((record["shape"], record["size"], record["seed"]), engine["objective"])
    return best


def _over_seeds(values: Sequence[float], digits: int = 3, *, lowest: bool = True) -> str:
    """Mean over seeds; with more than one, the (min–max), or the (max) alone when `lowest` is False."""
    if not values:
        return "–"
    text = f"{statistics.mean(values):.{digits}f}"
    if len(values) > 1:
        low = f"{min(values):.{digits}f}–" if lowest else ""
        text += f" ({low}{max(values):.{digits}f})"
    return text


def _seconds(values: Sequence[float]) -> str:
    return _over_seeds(values, 1, lowest=False)


def _ratios(
    runs: Sequence[FamilyRun],
    numerator: Callable[[FamilyRun], float | None],
    denominator: Callable[[FamilyRun], float | None],
) -> list[float]:
    values = []
    for run in runs:
        top, bottom = numerator(run), denominator(run)
        if top is not None and bottom:
            values.append(top / bottom)
    return values


def _greedy(run: FamilyRun) -> float | None:
    return run.baseline.greedy_objective if isinstance(run.baseline, Baseline) else None


def _bound(run: FamilyRun) -> float | None:
    return run.baseline.lp_bound if isinstance(run.baseline, Baseline) else None


def _engine(run: FamilyRun) -> float | None:
    return run.engine.objective if isinstance(run.engine, EngineRun) else None


def _engine_runs(runs: Sequence[FamilyRun]) -> list[EngineRun]:
    return [run.engine for run in runs if isinstance(run.engine, EngineRun)]


def gap(run: EngineRun) -> float | None:
    """The schedule's own gap: (its bound - objective) / bound."""
    return None if not run.engine_bound else (run.engine_bound - run.objective) / run.engine_bound


def _groups(runs: Sequence[FamilyRun]) -> dict[tuple[str, str], list[FamilyRun]]:
    groups: dict[tuple[str, str], list[FamilyRun]] = {}
    for run in runs:
        groups.setdefault((run.shape, run.size), []).append(run)
    return groups


def calibration_table(runs: Sequence[FamilyRun]) -> list[str]:
    lines = [
        "| shape | size | seeds | requests | greedy / LP bound | greedy s | LP s |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for (shape, size), group in _groups(runs).items():
        bases = [run.baseline for run in group if isinstance(run.baseline, Baseline)]
        requests = "–" if not bases else f"{statistics.mean(base.requests for base in bases):,.0f}"
        lines.append(
            f"| {shape} | {size} | {len(group)} | {requests} | {_over_seeds(_ratios(group, _greedy, _bound))} "
            f"| {_seconds([base.greedy_seconds for base in bases])} | {_seconds([base.lp_seconds for base in bases])} |"
        )
    return lines


def engine_table(runs: Sequence[FamilyRun], best: dict[tuple[str, str, int], float]) -> list[str]:
    lines = [
        "| shape | size | seeds | greedy / bound | engine / greedy | engine / bound | engine / best known | status "
        "| gap | solve s | whole s | CPU s | neighbourhoods | peak MB | violations |",
        "|---|---|---:|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (shape, size), group in _groups(runs).items():
        engines = _engine_runs(group)
        statuses = Counter(engine.status for engine in engines)
        statuses.update("failed" for run in group if isinstance(run.engine, Failure))
        gaps = [value for value in map(gap, engines) if value is not None]
        lines.append(
            f"| {shape} | {size} | {len(group)} | {_over_seeds(_ratios(group, _greedy, _bound))} "
            f"| {_over_seeds(_ratios(group, _engine, _greedy))} | {_over_seeds(_ratios(group, _engine, _bound))} "
            f"| {_over_seeds(_ratios(group, _engine, lambda run: best.get(run.key)))} "
            f"| {', '.join(f'{count} {status}' for status, count in sorted(statuses.items()))} "
            f"| {_over_seeds(gaps)} | {_seconds([engine.wall_seconds for engine in engines])} "
            f"| {_seconds([engine.whole_seconds for engine in engines])} "
            f"| {_seconds([engine.cpu_seconds for engine in engines])} "
            f"| {_seconds([engine.stats.get('neighbourhoods', 0) for engine in engines])} "
            f"| {max((engine.peak_mb for engine in engines), default=0):,.0f} "
            f"| {sum(len(engine.violations) for engine in engines)} |"
        )
    return lines


def failures(runs: Sequence[FamilyRun]) -> list[str]:
    return [
        f"- {run.shape} {run.size} seed {run.seed}: {part} failed: {outcome.error}"
        for run in runs
        for part, outcome in (("baseline", run.baseline), ("engine", run.engine))
        if isinstance(outcome, Failure)
    ]


def report(
    command: str,
    settings: Settings,
    load: tuple[str, str],
    runs: Sequence[FamilyRun],
    best: dict[tuple[str, str, int], float],
) -> str:
    engine_runs = any(run.engine is not None for run in runs)
    head = [
        "# The engine on the family of round shapes",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine()}; load average {load[0]} at the start, {load[1]} at the end.",
        "",
    ]
    if engine_runs:
        head += [
            f"Engine settings: `{settings}`.",
            "",
            "Mean over seeds (min–max). Ratios are on the primary objective (sum of priority x shifts); the bound is "
            "the LP bound (`solver.bound.lp_bound`), best known the best engine objective of this run and of the "
            "--best-known files. Gap is the schedule's own (its bound, which may be tighter than the LP bound). "
            "Solve s is solve() alone, whole s from the round file's text to the schedule file (mean, max); CPU s "
            "the solve's CPU time (under workers x solve s when other work shared the machine); neighbourhoods the "
            "sub-models solved; peak MB the largest engine process.",
            "",
            *engine_table(runs, best),
        ]
    else:
        head += ["Greedy and the LP bound alone; mean over seeds (min–max), seconds as mean (max).", ""]
        head += calibration_table(runs)
    return "\n".join([*head, "", *failures(runs), ""])


def dump(command: str, settings: Settings, load: tuple[str, str], runs: Sequence[FamilyRun]) -> str:
    def record(run: FamilyRun) -> dict[str, Any]:
        engine = None if run.engine is None else dataclasses.asdict(run.engine)
        if isinstance(run.engine, EngineRun):
            assert engine is not None
            engine["gap"] = gap(run.engine)
        return {
            "shape": run.shape,
            "size": run.size,
            "seed": run.seed,
            "baseline": dataclasses.asdict(run.baseline),
            "engine": engine,
        }

    document = {
        "command": command,
        "machine": machine(),
        "load_average": {"start": load[0], "end": load[1]},
        "settings": dataclasses.asdict(settings),
        "runs": [record(run) for run in runs],
    }
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def _load_average() -> str:
    return ", ".join(f"{average:.2f}" for average in os.getloadavg())


def _progress_line(run: FamilyRun) -> str:
    label = f"[{run.shape} {run.size} seed {run.seed}]"
    if isinstance(run.baseline, Failure):
        return f"{label} baseline failed: {run.baseline.error}"
    line = f"{label} greedy/bound {ratio(run.baseline.greedy_objective, run.baseline.lp_bound)}"
    if isinstance(run.engine, Failure):
        return f"{line}; engine failed: {run.engine.error}"
    if isinstance(run.engine, EngineRun):
        engine = run.engine
        line += (
            f"; engine/greedy {ratio(engine.objective, run.baseline.greedy_objective)}, engine/bound "
            f"{ratio(engine.objective, run.baseline.lp_bound)}, {engine.status}, whole {engine.whole_seconds:.1f} s, "
            f"peak {engine.peak_mb:,.0f} MB, {len(engine.violations)} violations"
        )
    return line


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.family", description="Greedy, the LP bound and the engine on every round shape."
    )
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=["medium", "facility"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--time-limit", type=float, default=20.0, metavar="S", help="seconds (default 20)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--settings", nargs="+", default=[], metavar="KEY=VALUE", help="fields of solver.problem.Settings"
    )
    parser.add_argument("--baseline-only", action="store_true", help="greedy and the LP bound alone, no engine")
    parser.add_argument("--best-known", nargs="+", type=Path, default=[], metavar="JSON", help="earlier --json dumps")
    parser.add_argument("--json", type=Path, help="every run, for later comparison")
    parser.add_argument("--output", type=Path, help="the Markdown report (default: standard output only)")
    args = parser.parse_args(argv)
    try:
        args.engine_settings = parse_settings(args.settings)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = _arguments(arguments)
    command = shlex.join(["python", "-m", "benchmarks.family", *arguments])
    template = Settings(time_limit=args.time_limit, workers=args.workers, **args.engine_settings)
    start_load = _load_average()
    runs: list[FamilyRun] = []
    healthy = True

    def write(end_load: str) -> str:
        load = (start_load, end_load)
        text = report(command, template, load, runs, best_known(runs, args.best_known))
        if args.output is not None:
            args.output.write_text(text, encoding="utf-8")
        if args.json is not None:
            args.json.write_text(dump(command, template, load, runs), encoding="utf-8")
        return text

    for shape in args.shapes:
        for size in args.sizes:
            for seed in args.seeds:
                run = FamilyRun(shape, size, seed, in_fresh_process(baseline, size, seed, shape))
                if not args.baseline_only:
                    settings = dataclasses.replace(template, seed=seed)
                    run.engine = in_fresh_process(engine_run, size, seed, settings, shape)
                runs.append(run)
                print(_progress_line(run), file=sys.stderr, flush=True)
                healthy = healthy and not failures([run])
                if isinstance(run.engine, EngineRun) and run.engine.violations:
                    healthy = False
                    print("\n".join(run.engine.violations[:20]), file=sys.stderr, flush=True)
                write(_load_average())  # after every run, so that a long matrix stopped midway keeps what it measured
    print(write(_load_average()))
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
