"""The dashboard end to end in headless Chromium: the real app in a uvicorn process on a SQLite file.

A coordinator signs in, solves a small round, checks the timeline against the
schedule version the solve made, and publishes it; each proposer then sees only
their own slots. Screenshots go to $BEAMTIME_SCREENSHOTS (docs/screenshots for
the README) or to the test's temporary folder.

Needs Debian's `chromium` (/usr/bin/chromium) and the `playwright` package
(whose wheel carries its driver; no browser is downloaded).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update
from sqlmodel import col

from benchmarks.api import free_port
from benchmarks.dashboard import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from scheduler.accounts.service import create_user
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.db.tables import Proposal
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import ScheduleFile
from scheduler.rounds.importer import import_round
from scheduler.schedules.export import export_schedule

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright: pip install playwright")

ROOT = Path(__file__).resolve().parents[3]
ROUND = ROOT / "fixtures" / "rounds" / "small.json"
PASSWORD = "correct horse battery staple"
COORDINATOR, ANA, BEN = "coord@example.org", "ana@example.org", "ben@example.org"
SOLVE_SECONDS = 3
STARTUP_SECONDS = 60.0


@dataclass(frozen=True)
class Server:
    url: str
    database_url: str
    round_id: int
    owners: dict[str, str]
    """Proposal code -> the e-mail of the proposer who owns it."""


async def _seed(database_url: str) -> tuple[int, dict[str, str]]:
    """The small round, its proposals shared between two proposers, and the coordinator of its facilities."""
    round_file = load_round(json.loads(ROUND.read_text()))
    engine = create_engine(database_url)
    owners = {proposal.id: (ANA, BEN)[index % 2] for index, proposal in enumerate(round_file.proposals)}
    async with session_maker(engine).begin() as session:
        ana = await create_user(session, ANA, "Ana Petrova", "proposer", PASSWORD)
        ben = await create_user(session, BEN, "Ben Okafor", "proposer", PASSWORD)
        round_id = await import_round(session, round_file, owner_id=ana.id)
        bens = [code for code, owner in owners.items() if owner == BEN]
        await session.execute(
            update(Proposal)
            .where(col(Proposal.round_id) == round_id, col(Proposal.code).in_(bens))
            .values(owner_id=ben.id)
        )
        facilities = [facility.id for facility in round_file.facilities]
        await create_user(session, COORDINATOR, "Olga Koroleva", "coordinator", PASSWORD, facilities)
    await engine.dispose()
    return round_id, owners


def _schedule(database_url: str, version_id: int) -> ScheduleFile:
    """The version as a schedule file, read in a thread of its own: Playwright's loop runs in this one."""

    async def read() -> ScheduleFile:
        engine = create_engine(database_url)
        try:
            async with session_maker(engine)() as session:
                return await export_schedule(session, version_id)
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, read()).result()


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/ui/login", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail(f"the server did not answer within {STARTUP_SECONDS} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("dashboard")
    database_url = f"sqlite+aiosqlite:///{folder / 'beamtime.db'}"
    upgrade_database(database_url)
    round_id, owners = asyncio.run(_seed(database_url))
    url = f"http://127.0.0.1:{free_port()}"
    environment = os.environ | {
        "DATABASE_URL": database_url,
        "BEAMTIME_JWT_SECRET": "a-browser-test-secret-long-enough-for-hs256",
        "BEAMTIME_PUBLIC_URL": url,
        "BEAMTIME_RUN_WORKER_IN_API": "true",
        "BEAMTIME_WORKER_POLL_SECONDS": "0.2",
    }
    log = folder / "server.log"
    port = urlsplit(url).port
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=environment, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_serving(url, process, log)
        yield Server(url, database_url, round_id, owners)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[sync_api.BrowserContext]:
    """Chromium with a fresh profile. Script errors, console errors (a blocked script or style, say) and
    static files that fail to load fail the test; pages answering 404 on purpose do not."""
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile", executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, viewport=VIEWPORT
        )
        problems: list[str] = []

        def console(message: sync_api.ConsoleMessage) -> None:
            if message.type == "error" and not message.text.startswith("Failed to load resource"):
                problems.append(message.text)

        def response(answer: sync_api.Response) -> None:
            if answer.status >= 400 and "/ui/static/" in answer.url:
                problems.append(f"{answer.status} {answer.url}")

        context.on("weberror", lambda error: problems.append(str(error.error)))
        context.on("console", console)
        context.on("response", response)
        yield context
        context.close()
        assert not problems, problems


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("BEAMTIME_SCREENSHOTS") or tmp_path / "screenshots")
    folder = folder if folder.is_absolute() else ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sign_in(page: sync_api.Page, email: str) -> None:
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")


def test_a_coordinator_solves_and_publishes_and_each_proposer_sees_only_their_slots(
    server: Server, browser: sync_api.BrowserContext, screenshots: Path
) -> None:
    expect = sync_api.expect
    page = browser.new_page()
    round_page = f"{server.url}/ui/rounds/{server.round_id}"

    page.goto(round_page)
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    _sign_in(page, COORDINATOR)
    expect(page).to_have_url(round_page)
    expect(page.locator(".block")).to_have_count(0)

    page.fill("#solve-form input[name=time_limit]", str(SOLVE_SECONDS))
    page.click("#solve-form button[type=submit]")
    expect(page.locator("#solve-live")).to_be_visible()
    opened = page.locator("#solve-open-version")
    expect(opened).to_be_visible(timeout=120_000)
    expect(page.locator("#solve-state")).to_have_text("done")
    expect(page.locator("#solve-chart polyline.objective")).to_have_attribute("points", re.compile(r"\d"))
    opened.click()
    expect(page).to_have_url(re.compile(r"\?version=\d+$"))
    version_id = int(parse_qs(urlsplit(page.url).query)["version"][0])

    schedule = _schedule(server.database_url, version_id)
    assert schedule.allocations
    per_instrument = Counter(allocation.instrument for allocation in schedule.allocations)
    for row in page.locator(".tl-row").all():
        instrument = row.get_attribute("data-instrument")
        expect(row.locator(".block")).to_have_count(per_instrument[instrument or ""])
    shown = page.eval_on_selector_all(
        ".block",
        "all => all.map(b => [b.dataset.request, b.dataset.instrument, +b.dataset.startShift, +b.dataset.shifts])",
    )
    assert Counter(map(tuple, shown)) == Counter(
        (a.request, a.instrument, a.start_shift, a.shifts) for a in schedule.allocations
    )

    first = schedule.allocations[0]
    page.hover(f'.block[data-request="{first.request}"]')
    tooltip = page.locator("#tooltip")
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text(first.request)
    expect(tooltip).to_contain_text("Team countries")

    publish = page.locator("button.publish")
    publish.click()
    expect(publish).to_have_text(re.compile("Click again"))
    publish.click()
    expect(page.locator("#shown-version .badge[class*='status-']")).to_have_text("published")

    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    placed = {allocation.request: allocation.proposal for allocation in schedule.allocations}
    for proposer in (ANA, BEN):
        _sign_in(page, proposer)
        expect(page).to_have_url(f"{server.url}/ui/me")
        slots = set(page.eval_on_selector_all(".slot", "rows => rows.map(r => r.dataset.request)"))
        assert slots == {request for request, proposal in placed.items() if server.owners[proposal] == proposer}
        listed = set(page.eval_on_selector_all(".proposal", "cards => cards.map(c => c.dataset.proposal)"))
        assert listed == {code for code, owner in server.owners.items() if owner == proposer}
        if proposer == ANA:
            page.screenshot(path=screenshots / "proposer.png")
        page.goto(round_page)
        expect(page.locator("h1")).to_have_text("Not found")
        page.goto(f"{server.url}/ui/me")
        page.click("text=Sign out")
