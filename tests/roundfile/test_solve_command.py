"""`beamtime solve` states its gap beside its status, and its time limit covers the whole command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures import EXAMPLE_ROUND, ROUNDS
from fixtures.generate import dumps, generate_round
from scheduler.cli import main
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import ScheduleFile
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import AFTER_SEARCH_CPU_PER_REQUEST, exclusions, priorities, solve_round
from scheduler.roundfile.validate import validate_schedule
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


def _stage_records(stderr: str) -> dict[str, dict[str, float]]:
    """The command's debug records of its stages (`BEAMTIME_LOG_FORMAT=json`), by event."""
    records = (json.loads(line) for line in stderr.splitlines() if line.startswith("{"))
    return {record["event"]: record for record in records if record["event"].endswith(" stages")}


@pytest.fixture
def medium_round(tmp_path: Path) -> Path:
    path = tmp_path / "medium.json"
    path.write_text(dumps(generate_round("medium", 3)))
    return path


def test_the_search_is_given_the_limit_less_the_stages_before_it_and_the_time_kept_back_after_it(
    medium_round: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEAMTIME_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("BEAMTIME_LOG_FORMAT", "json")
    assert main(["solve", str(medium_round), "-o", str(tmp_path / "out.json"), "--time-limit", "4", "--quiet"]) == 0
    stages = _stage_records(capsys.readouterr().err)
    command, solve = stages["command stages"], stages["solve stages"]
    before_search = command["before_s"] + command["reading_s"] + solve["preparing_s"]
    assert solve["search_given_s"] == pytest.approx(4 - before_search - solve["kept_back_s"], abs=0.1)
    assert solve["slowdown"] >= 1
    assert solve["kept_back_s"] == pytest.approx(
        AFTER_SEARCH_CPU_PER_REQUEST * solve["requests"] * solve["slowdown"], rel=1e-6
    )
    after_search = command["reading_s"] + command["solving_s"] + command["writing_s"]
    assert command["whole_s"] == pytest.approx(command["before_s"] + after_search, abs=0.1)


def test_a_limit_used_up_before_the_search_still_gives_the_first_valid_schedule(medium_round: Path) -> None:
    round_file = load_round(medium_round)
    phases: list[str] = []
    settings, three_seconds_ago = Settings(time_limit=2.0), time.monotonic() - 3
    _, schedule = solve_round(
        round_file, settings, lambda progress: phases.append(progress.phase), started=three_seconds_ago
    )
    assert phases[0] == "greedy" and phases[-1] == "done"
    assert not [phase for phase in phases if phase.startswith("neighbourhood")]
    scores = score_round(round_file)
    assert validate_schedule(round_file, schedule, priorities(scores), set(exclusions(scores))) == []
    assert schedule.allocations and schedule.status == "feasible"


def test_the_command_as_its_own_process_writes_everything_before_it_ends_at_once(tmp_path: Path) -> None:
    output = tmp_path / "schedule.json"
    command = [sys.executable, "-m", "scheduler.cli", "solve", str(ROUNDS / "small.json"), "-o", str(output)]
    finished = subprocess.run([*command, "--time-limit", "2"], capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    schedule = ScheduleFile.model_validate_json(output.read_text())
    assert f"\nstatus {schedule.status}; objective" in finished.stderr
    assert "\nunallocated: " in finished.stderr and finished.stderr.endswith("\n")


def test_the_service_commands_are_still_listed_beside_the_file_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    listed = capsys.readouterr().out
    for command in ("solve", "resolve", "validate", "score", "report", "schema", "user", "worker", "serve"):
        assert re.search(rf"^\s+{command}\s", listed, re.MULTILINE), command


def test_a_solve_with_no_time_for_the_search_writes_the_greedy_s_schedule_without_loading_the_optimisers(
    tmp_path: Path,
) -> None:
    output = tmp_path / "schedule.json"
    script = (
        "import sys\n"
        "from scheduler.cli import main\n"
        f"code = main(['solve', {str(ROUNDS / 'small.json')!r}, '-o', {str(output)!r}, '--time-limit', '0.01'])\n"
        "optimisers = ('ortools.sat.python.cp_model', 'scipy.optimize', 'pandas')\n"
        "print(code, *sorted(name for name in optimisers if name in sys.modules))"
    )
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert finished.stdout.split() == ["0"], finished.stderr
    schedule = ScheduleFile.model_validate_json(output.read_text())
    assert schedule.allocations and schedule.status == "feasible" and schedule.bound is None
    round_file = load_round(ROUNDS / "small.json")
    scores = score_round(round_file)
    assert validate_schedule(round_file, schedule, priorities(scores), set(exclusions(scores))) == []
