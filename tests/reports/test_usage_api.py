"""Usage reports and schedule spreadsheets over HTTP, on SQLite and PostgreSQL: the figures add up to the schedule
in force, the files open in real readers, and only the round's coordinators and admins read them."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import update
from sqlmodel import col

from scheduler.db.tables import Proposal
from scheduler.reports.formats import XLSX_MEDIA_TYPE
from scheduler.reports.usage import GROUPINGS
from tests.api_helpers import Client, api_client, login
from tests.web.test_dashboard import PUBLISHED, Sessions, World, _world

ROUND_START = datetime.fromisoformat("2027-02-01T08:00:00+03:00")
SHIFT = timedelta(hours=8)


async def _report(client: Client, world: World, headers: dict[str, str], query: str) -> dict[str, object]:
    response = await client.get(f"/rounds/{world.round_id}/reports/usage?{query}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    report: dict[str, object] = response.json()
    return report


async def test_every_grouping_adds_up_to_the_schedule_in_force(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        headers = await login(client, world.coordinator)
        schedule = (await client.get(f"/schedules/{world.published}/export", headers=headers)).json()
        allocated = sum(allocation["shifts"] for allocation in schedule["allocations"])
        assert allocated == sum(allocation.shifts for allocation in PUBLISHED)
        for attribution in ("pi", "team"):
            for by in GROUPINGS:
                usage = await _report(client, world, headers, f"by={by}&attribution={attribution}")
                assert usage["version_id"] == world.published
                report = usage["report"]
                assert isinstance(report, dict)
                assert report["by"] == by and report["attribution"] == attribution
                assert report["total"]["allocated_shifts"] == allocated
                if by != "group":  # a country may be in several groups, or none
                    assert sum(row["allocated_shifts"] for row in report["rows"]) == pytest.approx(allocated)
        by_instrument = await _report(client, world, headers, "by=instrument")
        rows = {row["key"]: row["allocated_shifts"] for row in by_instrument["report"]["rows"]}  # type: ignore[index]
        for instrument in {allocation.instrument for allocation in PUBLISHED}:
            assert rows[instrument] == sum(a.shifts for a in PUBLISHED if a.instrument == instrument)
        same_version = await _report(client, world, headers, f"by=facility&version={world.published}")
        assert same_version == await _report(client, world, headers, "by=facility")


async def test_csv_and_xlsx_by_accept_or_format_with_a_file_name(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        headers = await login(client, world.coordinator)
        usage = await _report(client, world, headers, "by=facility")
        expected = {row["key"]: row["allocated_shifts"] for row in usage["report"]["rows"]}  # type: ignore[index]
        path = f"/rounds/{world.round_id}/reports/usage?by=facility"
        by_accept = await client.get(path, headers=headers | {"Accept": "text/csv"})
        by_format = await client.get(path + "&format=csv", headers=headers)
        xlsx = await client.get(path, headers=headers | {"Accept": XLSX_MEDIA_TYPE})
    assert by_accept.status_code == 200, by_accept.text
    assert by_accept.headers["content-type"].startswith("text/csv")
    assert by_accept.text == by_format.text
    assert by_accept.headers["content-disposition"] == 'attachment; filename="2027-I-example-usage-by-facility.csv"'
    table = list(csv.DictReader(io.StringIO(by_accept.text)))
    assert {row["facility"]: float(row["allocated shifts"]) for row in table if row["facility"] != "all"} == expected
    assert xlsx.status_code == 200 and xlsx.headers["content-type"] == XLSX_MEDIA_TYPE
    assert xlsx.headers["content-disposition"].endswith('usage-by-facility.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    cells = list(sheet.iter_rows(min_row=3, values_only=True))
    header = list(cells[0])
    column = header.index("allocated shifts")
    assert {row[0]: row[column] for row in cells[1:] if row[0] != "all"} == expected


async def test_only_the_rounds_coordinators_and_admins_read_its_usage(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    path = f"/rounds/{world.round_id}/reports/usage"
    async with api_client(database_url) as client:
        proposer = await login(client, world.proposer)
        stranger = await login(client, world.stranger)
        assert (await client.get(path, headers=proposer)).status_code == 403
        assert (await client.get(path, headers=stranger)).status_code == 403
        assert (await client.get(path)).status_code == 401
        assert (await client.get(f"/rounds/{world.round_id + 99}/reports/usage", headers=stranger)).status_code == 404
        # Across rounds, each sees only the rounds they may read; naming another's round is refused.
        assert (await client.get("/reports/usage", headers=proposer)).json()["rounds"] == []
        assert (await client.get("/reports/usage", headers=stranger)).json()["rounds"] == []
        refused = await client.get(f"/reports/usage?rounds={world.round_id}", headers=proposer)
        assert refused.status_code == 403, refused.text
        assert (
            await client.get(f"/schedules/{world.published}/export?format=csv", headers=proposer)
        ).status_code == 403


async def test_bad_parameters_are_named(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        headers = await login(client, world.coordinator)
        for query, name in (("by=planet", "by"), ("format=pdf", "format"), ("attribution=all", "attribution")):
            response = await client.get(f"/rounds/{world.round_id}/reports/usage?{query}", headers=headers)
            assert response.status_code == 422, response.text
            assert name in {error["path"] for error in response.json()["errors"]}, response.text
        response = await client.get("/reports/usage?rounds=1,x", headers=headers)
        assert response.status_code == 422 and response.json()["errors"][0]["path"] == "rounds"
        other_version = await client.get(
            f"/rounds/{world.round_id}/reports/usage?version={world.published + 99}", headers=headers
        )
        assert other_version.status_code == 404, other_version.text


async def test_across_rounds_one_row_per_key_and_round(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        headers = await login(client, world.coordinator)
        one = await _report(client, world, headers, "by=country")
        across = (await client.get("/reports/usage?by=country", headers=headers)).json()
        named = (await client.get(f"/reports/usage?by=country&rounds={world.round_id}", headers=headers)).json()
        as_csv = await client.get("/reports/usage?by=country&format=csv", headers=headers)
        as_xlsx = await client.get("/reports/usage?by=country&format=xlsx", headers=headers)
    assert across == named
    assert [each["round_id"] for each in across["rounds"]] == [world.round_id]
    assert across["rounds"][0] == one
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    keys = [row["key"] for row in one["report"]["rows"]] + ["all"]  # type: ignore[index]
    assert [(row["round"], row["country"]) for row in table] == [("2027-I-example", key) for key in keys]
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(min_row=4, values_only=True))
    assert [(row[0], row[1]) for row in rows] == [("2027-I-example", key) for key in keys]


async def test_the_schedule_as_a_spreadsheet_one_row_per_allocation_in_local_time(
    database_url: str, sessions: Sessions
) -> None:
    world = await _world(sessions)
    path = f"/schedules/{world.published}/export"
    async with api_client(database_url) as client:
        headers = await login(client, world.coordinator)
        as_json = await client.get(path, headers=headers)
        as_csv = await client.get(path, headers=headers | {"Accept": "text/csv"})
        as_xlsx = await client.get(path + "?format=xlsx", headers=headers)
    assert as_json.headers["content-type"].startswith("application/json") and "allocations" in as_json.json()
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-disposition"] == (
        f'attachment; filename="2027-I-example-schedule-{world.published}.csv"'
    )
    rows = {row["request"]: row for row in csv.DictReader(io.StringIO(as_csv.text))}
    assert set(rows) == {allocation.request for allocation in PUBLISHED}
    # P-001-a: 9 shifts after 05:00 UTC on 1 February is 05:00 UTC on 4 February, noon in Novosibirsk (UTC+7).
    first = rows["P-001-a"]
    assert (first["start (local)"], first["end (local)"]) == ("2027-02-04 12:00", "2027-02-07 12:00")
    assert (first["facility"], first["timezone"], first["PI"], first["PI country"]) == (
        "SKIF",
        "Asia/Novosibirsk",
        "A. Ivanova",
        "RU",
    )
    for allocation in PUBLISHED:
        row = rows[allocation.request]
        zone = ZoneInfo(row["timezone"])
        start = (ROUND_START + allocation.start_shift * SHIFT).astimezone(zone)
        assert row["start (local)"] == start.strftime("%Y-%m-%d %H:%M")
        assert int(row["shifts"]) == allocation.shifts
        assert row["pinned"] == ("yes" if allocation.pinned else "no")
        assert float(row["priority"]) > 0
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    assert sheet is not None
    header, *cells = list(sheet.iter_rows(values_only=True))
    by_request = {row[header.index("request")]: row for row in cells}
    assert len(cells) == len(PUBLISHED)
    assert by_request["P-001-a"][header.index("start (local)")] == datetime(2027, 2, 4, 12, 0)
    assert by_request["P-003-a"][header.index("pinned")] is True


async def test_a_proposal_withdrawn_since_publication_leaves_the_spreadsheet(
    database_url: str, sessions: Sessions
) -> None:
    world = await _world(sessions)
    async with sessions.begin() as session:
        await session.execute(update(Proposal).where(col(Proposal.code) == "P-001").values(withdrawn=True))
    async with api_client(database_url) as client:
        headers = await login(client, world.coordinator)
        as_csv = await client.get(f"/schedules/{world.published}/export?format=csv", headers=headers)
    assert as_csv.status_code == 200, as_csv.text
    rows = {row["request"] for row in csv.DictReader(io.StringIO(as_csv.text))}
    assert rows == {allocation.request for allocation in PUBLISHED if not allocation.request.startswith("P-001-")}
