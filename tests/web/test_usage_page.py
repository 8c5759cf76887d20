"""The usage pages over HTTP, on SQLite and PostgreSQL: one SVG bar group per report row, the table's figures
equal to the API's report, downloads signed in by the dashboard's cookie, and refusals as pages."""

from __future__ import annotations

import csv
import io

import openpyxl

from scheduler.reports.formats import XLSX_MEDIA_TYPE
from tests.api_helpers import api_client, login
from tests.web.test_dashboard import Sessions, _world, elements, page, sign_in

SHIFTS = ("requested_shifts", "allocated_shifts", "owed_shifts")


def _figure(value: str) -> float | None:
    return None if value == "" else float(value)


async def test_the_page_shows_the_apis_report_as_charts_and_tables(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        headers = await login(client, world.coordinator)
        report = (await client.get(f"/rounds/{world.round_id}/reports/usage?by=instrument", headers=headers)).json()
        await sign_in(client, world.coordinator)
        html = await page(client, f"/ui/rounds/{world.round_id}/usage?by=instrument")
        across = await page(client, "/ui/usage?by=instrument")
        links = [link["href"] for link in elements(html, "usage-download")]
        downloads = [await client.get(link) for link in links]
    keys = [row["key"] for row in report["report"]["rows"]]
    charts = elements(html, "chart")
    assert len(charts) == 3 and all(chart["role"] == "img" for chart in charts)
    assert [group["data-key"] for group in elements(html, "bar-row")] == keys * 3
    assert len(elements(html, "bar")) == len(keys) * (len(SHIFTS) + 2)
    cells = [_figure(cell["data-value"]) for cell in elements(html, "num") if "data-value" in cell]
    per_row = len(SHIFTS)
    shifts = cells[: len(keys) * per_row]
    expected = [row[field] for row in report["report"]["rows"] for field in SHIFTS]
    assert shifts == expected
    assert [group["data-key"] for group in elements(across, "bar-row")] == keys * 3
    as_csv, as_xlsx = downloads
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    table = {row["instrument"]: float(row["allocated shifts"]) for row in csv.DictReader(io.StringIO(as_csv.text))}
    assert table == {row["key"]: row["allocated_shifts"] for row in report["report"]["rows"]} | {
        "all": report["report"]["total"]["allocated_shifts"]
    }
    assert as_xlsx.headers["content-type"] == XLSX_MEDIA_TYPE
    assert openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active is not None


async def test_a_proposer_and_another_facilitys_coordinator_get_a_refusal_page(
    database_url: str, sessions: Sessions
) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        for email in (world.proposer, world.stranger):
            await sign_in(client, email)
            refused = await client.get(f"/ui/rounds/{world.round_id}/usage")
            assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
            download = await client.get(f"/ui/rounds/{world.round_id}/reports/usage?format=csv")
            assert download.status_code == 403
            empty = await page(client, "/ui/usage")
            assert elements(empty, "chart") == []
