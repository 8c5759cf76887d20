"""The family benchmark's command: settings map onto solver Settings fields, and a tiny run reports every shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.family import best_known, main, parse_settings


def test_settings_are_typed_by_the_settings_fields() -> None:
    assert parse_settings(["subsolve_seconds=2.5"]) == {"subsolve_seconds": 2.5}
    assert parse_settings([]) == {}


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("nonsense=1", "unknown setting 'nonsense'"),
        ("subsolve_seconds=fast", "setting subsolve_seconds='fast'"),
        ("time_limit=5", "set by the command itself"),
        ("subsolve_seconds", "is not key=value"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(pair: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_settings([pair])


def test_the_command_refuses_a_bad_setting_before_running_anything(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--settings", "workers=8"])
    assert exit_.value.code == 2
    assert "'workers' is set by the command itself" in capsys.readouterr().err


def test_a_short_run_reports_each_shape_and_keeps_every_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = tmp_path / "family.json"
    arguments = ["--sizes", "small", "--seeds", "0", "--shapes", "easy", "link-heavy", "--time-limit", "1"]
    assert main([*arguments, "--json", str(dump)]) == 0
    report = capsys.readouterr().out
    rows = [line for line in report.splitlines() if line.startswith(("| easy |", "| link-heavy |"))]
    assert len(rows) == 2 and all("| 0 |" in row for row in rows)  # no validator violations
    runs = json.loads(dump.read_text(encoding="utf-8"))["runs"]
    assert [(run["shape"], run["size"], run["seed"]) for run in runs] == [
        ("easy", "small", 0),
        ("link-heavy", "small", 0),
    ]
    for run in runs:
        assert run["engine"]["objective"] >= run["baseline"]["greedy_objective"] > 0
        assert run["engine"]["objective"] <= run["baseline"]["lp_bound"] * (1 + 1e-6)
        assert run["engine"]["whole_seconds"] >= run["engine"]["wall_seconds"] > 0

    assert best_known([], [dump]) == {
        (run["shape"], run["size"], run["seed"]): run["engine"]["objective"] for run in runs
    }

    assert main(["--baseline-only", *arguments]) == 0
    calibration = capsys.readouterr().out
    assert "greedy / LP bound" in calibration and "| easy | small | 1 |" in calibration
