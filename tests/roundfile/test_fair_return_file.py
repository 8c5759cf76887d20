"""Fair return in round files: its references are checked, and the schedule file reports it exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fixtures import EXAMPLE_ROUND
from scheduler.roundfile.checks import check_round
from scheduler.roundfile.contract import RoundFile
from scheduler.roundfile.solving import solve_round
from solver.problem import Settings

QUICK = Settings(time_limit=2.0, workers=2, seed=0, subsolve_seconds=0.2)


def _round(fair_return: dict[str, Any]) -> RoundFile:
    document = json.loads(EXAMPLE_ROUND.read_text())
    document["fair_return"] = fair_return
    return RoundFile.model_validate(document)


BRICS_AT_SKIF = {"id": "brics", "category": {"country_group": "BRICS"}, "share": 0.4, "scope": {"facilities": ["SKIF"]}}


def test_references_a_round_lacks_are_named_with_their_path() -> None:
    round_file = _round(
        {
            "targets": [
                BRICS_AT_SKIF,
                {"id": "brics", "category": {"country_group": "G7"}, "share": 0.1, "scope": {"instruments": ["X-1"]}},
            ],
            "history": [
                {"round": "2026-II", "target": "cis", "shifts_total": 100, "shifts": 10},
                {"round": "2026-I", "target": "brics", "shifts_total": 100, "shifts": 10},
                {"round": "2026-I", "target": "brics", "shifts_total": 90, "shifts": 9},
            ],
        }
    )
    problems = {(problem.path, problem.message) for problem in check_round(round_file)}
    assert problems == {
        ("$.fair_return.targets[1].id", "duplicate fair-return target id 'brics'"),
        ("$.fair_return.targets[1].category.country_group", "unknown country group 'G7'"),
        ("$.fair_return.targets[1].scope.instruments[0]", "unknown instrument 'X-1'"),
        ("$.fair_return.history[0].target", "unknown fair-return target 'cis'"),
        ("$.fair_return.history[2]", "a second history entry for round '2026-I' and target 'brics'"),
    }


def test_a_target_part_larger_than_its_total_is_refused() -> None:
    with pytest.raises(ValueError, match="shifts 11 is more than shifts_total 10"):
        _round(
            {
                "targets": [BRICS_AT_SKIF],
                "history": [{"round": "r", "target": "brics", "shifts_total": 10, "shifts": 11}],
            }
        )


def test_the_schedule_reports_each_target_from_its_history_and_the_allocations() -> None:
    history = [{"round": "2026-I", "target": "brics", "shifts_total": 300, "shifts": 30}]
    round_file = _round({"targets": [BRICS_AT_SKIF], "history": history, "attribution": "pi"})
    assert check_round(round_file) == []
    _, schedule = solve_round(round_file, QUICK)
    brics = set(round_file.country_groups["BRICS"])
    pi_country = {proposal.id: proposal.pi.country for proposal in round_file.proposals}
    skif = {instrument.id for instrument in round_file.facilities[0].instruments}
    at_skif = [allocation for allocation in schedule.allocations if allocation.instrument in skif]
    total = sum(allocation.shifts for allocation in at_skif)
    part = sum(allocation.shifts for allocation in at_skif if pi_country[allocation.proposal] in brics)
    (report,) = schedule.fair_return or []
    assert report.id == "brics"
    assert report.history_share == pytest.approx(0.1)
    assert report.round_share == pytest.approx(part / total)
    assert report.cumulative_share == pytest.approx((30 + part) / (300 + total))
    assert report.deficit == pytest.approx(max(0.0, 0.4 * (300 + total) - (30 + part)))


def test_a_round_without_fair_return_reports_none() -> None:
    round_file = RoundFile.model_validate(json.loads(EXAMPLE_ROUND.read_text()))
    _, schedule = solve_round(round_file, QUICK)
    assert schedule.fair_return is None
