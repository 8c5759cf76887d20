"""A month of changes on a published facility-size schedule, then one repair.

Measures what a coordinator cares about after a nightly re-solve: how long the
repair took, how many published slots the changes did not touch were moved
anyway, and whether freed time was refilled (utilisation against a solve of the
changed round from scratch).

    python -m benchmarks.resolve --size facility --publish-limit 60 --repair-limit 30 --seed 1
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import timedelta
from pathlib import Path

from fixtures.changes import apply_changes
from fixtures.generate import generate_round
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import RoundFile, ScheduleFile
from scheduler.roundfile.grid import Grid
from scheduler.roundfile.resolve import resolve_round
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import exclusions, priorities, solve_round
from scheduler.roundfile.validate import validate_schedule
from solver.problem import Settings


def utilisation(round_file: RoundFile, schedule: ScheduleFile) -> float:
    """Allocated shifts over unblocked shifts of every instrument."""
    grid = Grid(round_file.round)
    unblocked = 0
    for facility in round_file.facilities:
        for instrument in facility.instruments:
            blocked: set[int] = set()
            for window in [*facility.maintenance, *instrument.maintenance]:
                span = grid.covering(window.start, window.end)
                if span:
                    blocked.update(range(*span))
            unblocked += grid.count - len(blocked)
    return sum(a.shifts for a in schedule.allocations) / unblocked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="facility")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--publish-limit", type=float, default=60.0)
    parser.add_argument("--repair-limit", type=float, default=30.0)
    parser.add_argument("--days", type=float, default=30.0, help="how far into the round the repair happens")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)

    document = generate_round(args.size, args.seed)
    original = load_round(document)
    _, published = solve_round(original, Settings(time_limit=args.publish_limit, workers=args.workers, seed=args.seed))
    now = original.round.start + timedelta(days=args.days)
    changed = load_round(apply_changes(document, args.seed, after=now))

    began = time.monotonic()
    repair, _, repaired = resolve_round(
        changed, published, now, settings=Settings(time_limit=args.repair_limit, workers=args.workers, seed=args.seed)
    )
    repair_seconds = time.monotonic() - began
    scores = score_round(repair.round_file)
    violations = validate_schedule(repair.round_file, repaired, priorities(scores), set(exclusions(scores)))

    remaining = {r.id for p in changed.proposals for r in p.requests}
    untouched = [a for a in published.allocations if a.request in remaining and a.request not in repair.disrupted]
    after = {a.request: a for a in repaired.allocations}
    moved = [
        a
        for a in untouched
        if (kept := after.get(a.request)) is None
        or (kept.instrument, kept.start_shift, kept.shifts) != (a.instrument, a.start_shift, a.shifts)
    ]
    _, scratch = solve_round(changed, Settings(time_limit=args.publish_limit, workers=args.workers, seed=args.seed))
    assert repaired.changes is not None
    result = {
        "command": "python -m benchmarks.resolve " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "size": args.size,
        "published_allocations": len(published.allocations),
        "cancelled_proposals": len({p.id for p in original.proposals} - {p.id for p in changed.proposals}),
        "rapid_access_added": sum(p.id.startswith("RA-") for p in changed.proposals),
        "disrupted_by_new_windows": len(repair.disrupted),
        "repair_seconds": round(repair_seconds, 1),
        "violations": len(violations),
        "untouched_allocations": len(untouched),
        "untouched_moved_or_dropped": len(moved),
        "untouched_moved_share": round(len(moved) / max(1, len(untouched)), 4),
        "changes": {kind: len(getattr(repaired.changes, kind)) for kind in ("moved", "resized", "dropped", "added")},
        "utilisation_published": round(utilisation(original, published), 4),
        "utilisation_repaired": round(utilisation(changed, repaired), 4),
        "utilisation_from_scratch": round(utilisation(changed, scratch), 4),
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
