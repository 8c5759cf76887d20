"""The round page on the bundled facility round (40 instruments, 26 weeks, ~2,000 blocks) in headless Chromium.

Builds a fresh SQLite database: migrations, the facility round solved (`solve_round`,
a short time limit: any feasible schedule of the round's size will do) and imported
with that schedule published (the import measures it: `store_measurement`), and a
coordinator of all its facilities. Then it serves
the app under uvicorn and loads the round page N times in Chromium (a fresh context
each time, so no browser cache), reporting per load:

- bytes transferred (the document and every static file, as Chromium received them);
- the document's size and the payload's;
- time to DOMContentLoaded and until the timeline is drawn and the page answers
  input (`timeline.js` marks `data-drawn` on <html> after its first draw; the
  time to a first key press handled on a block is measured after that);
- the number of DOM elements and blocks drawn.

The server keeps a round's export between views (`scheduler.rounds.kept`), so the first
load after the server starts (the first view) and the others (repeat views) are reported
apart; `--servers` starts the server that many times, for as many first views. Every load
is measured the same way: navigation starts at the sign-in form's submission, which
redirects to the round page.

    python -m benchmarks.dashboard --loads 5 --servers 2

The browser tests (`tests/web/browser/test_workbench_browser.py`) seed and serve the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlmodel import col

from benchmarks.api import free_port
from fixtures import ROUNDS
from scheduler.accounts.service import create_user
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.db.tables import ScheduleVersion
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation, RoundFile
from scheduler.roundfile.solving import solve_round
from scheduler.rounds.importer import import_round
from solver.problem import Settings as SolveSettings

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[1]
FACILITY = ROUNDS / "facility.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 900}
PASSWORD = "correct horse battery staple"
COORDINATOR = "coord@example.org"
STARTUP_SECONDS = 90.0
SOLVE_SECONDS = 2.0


@dataclass(frozen=True)
class Seeded:
    database_url: str
    round_id: int
    published_version: int
    round_file: RoundFile


def published_with_schedule(round_file: RoundFile, solve_seconds: float) -> RoundFile:
    """The round with a schedule solved for it as its `previous_schedule`: importing it publishes that schedule."""
    _, schedule = solve_round(round_file, SolveSettings(time_limit=solve_seconds, workers=1, seed=1))
    previous = [
        PreviousAllocation(request=a.request, instrument=a.instrument, start_shift=a.start_shift, shifts=a.shifts)
        for a in schedule.allocations
    ]
    return round_file.model_copy(update={"previous_schedule": previous})


async def _seed(database_url: str, round_file: RoundFile) -> tuple[int, int]:
    engine = create_engine(database_url)
    try:
        async with session_maker(engine).begin() as session:
            round_id = await import_round(session, round_file)
            facilities = [facility.id for facility in round_file.facilities]
            await create_user(session, COORDINATOR, "Olga Koroleva", "coordinator", PASSWORD, facilities)
            version = await session.scalar(
                select(col(ScheduleVersion.id)).where(col(ScheduleVersion.round_id) == round_id)
            )
        assert version is not None
        return round_id, version
    finally:
        await engine.dispose()


def seed_facility(folder: Path, solve_seconds: float = SOLVE_SECONDS) -> Seeded:
    """A fresh SQLite database in `folder` holding the facility round with a published schedule."""
    database_url = f"sqlite+aiosqlite:///{folder / 'beamtime.db'}"
    upgrade_database(database_url)
    round_file = published_with_schedule(load_round(FACILITY), solve_seconds)
    round_id, version = asyncio.run(_seed(database_url, round_file))
    return Seeded(database_url, round_id, version, round_file)


@contextmanager
def serving(database_url: str, log: Path, *, worker: bool = True) -> Iterator[str]:
    """The app under uvicorn on a free port (its solve worker inside when `worker`); its base URL."""
    url = f"http://127.0.0.1:{free_port()}"
    environment = os.environ | {
        "DATABASE_URL": database_url,
        "BEAMTIME_JWT_SECRET": "a-browser-test-secret-long-enough-for-hs256",
        "BEAMTIME_PUBLIC_URL": url,
        "BEAMTIME_RUN_WORKER_IN_API": "true" if worker else "false",
        "BEAMTIME_RUN_NIGHTLY_IN_API": "false",
        "BEAMTIME_WORKER_POLL_SECONDS": "0.2",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--port", url.rsplit(":", 1)[1]],
            env=environment,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url + "/ui/login", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the server did not answer in {STARTUP_SECONDS} s:\n{log.read_text()}"
                    ) from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Load:
    transferred: int
    document: int
    payload: int
    first_byte_ms: float
    """The server's time to build the page, mostly."""
    response_end_ms: float
    dom_content_loaded_ms: float
    drawn_ms: float
    first_key_ms: float
    elements: int
    blocks: int

    @property
    def ready_ms(self) -> float:
        """From navigation start until the page answers input: `timeline.js` marks the timeline drawn, but
        `round.js` (deferred too, the lists and the workbench) runs after it, until DOMContentLoaded ends."""
        return max(self.drawn_ms, self.dom_content_loaded_ms)


MEASURE = """() => {
  const navigation = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const payload = document.getElementById("page-data");
  return {
    transferred: navigation.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
    document: navigation.decodedBodySize,
    payload: payload ? payload.textContent.length : 0,
    responseStart: navigation.responseStart,
    responseEnd: navigation.responseEnd,
    domContentLoaded: navigation.domContentLoadedEventEnd,
    drawn: Number(document.documentElement.dataset.drawn),
    elements: document.getElementsByTagName("*").length,
    blocks: document.querySelectorAll(".timeline .block").length,
  };
}"""


def open_round(page: Page, url: str, round_id: int, query: str = "") -> None:
    """Signs the coordinator in on the way to the round page and waits until its timeline is drawn."""
    path = f"/ui/rounds/{round_id}{query}"
    page.goto(f"{url}/ui/login?next={path}")
    page.fill("input[name=email]", COORDINATOR)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{url}{path}", timeout=120_000)
    page.wait_for_function("document.documentElement.dataset.drawn", timeout=120_000)


def measure_loads(url: str, round_id: int, loads: int) -> list[Load]:
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for _ in range(loads):
            context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
            page = context.new_page()
            open_round(page, url, round_id)
            figures = page.evaluate(MEASURE)
            started = page.evaluate("performance.now()")
            page.focus(".timeline .block[tabindex='0']")
            page.keyboard.press("ArrowRight")
            answered = page.evaluate("performance.now()")
            results.append(
                Load(
                    transferred=figures["transferred"],
                    document=figures["document"],
                    payload=figures["payload"],
                    first_byte_ms=figures["responseStart"],
                    response_end_ms=figures["responseEnd"],
                    dom_content_loaded_ms=figures["domContentLoaded"],
                    drawn_ms=figures["drawn"],
                    first_key_ms=answered - started,
                    elements=figures["elements"],
                    blocks=figures["blocks"],
                )
            )
            context.close()
        browser.close()
    return results


def report(first_views: list[Load], repeat_views: list[Load]) -> str:
    loads = first_views + repeat_views
    lines = [
        f"loads: {len(first_views)} first views, {len(repeat_views)} repeat views; blocks drawn: {loads[0].blocks}; "
        f"DOM elements: {loads[0].elements}",
        f"transferred: {loads[0].transferred / 1024:.0f} KiB (document {loads[0].document / 1024:.0f} KiB, "
        f"payload {loads[0].payload / 1024:.0f} KiB)",
    ]
    for name, views in (("first view", first_views), ("repeat view", repeat_views)):
        if views:
            lines += [f"{name}:", *_figures(views)]
    lines.append(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return "\n".join(lines)


def _figures(loads: list[Load]) -> list[str]:
    def spread(values: list[float]) -> str:
        return f"median {statistics.median(values):.0f} ms, min {min(values):.0f} ms, max {max(values):.0f} ms"

    return [
        f"  first byte (the server builds the page): {spread([x.first_byte_ms for x in loads])}",
        f"  DOMContentLoaded: {spread([x.dom_content_loaded_ms for x in loads])}",
        f"  timeline drawn (interactive, from navigation start): {spread([x.drawn_ms for x in loads])}",
        f"  ready (the later of that and DOMContentLoaded's end): {spread([x.ready_ms for x in loads])}",
        f"  in the browser, last byte to interactive: {spread([x.drawn_ms - x.response_end_ms for x in loads])}",
        f"  first arrow key handled: median {statistics.median([x.first_key_ms for x in loads]):.0f} ms",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=5, help="per server start: one first view, then repeat views")
    parser.add_argument("--servers", type=int, default=1, help="server starts, each with a first view")
    parser.add_argument("--solve-seconds", type=float, default=SOLVE_SECONDS)
    args = parser.parse_args(argv)
    first_views: list[Load] = []
    repeat_views: list[Load] = []
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        seeded = seed_facility(Path(folder), args.solve_seconds)
        print(f"seeded in {time.perf_counter() - began:.1f} s", flush=True)
        for _ in range(args.servers):
            with serving(seeded.database_url, Path(folder) / "server.log", worker=False) as url:
                first, *repeated = measure_loads(url, seeded.round_id, args.loads)
            first_views.append(first)
            repeat_views += repeated
    print(report(first_views, repeat_views))
    print(
        json.dumps(
            {"first_views": [x.__dict__ for x in first_views], "repeat_views": [x.__dict__ for x in repeat_views]}
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
