"""Scored priorities are steep enough that the engine never trades a better proposal for worse ones."""

from __future__ import annotations

import pytest

from scheduler.roundfile.checks import load_round
from scheduler.roundfile.solving import solve_round
from solver.problem import Settings

GRADES = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 1.2, 2.2, 3.2, 1.7]
LENGTHS = [6, 3, 9, 3, 6, 3, 9, 6, 3, 6]


def _round() -> dict[str, object]:
    proposals = [
        {
            "id": f"P-{n:02d}",
            "title": f"Proposal {n}",
            "type": "standard",
            "pi": {"name": f"PI {n}", "country": "RU"},
            "reviews": [{"reviewer": "R1", "grade": grade}, {"reviewer": "R2", "grade": grade}],
            "requests": [{"id": f"P-{n:02d}-a", "instruments": ["BL-1"], "shifts": length}],
        }
        for n, (grade, length) in enumerate(zip(GRADES, LENGTHS, strict=True))
    ]
    return {
        "format": "beamtime-round/1",
        "round": {
            "id": "R",
            "name": "one week",
            "start": "2027-03-01T08:00:00+03:00",
            "end": "2027-03-08T08:00:00+03:00",
        },
        "facilities": [
            {
                "id": "F",
                "name": "F",
                "country": "RU",
                "timezone": "Europe/Moscow",
                "maintenance": [
                    {"start": "2027-03-03T08:00:00+03:00", "end": "2027-03-03T16:00:00+03:00", "kind": "maintenance"}
                ],
                "instruments": [{"id": "BL-1", "name": "BL-1", "changeover_shifts": 1}],
            }
        ],
        "scoring": {"grade_best": 1.0, "grade_worst": 5.0, "aggregate": "mean", "min_reviews": 2},
        "proposals": proposals,
    }


def test_no_better_proposal_is_left_out_for_a_worse_one_on_the_same_instrument() -> None:
    prepared, schedule = solve_round(load_round(_round()), Settings(time_limit=10, workers=2))
    grade = {f"P-{n:02d}": g for n, g in enumerate(GRADES)}
    placed = {a.proposal: a for a in schedule.allocations}
    left_out = [u.proposal for u in schedule.unallocated]
    assert placed and left_out, "the round must be oversubscribed for this test to mean anything"
    for loser in left_out:
        worse_placed = [p for p in placed if grade[p] > grade[loser]]
        # Taking every worse proposal out must not free a place for the better one: otherwise
        # the engine traded it. With them out, the better one must still find no gap.
        better_only = [a for p, a in placed.items() if p not in worse_placed]
        length = LENGTHS[int(loser[2:])]
        assert not _gap_exists(better_only, length, prepared.problem.horizon, {(16, 17)}, changeover=1), (
            f"{loser} (grade {grade[loser]}) was left out while worse {worse_placed} got time"
        )
    assert schedule.objective == pytest.approx(sum(a.priority * a.shifts for a in schedule.allocations))


def _gap_exists(
    allocations: list[object], length: int, horizon: int, blocked: set[tuple[int, int]], changeover: int
) -> bool:
    busy = [False] * horizon
    for allocation in allocations:
        start, shifts = allocation.start_shift, allocation.shifts  # type: ignore[attr-defined]
        for shift in range(max(0, start - changeover), min(horizon, start + shifts + changeover)):
            busy[shift] = True
    for start, end in blocked:
        for shift in range(start, end):
            busy[shift] = True
    run = 0
    for taken in busy:
        run = 0 if taken else run + 1
        if run >= length:
            return True
    return False
