"""The usage page in headless Chromium against the real app (see tests/web/browser/test_dashboard_browser.py).

A coordinator opens the example round's usage: each chart is an SVG image with a title and one group of bars per
row of the report, the table beside it carries the API's numbers, the `by` switch changes the grouping, the CSV
link downloads the API's CSV, axe-core finds nothing serious, and printed the page keeps the charts and tables
without the switch. The screenshot is the README's (`usage.png`, where $BEAMTIME_SCREENSHOTS says).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.web.browser.test_dashboard_browser import (  # noqa: F401 (the fixtures are used by name)
    COORDINATOR,
    PASSWORD,
    Server,
    _sign_in,
    browser,
    screenshots,
    server,
    sync_api,
)
from tests.web.browser.test_phone_and_accessibility import _blocking_violations, published  # noqa: F401

EXAMPLE_CODE = "2027-I-example"


def _api(url: str, path: str, token: str | None = None) -> Any:
    request = urllib.request.Request(url + path)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _token(url: str) -> str:
    body = json.dumps({"email": COORDINATOR, "password": PASSWORD}).encode()
    request = urllib.request.Request(
        url + "/auth/login", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        token: str = json.load(response)["access_token"]
    return token


def _table(page: sync_api.Page, chart: str) -> dict[str, list[float | None]]:
    """A chart's table as its page shows it: each row's key and the exact figures behind the cells."""
    found: dict[str, list[float | None]] = page.eval_on_selector_all(
        f"table[data-chart='{chart}'] tbody tr",
        """rows => Object.fromEntries(rows.map(row => [row.dataset.key, [...row.querySelectorAll('td')]
            .map(cell => cell.dataset.value === '' ? null : Number(cell.dataset.value))]))""",
    )
    return found


def test_the_usage_page_draws_the_reports_numbers(
    published: Server,  # noqa: F811
    browser: sync_api.BrowserContext,  # noqa: F811
    screenshots: Path,  # noqa: F811
) -> None:
    token = _token(published.url)
    rounds = _api(published.url, "/rounds?limit=100", token)["items"]
    (round_id,) = [each["id"] for each in rounds if each["code"] == EXAMPLE_CODE]
    page = browser.new_page()
    page.goto(f"{published.url}/ui/rounds/{round_id}/usage")
    _sign_in(page, COORDINATOR)
    sync_api.expect(page).to_have_url(f"{published.url}/ui/rounds/{round_id}/usage")
    for by in ("country", "facility", "instrument", "group"):
        if by != "country":
            page.click(f".usage-switch a.usage-by[href*='by={by}&']")
            sync_api.expect(page.locator(f".usage-switch a.usage-by[aria-current][href*='by={by}&']")).to_have_count(1)
        report = _api(published.url, f"/rounds/{round_id}/reports/usage?by={by}", token)["report"]
        keys = [row["key"] for row in report["rows"]]
        assert keys, by
        prefix = f"r{round_id}"
        for chart, fields in (
            ("shifts", ("requested_shifts", "allocated_shifts", "owed_shifts")),
            ("success", ("success_rate",)),
            ("oversubscription", ("oversubscription",)),
        ):
            svg = page.locator(f"[data-chart='{prefix}-{chart}'] svg[role=img]")
            assert svg.locator("title").text_content()
            drawn = svg.locator("g.bar-row")
            assert drawn.evaluate_all("groups => groups.map(g => g.dataset.key)") == keys, (by, chart)
            assert svg.locator("g.bar-row rect.bar").count() == len(keys) * len(fields)
            expected = {row["key"]: [row[field] for field in fields] for row in report["rows"]}
            assert _table(page, f"{prefix}-{chart}") == expected, (by, chart)
        if by == "country":
            page.screenshot(path=screenshots / "usage.png", full_page=True)

    download = page.locator(".usage-download").first.get_attribute("href")
    assert download is not None and "format=csv" in download
    answer = page.request.get(published.url + download)
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.text().splitlines()[0].startswith("group,proposals")

    assert _blocking_violations(page) == []
    page.emulate_media(media="print")
    sync_api.expect(page.locator(".usage-switch")).to_be_hidden()
    sync_api.expect(page.locator(".topbar")).to_be_hidden()
    sync_api.expect(page.locator("svg.chart").first).to_be_visible()
    sync_api.expect(page.locator("table.usage-table").first).to_be_visible()
    assert len(page.pdf()) > 1000
