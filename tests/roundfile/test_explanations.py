"""The schedule file's explanations on a small hand-made round: competitors, held blocks, rank fairness.

The round has one instrument, XAFS, with 12 shifts of 8 h and no windows. Priorities are given, so
scoring leaves them as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scheduler.cli import main
from scheduler.roundfile.contract import Allocation, RankFairness, RoundFile, ScheduleFile
from scheduler.roundfile.grid import Grid
from scheduler.roundfile.measure import measure
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import solve_round
from scheduler.roundfile.validate import validate_schedule
from solver.explain import TIMED_OUT
from solver.problem import Settings

QUICK = Settings(time_limit=2.0, workers=1, seed=1, subsolve_seconds=0.2)


def _proposal(proposal_id: str, priority: float, shifts: int, country: str = "RU") -> dict[str, Any]:
    person = {"name": proposal_id, "institution": "Institute", "country": country}
    request = {"id": f"{proposal_id}-a", "instruments": ["XAFS"], "shifts": shifts, "min_shifts": shifts}
    return {
        "id": proposal_id,
        "title": proposal_id,
        "type": "standard",
        "pi": person,
        "team": [],
        "priority": priority,
        "requests": [request],
        "links": [],
    }


def _round(*proposals: dict[str, Any], days: int = 4, quotas: list[dict[str, Any]] | None = None) -> RoundFile:
    return RoundFile.model_validate(
        {
            "format": "beamtime-round/1",
            "round": {
                "id": "R",
                "name": "R",
                "start": "2027-02-01T08:00:00+03:00",
                "end": f"2027-02-{1 + days:02d}T08:00:00+03:00",
                "shift_hours": 8,
            },
            "quotas": quotas or [],
            "facilities": [
                {
                    "id": "SKIF",
                    "name": "SKIF",
                    "country": "RU",
                    "timezone": "Asia/Novosibirsk",
                    "maintenance": [],
                    "instruments": [{"id": "XAFS", "name": "XAFS", "techniques": ["xafs"], "maintenance": []}],
                }
            ],
            "proposals": list(proposals),
        }
    )


def test_a_linked_pair_held_back_by_a_country_cap_names_the_country_its_share_and_headroom() -> None:
    # RU holds 9 of 19 shifts against a maximum of 50 % (DE and FR 5 each): one more RU shift keeps the
    # cap, the pair's two break it. Each of its requests fits alone; neither blames the other.
    pair = _proposal("PAIR", 2.0, 1)
    pair["requests"].append({"id": "PAIR-b", "instruments": ["XAFS"], "shifts": 1, "min_shifts": 1})
    pair["links"] = [{"type": "all_or_nothing", "requests": ["PAIR-a", "PAIR-b"]}]
    cap = {"id": "country-max", "category": {"each_country": True}, "max_share": 0.5}
    round_file = _round(
        _proposal("DE", 3.0, 5, "DE"),
        _proposal("FR", 3.0, 5, "FR"),
        _proposal("RU", 3.0, 9),
        pair,
        days=10,
        quotas=[cap],
    )
    schedule = measure(
        round_file, score_round(round_file), _allocations(round_file, [("DE", 0, 5), ("FR", 5, 5), ("RU", 10, 9)])
    )
    entries = {u.request: u for u in schedule.unallocated}
    for request, partner in (("PAIR-a", "PAIR-b"), ("PAIR-b", "PAIR-a")):
        assert entries[request].reason == "quota"
        assert entries[request].detail == (
            f"it fits alone, but it is linked all-or-nothing with {partner} and together they do not: they would "
            "break hard quota country-max[RU] (country RU): 47.4% of 19 shifts against its maximum 50%; "
            "headroom 1.0 shifts for a request counted like this one; adding 2 shifts (+2.0 counted to it) takes it "
            "to 52.4%"
        )


def _allocations(round_file: RoundFile, blocks: list[tuple[str, int, int]]) -> list[Allocation]:
    grid = Grid(round_file.round)
    priority = {p.id: p.priority or 0.0 for p in round_file.proposals}
    return [
        Allocation(
            proposal=proposal,
            request=f"{proposal}-a",
            instrument="XAFS",
            start_shift=start,
            shifts=shifts,
            start=grid.time(start),
            end=grid.time(start + shifts),
            priority=priority[proposal],
        )
        for proposal, start, shifts in blocks
    ]


def test_rank_fairness_counts_the_planted_lower_ranked_blocks_and_why_each_stays() -> None:
    # XAFS: HIGH 0-3, LOW-SHORT 4-7 (priority 1, 4 shifts), LONG 8-11 (priority 2, 4 shifts).
    # WANT-4 (priority 5, 4 shifts) fits by removing either lower block, and either swap pays: both stay
    # only for the search's limit. WANT-2 (priority 1.5, 2 shifts) ranks above LOW-SHORT alone, whose
    # 4 x 1.0 are worth more than its 2 x 1.5.
    round_file = _round(
        _proposal("HIGH", 9.0, 4),
        _proposal("LOW-SHORT", 1.0, 4),
        _proposal("LONG", 2.0, 4),
        _proposal("WANT-4", 5.0, 4),
        _proposal("WANT-2", 1.5, 2),
    )
    schedule = measure(
        round_file,
        score_round(round_file),
        _allocations(round_file, [("HIGH", 0, 4), ("LOW-SHORT", 4, 4), ("LONG", 8, 4)]),
    )
    assert schedule.status == "feasible"
    assert schedule.rank_fairness == RankFairness(
        requests=2, blocks=3, stays_because={"search_limit": 2, "objective": 1}
    )
    entries = {u.request: u for u in schedule.unallocated}
    want = entries["WANT-4-a"]
    assert want.reason == TIMED_OUT != "capacity"
    assert [(c.request, c.priority) for c in want.competitors or []] == [
        ("LOW-SHORT-a", 1.0),
        ("LONG-a", 2.0),
        ("HIGH-a", 9.0),
    ]
    assert [(h.request, h.stays_because) for h in want.held or []] == [
        ("LOW-SHORT-a", "search_limit"),
        ("LONG-a", "search_limit"),
    ]
    cheap = entries["WANT-2-a"]
    assert cheap.reason == "capacity"
    assert [(h.request, h.stays_because) for h in cheap.held or []] == [("LOW-SHORT-a", "objective")]


def test_a_solved_schedule_lists_competitors_wherever_any_exist_and_passes_the_referee() -> None:
    round_file = _round(
        _proposal("A", 9.0, 6),
        _proposal("B", 8.0, 6),
        _proposal("C", 1.0, 6),
        _proposal("D", 0.5, 3),
    )
    _, schedule = solve_round(round_file, QUICK)
    assert sorted(a.request for a in schedule.allocations) == ["A-a", "B-a"]
    assert validate_schedule(round_file, schedule, {p.id: p.priority or 0.0 for p in round_file.proposals}) == []
    for entry in schedule.unallocated:
        assert entry.reason == "capacity"
        assert [c.request for c in entry.competitors or []] == ["B-a", "A-a"]
        assert entry.detail is not None and entry.detail.startswith("all 2 blocks in its dates on XAFS rank higher")
    assert schedule.rank_fairness == RankFairness(requests=0, blocks=0, stays_because={})


def test_the_referee_refuses_a_competitor_that_holds_no_allocation() -> None:
    round_file = _round(_proposal("A", 9.0, 12), _proposal("B", 1.0, 6))
    _, schedule = solve_round(round_file, QUICK)
    priorities = {p.id: p.priority or 0.0 for p in round_file.proposals}
    assert validate_schedule(round_file, schedule, priorities) == []
    entry = schedule.unallocated[0]
    assert entry.competitors is not None
    entry.competitors[0] = entry.competitors[0].model_copy(update={"request": "B-a"})
    messages = [v.message for v in validate_schedule(round_file, schedule, priorities)]
    assert messages == ["competitor B-a has no allocation"]


def test_the_cli_writes_competitors_and_rank_fairness(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    round_path, output = tmp_path / "round.json", tmp_path / "schedule.json"
    round_file = _round(_proposal("A", 9.0, 8), _proposal("B", 1.0, 4), _proposal("C", 3.0, 6))
    round_path.write_text(round_file.model_dump_json())
    assert main(["solve", str(round_path), "-o", str(output), "--time-limit", "2", "--quiet"]) == 0
    schedule = ScheduleFile.model_validate(json.loads(output.read_text()))
    entry = next(u for u in schedule.unallocated if u.request == "C-a")
    assert [c.request for c in entry.competitors or []] == ["B-a", "A-a"]
    # Removing B (4 shifts) leaves 4 of the 6 shifts C needs: no single lower block makes room.
    assert entry.held is None
    assert schedule.rank_fairness == RankFairness(requests=0, blocks=0, stays_because={})
    assert main(["validate", str(round_path), str(output)]) == 0
    capsys.readouterr()
