"""Usage reports add up to the schedule, in every grouping and every format."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from fixtures import EXAMPLE_ROUND
from scheduler.cli import main
from scheduler.reports.formats import render_csv, render_xlsx
from scheduler.reports.usage import GROUPINGS, NO_GROUP, UNCONFIRMED, Grouping, usage_report
from scheduler.roundfile.contract import RoundFile, ScheduleFile
from scheduler.roundfile.solving import solve_round
from solver.problem import Settings

QUICK = Settings(time_limit=2.0, workers=2, seed=0, subsolve_seconds=0.2)


@pytest.fixture(scope="module")
def solved() -> Iterator[tuple[RoundFile, ScheduleFile]]:
    document = json.loads(EXAMPLE_ROUND.read_text())
    # One team member's country is unconfirmed, and India is owed time from an earlier round.
    document["proposals"][2]["team"].append({"name": "A. Guest", "country": "BR", "country_confirmed": False})
    document["fair_return"] = {
        "targets": [{"id": "india", "category": {"country": "IN"}, "share": 0.3}],
        "history": [{"round": "2026-I", "target": "india", "shifts_total": 200, "shifts": 20}],
    }
    round_file = RoundFile.model_validate(document)
    _, schedule = solve_round(round_file, QUICK)
    yield round_file, schedule


@pytest.mark.parametrize("attribution", ["pi", "team"])
@pytest.mark.parametrize("by", [g for g in GROUPINGS if g != "group"])
def test_every_partition_sums_to_the_schedule(
    solved: tuple[RoundFile, ScheduleFile], by: Grouping, attribution: str
) -> None:
    round_file, schedule = solved
    report = usage_report(round_file, schedule, by, "team" if attribution == "team" else "pi")
    allocated = sum(allocation.shifts for allocation in schedule.allocations)
    requested = sum(request.shifts for proposal in round_file.proposals for request in proposal.requests)
    assert sum(row.allocated_shifts for row in report.rows) == pytest.approx(allocated)
    assert sum(row.requested_shifts for row in report.rows) == pytest.approx(requested)
    proposals = sum(row.proposals for row in report.rows)
    if by in ("country", "type"):
        assert proposals == pytest.approx(len(round_file.proposals))
    else:  # a proposal asking at two facilities counts at each
        assert proposals >= len(round_file.proposals)
    assert report.total.allocated_shifts == allocated
    assert report.total.requested_shifts == requested
    assert sum(row.allocated_share or 0 for row in report.rows) == pytest.approx(1.0)


def test_rows_by_instrument_and_type_are_the_allocations_of_each(solved: tuple[RoundFile, ScheduleFile]) -> None:
    round_file, schedule = solved
    by_instrument = {row.key: row.allocated_shifts for row in usage_report(round_file, schedule, "instrument").rows}
    for instrument in {allocation.instrument for allocation in schedule.allocations}:
        expected = sum(a.shifts for a in schedule.allocations if a.instrument == instrument)
        assert by_instrument[instrument] == expected
    type_of = {proposal.id: proposal.type for proposal in round_file.proposals}
    by_type = {row.key: row.allocated_shifts for row in usage_report(round_file, schedule, "type").rows}
    for kind in set(type_of.values()):
        assert by_type.get(kind, 0) == sum(a.shifts for a in schedule.allocations if type_of[a.proposal] == kind)


def test_team_attribution_splits_a_proposal_and_keeps_the_unconfirmed_part_apart(
    solved: tuple[RoundFile, ScheduleFile],
) -> None:
    round_file, schedule = solved
    proposal = round_file.proposals[2]
    people = [proposal.pi, *proposal.team]
    got = sum(a.shifts for a in schedule.allocations if a.proposal == proposal.id)
    assert got > 0
    rows = {row.key: row for row in usage_report(round_file, schedule, "country", "team").rows}
    assert rows[UNCONFIRMED].allocated_shifts == pytest.approx(got / len(people))
    groups = {row.key: row for row in usage_report(round_file, schedule, "group", "team").rows}
    brics = set(round_file.country_groups["BRICS"])
    expected = 0.0
    for allocation in schedule.allocations:
        owner = next(p for p in round_file.proposals if p.id == allocation.proposal)
        members = [owner.pi, *owner.team]
        confirmed_in = [m for m in members if m.country_confirmed and m.country in brics]
        expected += allocation.shifts * len(confirmed_in) / len(members)
    assert groups["BRICS"].allocated_shifts == pytest.approx(expected)
    assert NO_GROUP in groups


def test_owed_shifts_come_from_the_fair_return_target_of_the_row(solved: tuple[RoundFile, ScheduleFile]) -> None:
    round_file, schedule = solved
    (target,) = schedule.fair_return or []
    rows = {row.key: row for row in usage_report(round_file, schedule, "country").rows}
    assert rows["IN"].owed_shifts == target.deficit
    assert rows["RU"].owed_shifts is None
    india = rows["IN"]
    assert india.success_rate == india.proposals_with_time / india.proposals


def test_csv_and_xlsx_carry_the_same_figures(solved: tuple[RoundFile, ScheduleFile]) -> None:
    round_file, schedule = solved
    report = usage_report(round_file, schedule, "facility")
    table = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert [line["facility"] for line in table] == [*(row.key for row in report.rows), "all"]
    sheet = openpyxl.load_workbook(io.BytesIO(render_xlsx(report))).active
    assert sheet is not None
    header = [cell.value for cell in sheet[3]]
    assert header == list(table[0].keys())
    for line, cells in zip(table, sheet.iter_rows(min_row=4, values_only=True), strict=True):
        assert cells[0] == line["facility"]
        assert float(cells[header.index("allocated shifts")]) == float(line["allocated shifts"])
        assert float(cells[header.index("requested shifts")]) == float(line["requested shifts"])


def test_the_command_writes_each_format(tmp_path: Path, solved: tuple[RoundFile, ScheduleFile]) -> None:
    round_file, schedule = solved
    round_path, schedule_path = tmp_path / "round.json", tmp_path / "schedule.json"
    round_path.write_text(round_file.model_dump_json(exclude_none=True))
    schedule_path.write_text(schedule.model_dump_json())
    assert main(["report", str(round_path), str(schedule_path), "--format", "xlsx"]) == 2
    out = tmp_path / "usage.xlsx"
    assert (
        main(["report", str(round_path), str(schedule_path), "--by", "type", "--format", "xlsx", "-o", str(out)]) == 0
    )
    assert openpyxl.load_workbook(out).active is not None
    assert (
        main(["report", str(round_path), str(schedule_path), "--format", "json", "-o", str(tmp_path / "u.json")]) == 0
    )
    assert json.loads((tmp_path / "u.json").read_text())["total"]["allocated_shifts"] == sum(
        a.shifts for a in schedule.allocations
    )
