"""`beamtime`: solve, validate, score, report on and describe round files from the command line.

Exit status: 0 done, 1 a schedule breaks a rule (validate), 2 bad input.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import structlog
from pydantic import BaseModel

from scheduler.logs import configure_logging
from scheduler.reports.cli import add_report_command
from scheduler.roundfile.checks import InputError, load_round, load_schedule
from scheduler.roundfile.contract import RoundFile, ScheduleFile
from scheduler.roundfile.resolve import DEFAULT_FROZEN_DAYS, resolve_round
from scheduler.roundfile.schedule import summary
from scheduler.roundfile.scoring import render_table, score_round, scored_round
from scheduler.roundfile.solving import Stopwatch, exclusions, priorities, solve_round
from scheduler.roundfile.validate import format_violations, validate_schedule
from scheduler.settings import LogSettings
from solver.problem import Settings
from solver.solution import Progress

BAD_INPUT = 2
RULE_BROKEN = 1
PROGRESS_INTERVAL = 1.0
FILE_COMMANDS = frozenset({"solve", "resolve", "validate", "score", "report", "schema"})
"""Commands on files alone: their runs skip importing the database and web stack (a CPU second of a
time-limited solve)."""
ALLOCATIONS_PER_COLLECTION = 50_000
"""Python's 700 has the cycle collector walk a round's hundreds of thousands of objects again and again: 1.0-1.7
of a facility solve's 5.4-6.1 CPU seconds, where cycles are few (BENCHMARKS.md)."""


def settle_collector() -> None:
    """For a long-running process once it has started: the objects it holds so far leave the cycle collector's view,
    so a full collection no longer pauses everything in flight, and the collector runs less often
    (`ALLOCATIONS_PER_COLLECTION`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(ALLOCATIONS_PER_COLLECTION)


log = structlog.get_logger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """The command in `argv`, or this process's own command line (whose time limits then count from
    the process's start: `_run_and_exit`)."""
    started = _process_started() if argv is None else time.monotonic()
    arguments = sys.argv[1:] if argv is None else list(argv)
    command = arguments[0] if arguments else None
    args = _parser(command).parse_args(arguments)
    args.started = started
    configure_logging(LogSettings())
    if argv is None and command in FILE_COMMANDS:
        _run_and_exit(args)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.run(args))
    except InputError as error:
        print(f"beamtime: {_input_name(args)} is not valid:\n{error}", file=sys.stderr)
        return BAD_INPUT
    except OSError as error:
        print(f"beamtime: {error}", file=sys.stderr)
        return BAD_INPUT


def _run_and_exit(args: argparse.Namespace) -> NoReturn:
    """A file command as this process's own: the cycle collector runs less often (`ALLOCATIONS_PER_COLLECTION`),
    and the process ends without the interpreter's teardown of OR-Tools, SciPy and pandas (0.25 CPU seconds,
    over a second on a loaded machine, after a time-limited solve has written its schedule)."""
    gc.set_threshold(ALLOCATIONS_PER_COLLECTION)
    status = _run(args)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _input_name(args: argparse.Namespace) -> str:
    return str(getattr(args, "round", "input"))


def _parser(command: str | None) -> argparse.ArgumentParser:
    """Every command, or only the file commands when `command` is one of them."""
    parser = argparse.ArgumentParser(prog="beamtime", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    solve = commands.add_parser("solve", help="allocate a round file's instrument time")
    solve.add_argument("round", type=Path, metavar="ROUND.json")
    solve.add_argument("-o", "--output", type=Path, required=True, metavar="SCHEDULE.json")
    _add_engine_options(solve)
    solve.set_defaults(run=_solve)

    resolve = commands.add_parser("resolve", help="repair a published schedule after changes to its round")
    resolve.add_argument("round", type=Path, metavar="ROUND.json")
    resolve.add_argument("--previous", type=Path, required=True, metavar="SCHEDULE.json")
    resolve.add_argument("--now", type=_aware_time, required=True, metavar="TIME", help="ISO 8601 with an offset")
    resolve.add_argument("--frozen-days", type=float, default=DEFAULT_FROZEN_DAYS, metavar="D")
    resolve.add_argument("-o", "--output", type=Path, required=True, metavar="NEW.json")
    _add_engine_options(resolve)
    resolve.set_defaults(run=_resolve)

    validate = commands.add_parser("validate", help="check a schedule file against every rule of its round")
    validate.add_argument("round", type=Path, metavar="ROUND.json")
    validate.add_argument("schedule", type=Path, metavar="SCHEDULE.json")
    validate.set_defaults(run=_validate)

    score = commands.add_parser("score", help="rank proposals and fill in missing priorities")
    score.add_argument("round", type=Path, metavar="ROUND.json")
    score.add_argument("-o", "--output", type=Path, metavar="SCORED.json", help="write the scored round file")
    score.set_defaults(run=_score)

    add_report_command(commands)

    schema = commands.add_parser("schema", help="write the JSON Schemas of the round and schedule files")
    schema.add_argument("-o", "--output", type=Path, default=Path(), metavar="DIR")
    schema.set_defaults(run=_schema)

    if command not in FILE_COMMANDS:
        _add_service_commands(commands)
    return parser


def _add_service_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Accounts, migrations, the worker, the nightly scheduler and the web server: imported here, as they load
    the database and web stack."""
    from scheduler.accounts.cli import add_user_command
    from scheduler.runtime import add_process_commands
    from scheduler.serve import add_serve_command

    add_user_command(commands)
    add_process_commands(commands)
    add_serve_command(commands)


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--time-limit", type=float, default=60.0, metavar="S", help="seconds (default 60)")
    parser.add_argument("--workers", type=int, default=2, metavar="N", help="CP-SAT workers (default 2)")
    parser.add_argument("--seed", type=int, default=0, metavar="K")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def _engine_settings(args: argparse.Namespace) -> Settings:
    return Settings(time_limit=args.time_limit, workers=args.workers, seed=args.seed)


def _aware_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs an offset, e.g. 2027-03-01T08:00:00+03:00")
    return moment


def _solve(args: argparse.Namespace) -> int:
    stopwatch = Stopwatch()
    round_file = load_round(args.round)
    reading = stopwatch.lap()
    progress = None if args.quiet else ProgressPrinter()
    prepared, schedule = solve_round(round_file, _engine_settings(args), progress, started=args.started)
    solving = stopwatch.lap()
    _write(args.output, schedule)
    print(summary(prepared, schedule), file=sys.stderr)
    log.debug(
        "command stages",
        before_s=round(stopwatch.wall - args.started - reading.wall - solving.wall, 3),
        **reading.logged("reading"),
        **solving.logged("solving"),
        **stopwatch.lap().logged("writing"),
        whole_s=round(time.monotonic() - args.started, 3),
    )
    return 0


def _resolve(args: argparse.Namespace) -> int:
    round_file = load_round(args.round)
    previous = load_schedule(args.previous)
    progress = None if args.quiet else ProgressPrinter()
    _, prepared, schedule = resolve_round(
        round_file, previous, args.now, args.frozen_days, _engine_settings(args), progress, started=args.started
    )
    _write(args.output, schedule)
    print(summary(prepared, schedule), file=sys.stderr)
    return 0


def _process_started() -> float:
    """When this process started, on the `time.monotonic()` clock; now where the system does not say
    (Linux does, in /proc)."""
    try:
        since_boot = float(Path("/proc/uptime").read_text().split()[0])
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return time.monotonic()
    return time.monotonic() - max(0.0, since_boot - ticks / os.sysconf("SC_CLK_TCK"))


class ProgressPrinter:
    """Progress lines on stderr, at most one a second, so a long solve can be watched."""

    def __init__(self) -> None:
        self._last = -PROGRESS_INTERVAL

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL and progress.phase not in ("greedy", "done"):
            return
        self._last = now
        bound = ""
        if progress.bound is not None:
            bound = f"  bound {progress.bound:,.1f}"
            if progress.bound > 0:
                bound += f"  gap {max(0.0, progress.bound - progress.objective) / progress.bound:.2%}"
        print(
            f"[{progress.elapsed:7.1f}s] objective {progress.objective:,.1f}{bound}  ({progress.phase})",
            file=sys.stderr,
        )


def _validate(args: argparse.Namespace) -> int:
    round_file = load_round(args.round)
    schedule = load_schedule(args.schedule)
    scores = score_round(round_file)
    violations = validate_schedule(round_file, schedule, priorities(scores), set(exclusions(scores)))
    if violations:
        print(format_violations(violations))
        print(f"{len(violations)} violation(s)", file=sys.stderr)
        return RULE_BROKEN
    print(f"{args.schedule}: valid ({len(schedule.allocations)} allocations)")
    return 0


def _score(args: argparse.Namespace) -> int:
    round_file = load_round(args.round)
    scores = score_round(round_file)
    print(render_table(scores))
    if args.output:
        _write(args.output, scored_round(round_file, scores))
    return 0


def _schema(args: argparse.Namespace) -> int:
    args.output.mkdir(parents=True, exist_ok=True)
    for name, model in (("round", RoundFile), ("schedule", ScheduleFile)):
        path = args.output / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2) + "\n")
        print(path)
    return 0


def _write(path: Path, document: BaseModel) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document.model_dump_json(indent=1, exclude_none=False) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
