"""Whether `beamtime solve`'s time limit holds for the whole command, and where its time goes.

Each run is the real command in a fresh process, as a user starts it, with its stages logged
at debug level as JSON (`scheduler.cli`, `scheduler.roundfile.solving`): start-up (imports),
reading and checking the file, preparing (setting aside, scoring, building the problem), the
search (greedy, bound, neighbourhoods, polish, then explaining), the schedule file, and
writing. The first valid schedule is the greedy's progress line, timed here as it arrives;
explaining is the time from the search's last progress line (`done`) to its return. Wall
time is from spawning the process to its end; peak memory and CPU are the process's own
(`wait4`). The written schedule is then checked with `beamtime validate`. Runs go one after
another, and each row carries the load average it started at: the machine is shared.

    python -m benchmarks.command --sizes facility --shapes default quota-tight --limits 5 20 --seeds 11
    python -m benchmarks.command --sizes huge --limits 60 --seeds 11

`--code` runs the command of other checkouts too (e.g. `git archive` of the commit before a change),
alternating run by run, so that before and after meet the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fixtures.generate import SHAPES, SIZES, dumps, generate_round

PROGRESS = re.compile(r"^\[\s*[\d.]+s\] objective .*\((?P<phase>[^)]+)\)$")
LOGGED_STAGES = ("command stages", "solve stages")
KB = 1024


@dataclass
class Run:
    """One `beamtime solve`, its stages in wall seconds (CPU seconds beside them where logged)."""

    size: str
    shape: str
    seed: int
    limit: float
    load: float
    code: str = ""
    """The checkout whose command ran, when several are compared."""
    wall: float = 0.0
    cpu: float = 0.0
    peak_mb: float = 0.0
    first_valid: float | None = None
    explaining: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    valid: bool = False

    def row(self) -> str:
        stage = self.stages.get
        cells = [
            f"{self.size} {self.shape}" + (f" ({self.code})" if self.code else ""),
            str(self.seed),
            f"{self.limit:g}",
            f"{self.load:.1f}",
            f"{self.wall:.2f}",
            f"{self.wall - self.limit:+.2f}",
            _seconds(self.first_valid),
            _seconds(stage("before_s")),
            _with_cpu(stage("reading_s"), stage("reading_cpu")),
            _with_cpu(stage("preparing_s"), stage("preparing_cpu")),
            f"{stage('slowdown', 0.0):.1f} / {stage('kept_back_s', 0.0):.2f} / {stage('search_given_s', 0.0):.2f}",
            _with_cpu(stage("search_s"), stage("search_cpu")),
            _seconds(self.explaining),
            _with_cpu(stage("schedule_file_s"), stage("schedule_file_cpu")),
            _with_cpu(stage("writing_s"), stage("writing_cpu")),
            _seconds(None if "whole_s" not in self.stages else self.wall - self.stages["whole_s"]),
            f"{self.cpu:.1f}",
            f"{self.peak_mb:.0f}",
            "yes" if self.valid else "**no**",
        ]
        return "| " + " | ".join(cells) + " |"


HEADER = (
    "| round | seed | limit s | load | wall s | over | first valid | start-up | reading | preparing "
    "| slowdown / kept back / search given | search | explaining | schedule file | writing | exit "
    "| CPU s | peak MB | valid |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _with_cpu(wall: float | None, cpu: float | None) -> str:
    return f"{_seconds(wall)} ({_seconds(cpu)})"


def solve_once(round_path: Path, output: Path, run: Run, workers: int, code: Path | None = None) -> Run:
    """`beamtime solve` on `round_path` (the command of the checkout at `code`, by default this
    one), timed from outside and by its own stage records."""
    command = [sys.executable, "-m", "scheduler.cli", "solve", str(round_path), "-o", str(output)]
    command += ["--time-limit", f"{run.limit:g}", "--workers", str(workers), "--seed", str(run.seed)]
    environment = {**os.environ, "BEAMTIME_LOG_LEVEL": "DEBUG", "BEAMTIME_LOG_FORMAT": "json"}
    spawned = time.monotonic()
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=environment, cwd=code
    )
    assert process.stderr is not None
    done_at: float | None = None
    for line in process.stderr:
        arrived = time.monotonic() - spawned
        if (progress := PROGRESS.match(line.strip())) is not None:
            phase = progress["phase"]
            if phase == "greedy" and run.first_valid is None:
                run.first_valid = arrived
            if phase == "done":
                done_at = arrived
        elif line.startswith("{") and (record := json.loads(line)).get("event") in LOGGED_STAGES:
            run.stages.update({key: value for key, value in record.items() if isinstance(value, int | float)})
            if record["event"] == "solve stages" and done_at is not None:
                run.explaining = arrived - record["schedule_file_s"] - done_at
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    run.wall = time.monotonic() - spawned
    run.cpu = usage.ru_utime + usage.ru_stime
    run.peak_mb = usage.ru_maxrss / KB
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} ended with {process.returncode}")
    checked = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "validate", str(round_path), str(output)],
        capture_output=True,
        check=False,
    )
    run.valid = checked.returncode == 0
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=["facility"])
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=["default"])
    parser.add_argument("--limits", nargs="+", type=float, default=[5.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[11])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each setting, one after another")
    parser.add_argument(
        "--code", nargs="+", type=Path, default=[None], help="checkouts whose command runs, alternating (default: this)"
    )
    arguments = parser.parse_args()
    print(" ".join(["python -m benchmarks.command", *sys.argv[1:]]))
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="beamtime-command-") as scratch:
        folder = Path(scratch)
        for size in arguments.sizes:
            for shape in arguments.shapes:
                for seed in arguments.seeds:
                    round_path = folder / f"{size}-{shape}-{seed}.json"
                    round_path.write_text(dumps(generate_round(size, seed, shape=shape)))
                    for limit in arguments.limits:
                        for _ in range(arguments.repeat):
                            for code in arguments.code:
                                label = "" if code is None else code.name
                                run = Run(size, shape, seed, limit, os.getloadavg()[0], label)
                                output = folder / "schedule.json"
                                print(solve_once(round_path, output, run, arguments.workers, code).row())
                                sys.stdout.flush()


if __name__ == "__main__":
    main()
