"""How long the page's drag check (`check_moves`) and a saved hand edit (`move`) take on the facility round.

Seeds the bundled facility round as the browser tests do (`benchmarks.dashboard.seed_facility`: a fresh
SQLite database, the round solved and imported with that schedule published), then times, in a fresh
process per run, on the published version:

- a move: one allocation one shift later on its instrument; a swap: two neighbours on one instrument
  exchanged, the later first (as the page swaps them); of each, the first that keeps every rule;
- the first check of the edit in the process (for the move, the process's first: the round read and
  scored, nothing kept yet), then `--repeats` checks (what a drag sends every 300 ms), then `--repeats`
  saves of the same edit, each rolled back.

`--code` runs the same in other checkouts too (e.g. `git archive` of the commit before a change, this
script copied in), alternating run by run, so that before and after meet the same load. Each row carries
the load average it started at: the machine is shared.

    python -m benchmarks.edits --runs 2 --repeats 5 --code /tmp/before
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scheduler.db.engine import create_engine, session_maker
from scheduler.roundfile.contract import PreviousAllocation
from scheduler.schedules.service import MoveRejectedError, Moves, check_moves, move

if TYPE_CHECKING:
    from benchmarks.dashboard import Seeded

ROOT = Path(__file__).resolve().parents[1]
WEEK_SHIFTS = 21
KINDS = ("move", "swap")
HEADER = "| checkout | load | edit | keeps every rule | first check ms | check ms (median, max) | save ms (median) |"


def _candidates(previous: list[PreviousAllocation]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Edits as the page sends them, each named by its kind: a move one shift later inside a week, and a swap of
    two neighbours on one instrument inside a week (the later first)."""
    placed = sorted(previous, key=lambda a: (a.instrument, a.start_shift))
    for allocation in placed:
        if (allocation.start_shift + 1) // WEEK_SHIFTS == (allocation.start_shift + allocation.shifts) // WEEK_SHIFTS:
            yield "move", [_move(allocation, allocation.start_shift + 1)]
    for first, second in itertools.pairwise(placed):
        end = second.start_shift + second.shifts
        if first.instrument == second.instrument and first.start_shift // WEEK_SHIFTS == (end - 1) // WEEK_SHIFTS:
            yield "swap", [_move(second, first.start_shift), _move(first, end - first.shifts)]


async def _edits(seeded: Seeded) -> dict[str, list[dict[str, Any]]]:
    """The first edit of each kind that keeps every rule, so that a save writes a draft."""
    engine = create_engine(seeded.database_url)
    chosen: dict[str, list[dict[str, Any]]] = {}
    try:
        async with session_maker(engine)() as session:
            for kind, moves in _candidates(seeded.round_file.previous_schedule or []):
                if kind in chosen:
                    continue
                changes = Moves.model_validate({"moves": moves})
                if (await check_moves(session, seeded.published_version, changes)).keeps_every_rule:
                    chosen[kind] = moves
                if len(chosen) == len(KINDS):
                    break
    finally:
        await engine.dispose()
    return chosen


def _move(allocation: PreviousAllocation, start: int) -> dict[str, Any]:
    return {
        "request": allocation.request,
        "instrument": allocation.instrument,
        "start_shift": start,
        "shifts": allocation.shifts,
    }


async def _timed(database_url: str, version_id: int, edits: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Per edit: the process's first check, the next checks and the saves (rolled back), in seconds."""
    engine = create_engine(database_url)
    sessions = session_maker(engine)
    timed: dict[str, Any] = {}
    try:
        for kind, moves in edits.items():
            changes = Moves.model_validate({"moves": moves})
            checks, saves = [], []
            keeps = False
            for _ in range(repeats + 1):
                async with sessions() as session:
                    started = time.perf_counter()
                    keeps = (await check_moves(session, version_id, changes)).keeps_every_rule
                    checks.append(time.perf_counter() - started)
            for _ in range(repeats):
                async with sessions() as session:
                    started = time.perf_counter()
                    with contextlib.suppress(MoveRejectedError):
                        await move(session, version_id, changes, user_id=None)
                    saves.append(time.perf_counter() - started)
                    await session.rollback()
            timed[kind] = {"first": checks[0], "check": checks[1:], "save": saves, "keeps_every_rule": keeps}
    finally:
        await engine.dispose()
    return timed


def _worker(arguments: argparse.Namespace) -> None:
    edits = json.loads(arguments.edits)
    timed = asyncio.run(_timed(arguments.database_url, arguments.version, edits, arguments.repeats))
    print(json.dumps(timed))


def _copied_into(code: Path) -> Path:
    """`code` with this script in it (a checkout of an older commit may predate it)."""
    target = code / "benchmarks" / "edits.py"
    if code.resolve() != ROOT and not target.exists():
        shutil.copy(Path(__file__), target)
    return code


def _run(code: Path, database_url: str, version_id: int, edits: dict[str, Any], repeats: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.edits", "--worker", "--database-url", database_url]
    command += ["--version", str(version_id), "--edits", json.dumps(edits), "--repeats", str(repeats)]
    environment = os.environ | {"PYTHONPATH": str(code)}
    done = subprocess.run(command, cwd=code, env=environment, capture_output=True, text=True, check=True)
    timed: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return timed


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="processes per checkout, alternating")
    parser.add_argument("--repeats", type=int, default=5, help="checks and saves per edit after the first check")
    parser.add_argument("--code", type=Path, nargs="*", default=[], help="other checkouts to time the same way")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--version", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--edits", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        _worker(arguments)
        return
    from benchmarks.dashboard import seed_facility

    codes = [ROOT, *(_copied_into(code) for code in arguments.code)]
    with tempfile.TemporaryDirectory(prefix="edits-") as folder:
        seeded = seed_facility(Path(folder))
        edits = asyncio.run(_edits(seeded))
        print(
            "| checkout | load | edit | keeps every rule | first check ms | check ms (median, max) | save ms (median) |"
        )
        print("|---|---|---|---|---|---|---|")
        for _, code in itertools.product(range(arguments.runs), codes):
            load = os.getloadavg()[0]
            timed = _run(code, seeded.database_url, seeded.published_version, edits, arguments.repeats)
            for kind, figures in timed.items():
                checks, saves = figures["check"], figures["save"]
                print(
                    f"| {code} | {load:.1f} | {kind} | {figures['keeps_every_rule']} | {_ms(figures['first'])} "
                    f"| {_ms(statistics.median(checks))}, {_ms(max(checks))} | {_ms(statistics.median(saves))} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
