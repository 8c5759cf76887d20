"""The coordinator's workbench in headless Chromium on the bundled FACILITY round (40 instruments, 26 weeks).

The round is solved once for the module (a short limit: any feasible schedule of the
round's size will do), imported with that schedule published and served by the real
app under uvicorn (`benchmarks.dashboard` seeds and serves the same way). The page's
size, its accessibility (axe-core, injected from the `axe_playwright_python` package),
keyboard movement, filters and hand edits by drag and drop are checked there; a solve
that repeats the schedule in force runs on the format's example round, every slot pinned.
Timings are the benchmark's (BENCHMARKS.md), never asserted here.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from benchmarks.dashboard import CHROMIUM, COORDINATOR, PASSWORD, Seeded, open_round, seed_facility, serving
from fixtures import EXAMPLE_ROUND
from scheduler.accounts.service import create_user
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.roundfile import contract as c
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import exclusions, priorities
from scheduler.roundfile.validate import validate_schedule
from scheduler.rounds.exporter import export_round
from scheduler.rounds.importer import import_round
from scheduler.schedules.export import export_schedule
from tests.web.browser.test_dashboard_browser import (  # noqa: F401 (the fixtures are used by name)
    browser,
    screenshots,
    sync_api,
)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium")
axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright", reason="needs axe-playwright-python")

PAGE_BUDGET = 1024 * 1024
"""The round page's bytes over the wire, document and static files: under 1 MB."""
SEVERE = ("serious", "critical")
SOLVE_SECONDS = 3
SERVER_SECONDS = 120
"""How long an answer of the app may take on this shared machine (a move judges the whole facility round)."""


@dataclass(frozen=True)
class Served:
    url: str
    seeded: Seeded


@pytest.fixture(scope="module")
def facility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("facility")
    seeded = seed_facility(folder)
    with serving(seeded.database_url, folder / "server.log", worker=False) as url:
        yield Served(url, seeded)


def _severe_violations(page: sync_api.Page) -> list[str]:
    results = axe_playwright.Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']][:5]}"
        for violation in results.response["violations"]
        if violation["impact"] in SEVERE
    ]


def _in_thread(work: Any) -> Any:
    """A coroutine run in a thread of its own: Playwright's loop runs in this one."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, work).result()


async def _round_and_schedule(database_url: str, round_id: int, version_id: int) -> tuple[c.RoundFile, c.ScheduleFile]:
    engine = create_engine(database_url)
    try:
        async with session_maker(engine)() as session:
            return await export_round(session, round_id), await export_schedule(session, version_id)
    finally:
        await engine.dispose()


def test_the_facility_round_page_is_small_accessible_and_moves_by_keyboard(
    facility: Served,
    browser: sync_api.BrowserContext,  # noqa: F811
    screenshots: Path,  # noqa: F811
) -> None:
    expect = sync_api.expect
    page = browser.new_page()
    open_round(page, facility.url, facility.seeded.round_id)

    sizes = page.evaluate(
        """() => {
          const navigation = performance.getEntriesByType("navigation")[0];
          const files = performance.getEntriesByType("resource").reduce((sum, r) => sum + r.transferSize, 0);
          return {transferred: navigation.transferSize + files, document: navigation.decodedBodySize};
        }"""
    )
    assert sizes["document"] < PAGE_BUDGET, sizes
    assert sizes["transferred"] < PAGE_BUDGET, sizes
    allocations = facility.seeded.round_file.previous_schedule or []
    expect(page.locator(".timeline .block")).to_have_count(len(allocations))
    assert len(allocations) > 1500, "the facility round's schedule has ~2,000 blocks"

    # One Tab stop for the timeline; arrow keys move along an instrument and between instruments.
    assert page.locator(".timeline .block[tabindex='0']").count() == 1
    page.focus("#filter-form select[name=category]")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    for _ in range(8):
        if page.evaluate("document.activeElement.classList.contains('block')"):
            break
        page.keyboard.press("Tab")
    first = page.evaluate("[document.activeElement.dataset.instrument, +document.activeElement.dataset.startShift]")
    assert first[0], "Tab reaches the timeline's block"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none", "a visible focus ring"
    page.keyboard.press("ArrowRight")
    second = page.evaluate("[document.activeElement.dataset.instrument, +document.activeElement.dataset.startShift]")
    assert second[0] == first[0] and second[1] > first[1]
    page.keyboard.press("ArrowDown")
    third = page.evaluate("document.activeElement.dataset.instrument")
    assert third != first[0]
    label = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert "PI " in label and " shifts on " in label
    expect(page.locator("#tooltip")).to_be_visible()

    # Zoom to a week (the first: the whole round's start stays in view): only that week's blocks are drawn.
    page.click("button[data-zoom=week]")
    expect(page.locator(".zoom-period").first).to_contain_text("Week 1:")
    shown = page.eval_on_selector_all(".timeline .block", "all => all.map(b => +b.dataset.startShift)")
    week_start, week_end = json.loads(page.inner_text("#page-data"))["round"]["weeks"][0]
    assert len(shown) == sum(a.start_shift < week_end and a.start_shift + a.shifts > week_start for a in allocations)

    # A month: most blocks are wide enough for the PI's surname and country.
    page.click("button[data-zoom=month]")
    labelled = page.eval_on_selector_all(".block-text", "spans => spans.map(s => s.textContent)")
    people = {(p.pi.name.split()[-1], p.pi.country) for p in facility.seeded.round_file.proposals}
    full = [text for text in labelled if tuple(text.split(" · ")) in people]
    assert len(full) > len(labelled) / 2 > 100, "blocks wide enough carry the PI's surname and country"
    page.mouse.move(0, 0)
    page.locator("#timeline-card").scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "timeline.png")
    page.click("button[data-zoom=round]")

    assert _severe_violations(page) == []


def _would_be(round_file: c.RoundFile, schedule: c.ScheduleFile, *moved: c.Allocation) -> c.ScheduleFile:
    """The schedule with allocations placed anew, priorities as the scoring gives them (as the move service
    judges a move)."""
    priority_of = priorities(score_round(round_file))
    placed = {allocation.request for allocation in moved}
    allocations = [
        allocation.model_copy(update={"priority": priority_of.get(allocation.proposal, allocation.priority)})
        for allocation in [*(a for a in schedule.allocations if a.request not in placed), *moved]
    ]
    return schedule.model_copy(
        update={
            "allocations": allocations,
            "unallocated": [u for u in schedule.unallocated if u.request not in placed],
            "objective": math.fsum(a.priority * a.shifts for a in allocations),
        }
    )


def _keeps_every_rule(round_file: c.RoundFile, schedule: c.ScheduleFile) -> bool:
    scores = score_round(round_file)
    return validate_schedule(round_file, schedule, priorities(scores), exclusions(scores).keys()) == []


def _a_move_one_shift_later(round_file: c.RoundFile, schedule: c.ScheduleFile) -> c.Allocation:
    """An allocation that keeps every rule one shift later, inside one week (so that a week's zoom shows both)."""
    grid_weeks = 21
    for allocation in sorted(schedule.allocations, key=lambda a: (a.instrument, a.start_shift)):
        start = allocation.start_shift + 1
        if allocation.pinned or start // grid_weeks != (start + allocation.shifts - 1) // grid_weeks:
            continue
        step = allocation.end - allocation.start
        moved = allocation.model_copy(
            update={
                "start_shift": start,
                "start": allocation.start + step / allocation.shifts,
                "end": allocation.end + step / allocation.shifts,
            }
        )
        if _keeps_every_rule(round_file, _would_be(round_file, schedule, moved)):
            return moved
    raise AssertionError("no allocation of the schedule can move one shift later")


def _shifted(allocation: c.Allocation, start: int) -> c.Allocation:
    """The allocation starting at shift `start` instead (shifts are equally long on the grid)."""
    step = (allocation.end - allocation.start) / allocation.shifts
    return allocation.model_copy(
        update={
            "start_shift": start,
            "start": allocation.start + step * (start - allocation.start_shift),
            "end": allocation.end + step * (start - allocation.start_shift),
        }
    )


def _a_swap_in_one_week(round_file: c.RoundFile, schedule: c.ScheduleFile) -> tuple[c.Allocation, c.Allocation]:
    """Two neighbours on one instrument inside one week whose swap (the later first, as the page swaps them on one
    instrument) keeps every rule, each as it lands after the swap."""
    week = 21
    placed = sorted(schedule.allocations, key=lambda a: (a.instrument, a.start_shift))
    for first, second in itertools.pairwise(placed):
        end = second.start_shift + second.shifts
        if first.instrument != second.instrument or first.pinned or second.pinned:
            continue
        if first.start_shift // week != (end - 1) // week:
            continue
        swapped = (_shifted(second, first.start_shift), _shifted(first, end - first.shifts))
        if _keeps_every_rule(round_file, _would_be(round_file, schedule, *swapped)):
            return swapped
    raise AssertionError("no two neighbours of the schedule can swap")


def _open_published_week(page: sync_api.Page, facility: Served, week: int) -> None:
    """The round page on the published version (drafts made by other tests are newer), zoomed to `week`."""
    seeded = facility.seeded
    open_round(page, facility.url, seeded.round_id)
    page.goto(f"{facility.url}/ui/rounds/{seeded.round_id}?version={seeded.published_version}&week={week}")
    page.wait_for_function("document.documentElement.dataset.drawn")


def _drag(page: sync_api.Page, request: str, shifts: float) -> None:
    """Drags a block by its middle `shifts` shifts along its instrument, with the mouse."""
    block = page.locator(f".timeline .block[data-request='{request}']")
    block.scroll_into_view_if_needed()
    box = block.bounding_box()
    track = block.locator("xpath=..").bounding_box()
    assert box is not None and track is not None
    view_shifts = 21
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + shifts * track["width"] / view_shifts, y, steps=8)
    page.mouse.up()


def test_a_drag_that_breaks_a_rule_is_refused_naming_it_and_one_that_keeps_them_makes_a_valid_draft(
    facility: Served,
    browser: sync_api.BrowserContext,  # noqa: F811
) -> None:
    expect = sync_api.expect
    seeded = facility.seeded
    round_file, schedule = _in_thread(
        _round_and_schedule(seeded.database_url, seeded.round_id, seeded.published_version)
    )
    moved = _a_move_one_shift_later(round_file, schedule)
    page = browser.new_page()
    week = moved.start_shift // 21 + 1
    open_round(page, facility.url, seeded.round_id, f"?week={week}")
    expect(page.locator(".zoom-period").first).to_contain_text(f"Week {week}:")

    # Onto the start of another block on the same instrument: two allocations would overlap.
    original = next(a for a in schedule.allocations if a.request == moved.request)
    same_instrument = sorted(
        (a for a in schedule.allocations if a.instrument == moved.instrument), key=lambda a: a.start_shift
    )
    earlier = [a for a in same_instrument if a.start_shift + a.shifts < moved.start_shift]
    in_week = [a for a in earlier if a.start_shift // 21 == week - 1]
    onto = in_week[-1] if in_week else next(a for a in same_instrument if a.start_shift > original.start_shift)
    _drag(page, original.request, onto.start_shift - original.start_shift)
    refused = page.locator("#edit-message.error")
    expect(refused).to_be_visible(timeout=SERVER_SECONDS * 1000)
    expect(refused).to_contain_text("The move was refused")
    expect(refused.locator(".broken-rules li").first).to_contain_text(re.compile(r"rule \d+: "))

    _drag(page, original.request, 1)
    expect(page).to_have_url(re.compile(r"\?version=\d+&from=\d+$"), timeout=SERVER_SECONDS * 1000)
    page.wait_for_function("document.documentElement.dataset.drawn")
    draft_id = int(parse_qs(urlsplit(page.url).query)["version"][0])
    expect(page.locator("#undo-edit")).to_be_visible()
    now_round, draft = _in_thread(_round_and_schedule(seeded.database_url, seeded.round_id, draft_id))
    placed = {(a.request, a.instrument, a.start_shift, a.shifts) for a in draft.allocations}
    assert (moved.request, moved.instrument, moved.start_shift, moved.shifts) in placed
    assert len(placed) == len(schedule.allocations)
    assert _keeps_every_rule(now_round, draft)

    # The publish summary names who gains, loses or moves against the published version.
    page.click("button.publish")
    expect(page.locator("#publish-summary")).to_contain_text(
        "1 keep their time but move", timeout=SERVER_SECONDS * 1000
    )
    assert _severe_violations(page) == []
    page.goto(f"{facility.url}/ui/rounds/{seeded.round_id}/compare?before={seeded.published_version}&after={draft_id}")
    page.wait_for_function("document.documentElement.dataset.drawn")
    expect(page.locator(".timeline .block[data-change='moved']")).to_have_count(2)
    assert _severe_violations(page) == []


def test_search_highlights_a_proposal_across_the_timeline_and_filters_the_lists(
    facility: Served,
    browser: sync_api.BrowserContext,  # noqa: F811
) -> None:
    expect = sync_api.expect
    seeded = facility.seeded
    page = browser.new_page()
    open_round(page, facility.url, seeded.round_id)
    counts: dict[str, int] = {}
    for allocation in seeded.round_file.previous_schedule or []:
        proposal = allocation.request.rsplit("-", 1)[0]
        counts[proposal] = counts.get(proposal, 0) + 1
    chosen = max(counts, key=lambda code: counts[code])
    page.fill("#filter-form input[name=q]", chosen)
    expect(page.locator(".timeline .block.match")).to_have_count(counts[chosen])
    matched = set(page.eval_on_selector_all(".timeline .block.match", "all => all.map(b => b.dataset.proposal)"))
    assert matched == {chosen}
    expect(page.locator("#ranking tbody tr.ranked")).to_have_count(1)
    expect(page.locator("#filter-summary")).to_contain_text(f"Matching: {counts[chosen]} blocks, 1 ranked proposal and")

    # Grouped by reason, the unallocated list's group rows count every unallocated request once.
    page.click("#filter-form button[type=reset]")
    page.select_option("select.group-by[data-list=unallocated]", "reason")
    groups = page.eval_on_selector_all("#unallocated tbody tr.group", "rows => rows.map(r => r.textContent)")
    total = len(json.loads(page.inner_text("#page-data"))["unallocated"])
    assert len(groups) > 1 and sum(int(text.rsplit(": ", 1)[1]) for text in groups) == total

    # On paper: the timeline without the page's controls.
    page.emulate_media(media="print")
    expect(page.locator("#filters")).to_be_hidden()
    expect(page.locator(".zoom").first).to_be_hidden()
    expect(page.locator(".timeline .block").first).to_be_visible()


@pytest.fixture(scope="module")
def every_slot_pinned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The example round with its optimal schedule published and every slot pinned: a solve can only repeat it."""
    from tests.jobs.test_unchanged_solve import EVERY_SLOT_PINNED

    folder = tmp_path_factory.mktemp("pinned")
    database_url = f"sqlite+aiosqlite:///{folder / 'beamtime.db'}"
    upgrade_database(database_url)
    round_file = load_round(EXAMPLE_ROUND).model_copy(update={"previous_schedule": EVERY_SLOT_PINNED})

    async def seed() -> int:
        engine = create_engine(database_url)
        try:
            async with session_maker(engine).begin() as session:
                round_id = await import_round(session, round_file)
                facilities = [facility.id for facility in round_file.facilities]
                await create_user(session, COORDINATOR, "Olga Koroleva", "coordinator", PASSWORD, facilities)
            return round_id
        finally:
            await engine.dispose()

    round_id = asyncio.run(seed())
    with serving(database_url, folder / "server.log") as url:
        yield url, round_id


def test_a_solve_that_changes_nothing_says_so_and_makes_no_draft(
    every_slot_pinned: tuple[str, int],
    browser: sync_api.BrowserContext,  # noqa: F811
) -> None:
    expect = sync_api.expect
    url, round_id = every_slot_pinned
    page = browser.new_page()
    open_round(page, url, round_id)
    expect(page.locator("#versions tbody tr")).to_have_count(1)
    page.fill("#solve-form input[name=time_limit]", str(SOLVE_SECONDS))
    page.click("#solve-form button[type=submit]")
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    expect(page.locator("#solve-result")).to_contain_text("nothing changed, so no draft was made", timeout=120_000)
    expect(page.locator("#runs tbody tr").first).to_contain_text("no change, no draft")
    page.reload()
    expect(page.locator("#versions tbody tr")).to_have_count(1)
    assert page.locator("#solve-form input[name=time_limit]").input_value() == str(SOLVE_SECONDS), "the limit is kept"


@pytest.fixture(scope="module")
def a_swap(facility: Served) -> tuple[c.Allocation, c.Allocation]:
    """Two neighbours of the published schedule as they land when swapped: the later one, then the earlier one."""
    seeded = facility.seeded
    round_file, schedule = _in_thread(
        _round_and_schedule(seeded.database_url, seeded.round_id, seeded.published_version)
    )
    return _a_swap_in_one_week(round_file, schedule)


def _swapped_draft(page: sync_api.Page, facility: Served, *swapped: c.Allocation) -> None:
    """The page opens the new draft, which holds the `swapped` allocations, every other one, and keeps every rule."""
    sync_api.expect(page).to_have_url(re.compile(r"\?version=\d+&from=\d+$"), timeout=SERVER_SECONDS * 1000)
    seeded = facility.seeded
    draft_id = int(parse_qs(urlsplit(page.url).query)["version"][0])
    round_file, draft = _in_thread(_round_and_schedule(seeded.database_url, seeded.round_id, draft_id))
    placed = {(a.request, a.instrument, a.start_shift, a.shifts) for a in draft.allocations}
    assert {(a.request, a.instrument, a.start_shift, a.shifts) for a in swapped} <= placed
    assert len(placed) == len(seeded.round_file.previous_schedule or [])
    assert _keeps_every_rule(round_file, draft)


def test_a_block_dropped_on_another_with_shift_swaps_them_and_a_forbidden_place_is_named_before_the_drop(
    facility: Served,
    a_swap: tuple[c.Allocation, c.Allocation],
    browser: sync_api.BrowserContext,  # noqa: F811
    screenshots: Path,  # noqa: F811
) -> None:
    """Over a place that breaks a rule the page names the rule while the button is still down, and the drop is
    refused; dropped with Shift onto its neighbour, a block swaps with it as one new draft that keeps every rule."""
    expect = sync_api.expect
    later, earlier = a_swap
    page = browser.new_page()
    checks: list[float] = []
    page.on(
        "request", lambda request: checks.append(time.monotonic()) if request.url.endswith("/edits/check") else None
    )
    week = earlier.start_shift // 21 + 1
    _open_published_week(page, facility, week)
    first = page.locator(f".timeline .block[data-request='{earlier.request}']")
    second = page.locator(f".timeline .block[data-request='{later.request}']")
    first.scroll_into_view_if_needed()
    start, onto = first.bounding_box(), second.bounding_box()
    assert start is not None and onto is not None

    # Onto the neighbour without Shift: the two would overlap. The verdict comes while the button is held.
    began = time.monotonic()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(onto["x"] + 3, onto["y"] + onto["height"] / 2, steps=30)
    verdict = page.locator("#drop-verdict.error")
    expect(verdict).to_contain_text("would break these rules", timeout=SERVER_SECONDS * 1000)
    expect(verdict.locator(".broken-rules li", has_text="rule 3: ").first).to_be_visible()
    expect(first).to_have_class(re.compile(r"\bdrop-bad\b"))
    dragged = time.monotonic() - began
    page.screenshot(path=screenshots / "drag-check.png")
    assert 1 <= len(checks) <= 2 + dragged / 0.3, f"{len(checks)} checks in {dragged:.1f} s: at most one per 300 ms"
    page.mouse.up()
    refused = page.locator("#edit-message.error")
    expect(refused).to_contain_text("The move was refused")
    expect(refused.locator(".broken-rules li", has_text="rule 3: ").first).to_be_visible()
    assert "&from=" not in page.url, "a refused drop makes no draft"

    # With Shift onto the neighbour: the two swap as one draft.
    first.scroll_into_view_if_needed()
    start, onto = first.bounding_box(), second.bounding_box()
    assert start is not None and onto is not None
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.keyboard.down("Shift")
    page.mouse.down()
    page.mouse.move(onto["x"] + onto["width"] / 2, onto["y"] + onto["height"] / 2, steps=12)
    expect(second).to_have_class(re.compile(r"\bswap-target\b"))
    expect(page.locator("#drop-verdict")).to_contain_text(
        "Swapping these two blocks keeps every rule", timeout=SERVER_SECONDS * 1000
    )
    page.mouse.up()
    page.keyboard.up("Shift")
    _swapped_draft(page, facility, later, earlier)
    page.wait_for_function("document.documentElement.dataset.drawn")
    assert _severe_violations(page) == []


def test_a_swap_is_made_with_the_keyboard_alone(
    facility: Served,
    a_swap: tuple[c.Allocation, c.Allocation],
    browser: sync_api.BrowserContext,  # noqa: F811
) -> None:
    """Enter on a block opens its details; "Swap with another block…" sends focus back to the timeline, where the
    arrow keys reach the other block and Enter swaps the two."""
    expect = sync_api.expect
    later, earlier = a_swap
    page = browser.new_page()
    week = earlier.start_shift // 21 + 1
    _open_published_week(page, facility, week)
    page.locator(f".timeline .block[data-request='{earlier.request}']").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#block-details")).to_be_visible()
    page.focus("#swap-start")
    page.keyboard.press("Enter")
    expect(page.locator("#edit-message")).to_contain_text(f"Swap {earlier.request} with which block?")
    assert page.evaluate("document.activeElement.dataset.request") == earlier.request
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.request") == later.request
    page.keyboard.press("Enter")
    _swapped_draft(page, facility, later, earlier)
