"""A reader sees explanations that name other proposals only when they read every one of them in confidence."""

from __future__ import annotations

from scheduler.roundfile.contract import ScheduleFile
from scheduler.schedules.confidential import PUBLIC_DETAIL, withhold

LOST = "all 2 blocks in its dates rank higher; lowest 4.2 (B-1-a) vs its 3.1"


def _schedule() -> ScheduleFile:
    allocation = {"instrument": "X-1", "start": "2027-01-01T00:00:00Z", "end": "2027-01-02T00:00:00Z", "shifts": 3}
    return ScheduleFile.model_validate(
        {
            "format": "beamtime-schedule/1",
            "round": "R",
            "status": "feasible",
            "objective": 1.0,
            "bound": None,
            "solve_seconds": 1.0,
            "allocations": [
                {**allocation, "proposal": "A-1", "request": "A-1-a", "start_shift": 0, "priority": 5.0},
                {**allocation, "proposal": "B-1", "request": "B-1-a", "start_shift": 3, "priority": 4.2},
            ],
            "unallocated": [
                {
                    "proposal": "C-1",
                    "request": "C-1-a",
                    "reason": "capacity",
                    "detail": LOST,
                    "competitors": [{"request": "B-1-a", "priority": 4.2}, {"request": "A-1-a", "priority": 5.0}],
                    "held": [{"request": "B-1-a", "stays_because": "link"}],
                },
                {"proposal": "B-1", "request": "B-1-b", "reason": "window", "detail": "no gap"},
            ],
            "quotas": [],
        }
    )


def test_a_reader_of_every_competitor_sees_the_whole_explanation() -> None:
    shown = withhold(_schedule(), {"A-1", "B-1", "C-1"})
    entry = shown.unallocated[0]
    assert (entry.detail, [c.request for c in entry.competitors or []]) == (LOST, ["B-1-a", "A-1-a"])
    assert [block.request for block in entry.held or []] == ["B-1-a"]


def test_a_competitor_the_reader_may_not_read_turns_the_explanation_into_plain_words() -> None:
    shown = withhold(_schedule(), {"A-1", "C-1"})
    (entry,) = shown.unallocated  # B-1's own unallocated request is not shown at all
    assert (entry.reason, entry.detail, entry.competitors, entry.held) == (
        "capacity",
        PUBLIC_DETAIL["capacity"],
        None,
        None,
    )
    assert [a.priority for a in shown.allocations] == [5.0, 0.0]
