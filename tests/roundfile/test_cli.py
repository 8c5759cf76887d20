"""`beamtime` as a coordinator runs it: real files in, exit codes and messages out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures import EXAMPLE_ROUND
from scheduler.cli import main
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import ScheduleFile
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import exclusions, priorities
from scheduler.roundfile.validate import validate_schedule

EXAMPLE = EXAMPLE_ROUND


def _solve(tmp_path: Path, round_path: Path, *extra: str) -> ScheduleFile:
    output = tmp_path / "schedule.json"
    assert main(["solve", str(round_path), "-o", str(output), "--time-limit", "3", "--quiet", *extra]) == 0
    return ScheduleFile.model_validate_json(output.read_text())


def test_solve_writes_a_schedule_that_keeps_every_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schedule = _solve(tmp_path, EXAMPLE)
    round_file = load_round(EXAMPLE)
    scores = score_round(round_file)
    assert validate_schedule(round_file, schedule, priorities(scores), set(exclusions(scores))) == []
    every_request = {r.id for p in round_file.proposals for r in p.requests}
    listed = [a.request for a in schedule.allocations] + [u.request for u in schedule.unallocated]
    assert sorted(listed) == sorted(every_request)
    reasons = {u.request: u.reason for u in schedule.unallocated}
    assert reasons["P-005-a"] == "below_cutoff"
    assert schedule.bound is not None and schedule.bound >= schedule.objective
    assert {q.id for q in schedule.quotas} == {q.id for q in round_file.quotas}
    summary = capsys.readouterr().err
    assert "quota foreign-min" in summary and "below_cutoff 1" in summary


def test_validate_accepts_the_engine_output_and_names_a_broken_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _solve(tmp_path, EXAMPLE)
    schedule_path = tmp_path / "schedule.json"
    assert main(["validate", str(EXAMPLE), str(schedule_path)]) == 0
    document = json.loads(schedule_path.read_text())
    first = document["allocations"][0]
    second = dict(first, request=document["allocations"][1]["request"])
    document["allocations"][1] = second
    schedule_path.write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["validate", str(EXAMPLE), str(schedule_path)]) == 1
    assert "rule" in capsys.readouterr().out


def test_bad_input_lists_every_problem_with_its_path_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(EXAMPLE.read_text())
    document["proposals"][0]["requests"][0]["min_shifts"] = 20
    document["proposals"][1]["requests"][0]["instruments"] = ["NOWHERE"]
    document["quotas"][0]["min_share"] = 1.5
    document["facilities"][0]["colour"] = "blue"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    assert main(["solve", str(bad), "-o", str(tmp_path / "out.json")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for path in (
        "$.proposals[0].requests[0].min_shifts",
        "$.proposals[1].requests[0].instruments[0]",
        "$.quotas[0].min_share",
        "$.facilities[0].colour",
    ):
        assert path in err
    assert not (tmp_path / "out.json").exists()


def test_a_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", str(tmp_path / "none.json"), "-o", str(tmp_path / "out.json")]) == 2
    assert "none.json" in capsys.readouterr().err


def test_solve_scores_rounds_without_priorities(tmp_path: Path) -> None:
    schedule = _solve(tmp_path, EXAMPLE)
    round_file = load_round(EXAMPLE)
    by_proposal = {score.proposal: score for score in score_round(round_file)}
    for allocation in schedule.allocations:
        assert allocation.priority == pytest.approx(by_proposal[allocation.proposal].priority)


def test_schema_and_score_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "-o", str(tmp_path)]) == 0
    round_schema = json.loads((tmp_path / "round.schema.json").read_text())
    assert round_schema["additionalProperties"] is False
    assert "proposals" in round_schema["properties"]
    assert json.loads((tmp_path / "schedule.schema.json").read_text())["title"] == "ScheduleFile"
    scored = tmp_path / "scored.json"
    assert main(["score", str(EXAMPLE), "-o", str(scored)]) == 0
    table = capsys.readouterr().out
    assert "P-005" in table
    priorities_filled = {p.id: p.priority for p in load_round(scored).proposals}
    assert priorities_filled["P-001"] is not None and priorities_filled["P-005"] is None


def test_colliding_pins_give_an_infeasible_schedule_that_names_them(tmp_path: Path) -> None:
    document = json.loads(EXAMPLE.read_text())
    document["previous_schedule"] = [
        {"request": "P-001-a", "instrument": "SKIF-1-1", "start_shift": 12, "shifts": 6, "pinned": True},
        {"request": "P-004-a", "instrument": "SKIF-1-1", "start_shift": 15, "shifts": 6, "pinned": True},
    ]
    collide = tmp_path / "collide.json"
    collide.write_text(json.dumps(document))
    schedule = _solve(tmp_path, collide)
    assert schedule.status == "infeasible"
    assert schedule.allocations == []
    notes = " ".join(schedule.notes)
    assert "P-001-a on SKIF-1-1 at shift 12" in notes and "P-004-a on SKIF-1-1 at shift 15" in notes
    assert len(schedule.unallocated) == sum(len(p["requests"]) for p in document["proposals"])
