"""`beamtime`: solve, validate, score and describe round files from the command line.

Exit status: 0 done, 1 a schedule breaks a rule (validate), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from scheduler.checks import InputError, load_round, load_schedule
from scheduler.contract import RoundFile, ScheduleFile
from scheduler.schedule import summary
from scheduler.scoring import render_table, score_round, scored_round
from scheduler.solving import exclusions, priorities, solve_round
from scheduler.validate import format_violations, validate_schedule
from solver.problem import Settings
from solver.solution import Progress

BAD_INPUT = 2
RULE_BROKEN = 1
PROGRESS_INTERVAL = 1.0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except InputError as error:
        print(f"beamtime: {_input_name(args)} is not valid:\n{error}", file=sys.stderr)
        return BAD_INPUT
    except OSError as error:
        print(f"beamtime: {error}", file=sys.stderr)
        return BAD_INPUT


def _input_name(args: argparse.Namespace) -> str:
    return str(getattr(args, "round", "input"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="beamtime", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    solve = commands.add_parser("solve", help="allocate a round file's instrument time")
    solve.add_argument("round", type=Path, metavar="ROUND.json")
    solve.add_argument("-o", "--output", type=Path, required=True, metavar="SCHEDULE.json")
    solve.add_argument("--time-limit", type=float, default=60.0, metavar="S", help="seconds (default 60)")
    solve.add_argument("--workers", type=int, default=2, metavar="N", help="CP-SAT workers (default 2)")
    solve.add_argument("--seed", type=int, default=0, metavar="K")
    solve.add_argument("--quiet", action="store_true", help="no progress lines")
    solve.set_defaults(run=_solve)

    validate = commands.add_parser("validate", help="check a schedule file against every rule of its round")
    validate.add_argument("round", type=Path, metavar="ROUND.json")
    validate.add_argument("schedule", type=Path, metavar="SCHEDULE.json")
    validate.set_defaults(run=_validate)

    score = commands.add_parser("score", help="rank proposals and fill in missing priorities")
    score.add_argument("round", type=Path, metavar="ROUND.json")
    score.add_argument("-o", "--output", type=Path, metavar="SCORED.json", help="write the scored round file")
    score.set_defaults(run=_score)

    schema = commands.add_parser("schema", help="write the JSON Schemas of the round and schedule files")
    schema.add_argument("-o", "--output", type=Path, default=Path(), metavar="DIR")
    schema.set_defaults(run=_schema)
    return parser


def _solve(args: argparse.Namespace) -> int:
    round_file = load_round(args.round)
    settings = Settings(time_limit=args.time_limit, workers=args.workers, seed=args.seed)
    report = None if args.quiet else ProgressPrinter()
    prepared, schedule = solve_round(round_file, settings, report)
    _write(args.output, schedule)
    print(summary(prepared, schedule), file=sys.stderr)
    return 0


class ProgressPrinter:
    """Progress lines on stderr, at most one a second, so a long solve can be watched."""

    def __init__(self) -> None:
        self._last = -PROGRESS_INTERVAL

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL and progress.phase != "greedy":
            return
        self._last = now
        bound = "" if progress.bound is None else f"  bound {progress.bound:,.1f}"
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
