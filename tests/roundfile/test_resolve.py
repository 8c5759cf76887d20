"""Re-solving a published schedule after changes: valid, frozen slots untouched, changes reported."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from fixtures import ROUNDS
from fixtures.changes import apply_changes
from scheduler.cli import main
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import ScheduleFile
from scheduler.roundfile.resolve import changes_between, resolve_round
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import exclusions, priorities, solve_round
from scheduler.roundfile.validate import validate_schedule
from solver.problem import Settings

SMALL = ROUNDS / "small.json"
QUICK = Settings(time_limit=4, workers=2, subsolve_seconds=0.5)


def test_a_repair_keeps_the_frozen_horizon_and_honours_a_new_window() -> None:
    document = json.loads(SMALL.read_text())
    original = load_round(document)
    _, published = solve_round(original, QUICK)
    now = original.round.start + timedelta(days=3)
    changed = apply_changes(document, seed=7, after=now, cancel_share=0.1, rapid_share=0.1, new_windows=0)
    # An instrument breaks inside the frozen horizon, under a published slot.
    remaining = {r["id"] for p in changed["proposals"] for r in p["requests"]}
    victim = next(
        a
        for a in published.allocations
        if a.request in remaining and now + timedelta(days=1) < a.start < now + timedelta(days=10)
    )
    for facility in changed["facilities"]:
        for instrument in facility["instruments"]:
            if instrument["id"] == victim.instrument:
                instrument["maintenance"].append(
                    {"start": victim.start.isoformat(), "end": victim.end.isoformat(), "kind": "maintenance"}
                )
    round_file = load_round(changed)

    repair, _, repaired = resolve_round(round_file, published, now, 14, QUICK)

    scores = score_round(repair.round_file)
    assert validate_schedule(repair.round_file, repaired, priorities(scores), set(exclusions(scores))) == []
    frozen_until = now + timedelta(days=14)
    still_requested = {r.id for p in round_file.proposals for r in p.requests}
    after = {a.request: a for a in repaired.allocations}
    for allocation in published.allocations:
        if allocation.request == victim.request or allocation.request not in still_requested:
            continue
        if allocation.start < frozen_until:
            kept = after[allocation.request]
            assert (kept.instrument, kept.start_shift, kept.shifts) == (
                allocation.instrument,
                allocation.start_shift,
                allocation.shifts,
            )
    assert victim.request in repair.disrupted
    moved = after.get(victim.request)
    assert moved is None or (moved.start >= now and (moved.end <= victim.start or moved.start >= victim.end))
    for allocation in repaired.allocations:
        if allocation.request not in {a.request for a in published.allocations}:
            assert allocation.start >= now, "nothing new starts in the past"
    assert repaired.changes == changes_between(published, repaired)
    before = {a.request: (a.instrument, a.start_shift, a.shifts) for a in published.allocations}
    current = {a.request: (a.instrument, a.start_shift, a.shifts) for a in repaired.allocations}
    differing = {r for r in before.keys() | current.keys() if before.get(r) != current.get(r)}
    changes = repaired.changes
    assert {c.request for c in changes.moved + changes.resized + changes.dropped + changes.added} == differing


def test_resolve_command_writes_the_repaired_schedule(tmp_path: Path) -> None:
    schedule = tmp_path / "published.json"
    assert main(["solve", str(SMALL), "-o", str(schedule), "--time-limit", "3", "--quiet"]) == 0
    start = load_round(SMALL).round.start
    repaired = tmp_path / "repaired.json"
    now = (start + timedelta(days=2)).isoformat()
    assert (
        main(
            [
                "resolve",
                str(SMALL),
                "--previous",
                str(schedule),
                "--now",
                now,
                "-o",
                str(repaired),
                "--time-limit",
                "3",
                "--quiet",
            ]
        )
        == 0
    )
    result = ScheduleFile.model_validate_json(repaired.read_text())
    assert result.changes is not None
    published = ScheduleFile.model_validate_json(schedule.read_text())
    unchanged_round_moves = [
        c
        for c in result.changes.moved
        if c.before and c.before.start < datetime.fromisoformat(now) + timedelta(days=14)
    ]
    assert unchanged_round_moves == []
    assert len(result.allocations) >= len(published.allocations) - len(result.changes.dropped)


def test_resolve_refuses_a_time_without_offset(tmp_path: Path) -> None:
    schedule = tmp_path / "published.json"
    assert main(["solve", str(SMALL), "-o", str(schedule), "--time-limit", "1", "--quiet"]) == 0
    with pytest.raises(SystemExit) as refused:
        main(["resolve", str(SMALL), "--previous", str(schedule), "--now", "2027-03-01T08:00", "-o", "x.json"])
    assert refused.value.code == 2
