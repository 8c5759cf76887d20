"""`beamtime solve` states its gap beside its status, and its time limit covers the whole command."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from fixtures import EXAMPLE_ROUND, ROUNDS
from scheduler.cli import main
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import ScheduleFile
from scheduler.roundfile.solving import solve_round
from solver.problem import Settings


def test_progress_and_summary_lines_show_the_gap_with_the_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "schedule.json"
    assert main(["solve", str(ROUNDS / "small.json"), "-o", str(output), "--time-limit", "2"]) == 0
    schedule = ScheduleFile.model_validate_json(output.read_text())
    lines = capsys.readouterr().err.splitlines()
    done = next(line for line in lines if line.endswith("(done)"))
    assert re.search(r"bound [\d,.]+  gap \d+\.\d\d%", done)
    assert schedule.bound is not None
    gap = (schedule.bound - schedule.objective) / schedule.bound
    status = next(line for line in lines if line.startswith("status "))
    assert status.startswith(f"status {schedule.status}; objective {schedule.objective:,.1f}")
    assert f"gap {gap:.2%}" in status


def test_reading_and_checking_before_the_solve_count_against_the_time_limit() -> None:
    round_file = load_round(EXAMPLE_ROUND)
    _, schedule = solve_round(round_file, Settings(time_limit=3.0), started=time.monotonic() - 4.0)
    assert schedule.solve_seconds >= 4.0
    assert schedule.allocations
