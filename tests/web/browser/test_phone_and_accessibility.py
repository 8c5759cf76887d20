"""The dashboard on a phone and to axe-core, in headless Chromium against the real app (see test_dashboard_browser).

The proposer page at 390 px fits the screen in both languages, its targets are at least 24 × 24 px and its
slots read as cards with Russian dates in Russian; axe-core (the copy bundled with `axe_playwright_python`)
finds no serious or critical violation on the login, rounds and proposer pages, nor on the round page in Russian,
whose scripts draw the timeline with Russian words and dates. The Russian page at 390 px is
the README's screenshot (`proposer-phone-ru.png`, written where $BEAMTIME_SCREENSHOTS says); printed, the page
leaves out the header and the forms.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from babel import Locale
from sqlalchemy import select, update
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.tables import Proposal, User
from scheduler.roundfile.checks import load_round
from scheduler.rounds.importer import import_round
from tests.web.browser.test_dashboard_browser import (  # noqa: F401 (the fixtures are used by name)
    ANA,
    COORDINATOR,
    Server,
    _sign_in,
    browser,
    screenshots,
    server,
    sync_api,
)
from tests.web.test_dashboard import PUBLISHED

PHONE = {"width": 390, "height": 844}
RUSSIAN_DATE = re.compile(r"\d{2} (янв|февр|мар|апр|мая|июн|июл|авг|сент|окт|нояб|дек)\.? \d{4}, \d{2}:\d{2}")
ENGLISH_DATE = re.compile(r"\d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}, \d{2}:\d{2}")
RUSSIAN_PLURAL = Locale.parse("ru").plural_form
"""CLDR's plural category of a count in Russian (one, few, many), as the page's Intl.PluralRules has it."""
RUSSIAN_WEEK = re.compile(r"^Неделя 1: \d{2} (янв|февр|мар|апр|мая|июн|июл|авг|сент|окт|нояб|дек)\.?")
TARGETS = "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]"
BLOCKING = ("serious", "critical")


async def _publish_example_round(database_url: str) -> None:
    """The example round beside the small one, all Ana's, with a published schedule: slots to show."""
    round_file = load_round(EXAMPLE_ROUND).model_copy(update={"previous_schedule": PUBLISHED})
    engine = create_engine(database_url)
    async with session_maker(engine).begin() as session:
        ana = await session.scalar(select(col(User.id)).where(col(User.email) == ANA))
        assert ana is not None
        round_id = await import_round(session, round_file, owner_id=ana)
        await session.execute(update(Proposal).where(col(Proposal.round_id) == round_id).values(owner_id=ana))
    await engine.dispose()


@pytest.fixture(scope="module")
def published(server: Server) -> Server:  # noqa: F811 (the imported fixture)
    asyncio.run(_publish_example_round(server.database_url))
    return server


def _switch_language(page: sync_api.Page, name: str) -> None:
    page.click(f"form.language button:text-is('{name}')")
    sync_api.expect(page.locator("form.language button[aria-pressed=true]")).to_have_text(name)


def _too_small_targets(page: sync_api.Page) -> list[str]:
    """Visible targets smaller than 24 × 24 CSS px (WCAG 2.2, 2.5.8)."""
    found: list[str] = page.eval_on_selector_all(
        TARGETS,
        """all => all.filter(e => e.getClientRects().length).map(e => [e, e.getBoundingClientRect()])
            .filter(([e, r]) => r.width < 24 || r.height < 24)
            .map(([e, r]) => `${e.outerHTML.slice(0, 80)} ${Math.round(r.width)}×${Math.round(r.height)}`)""",
    )
    return found


def test_the_proposer_page_fits_a_phone_in_both_languages(
    published: Server,
    browser: sync_api.BrowserContext,  # noqa: F811
    screenshots: Path,  # noqa: F811
) -> None:
    page = browser.new_page()
    page.set_viewport_size(PHONE)
    page.goto(f"{published.url}/ui/me")
    _sign_in(page, ANA)
    sync_api.expect(page).to_have_url(f"{published.url}/ui/me")
    slots = page.locator(".slot")
    sync_api.expect(slots.first).to_be_visible()
    for language, date in (("English", ENGLISH_DATE), ("Русский", RUSSIAN_DATE)):
        _switch_language(page, language)
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{language}: the page is {width[0]} px wide on a {width[1]} px screen"
        assert _too_small_targets(page) == [], language
        sign_out = page.locator("form[action='/ui/logout'] button").bounding_box()
        assert sign_out is not None and sign_out["x"] + sign_out["width"] <= PHONE["width"], language
        first = slots.first.inner_text()
        assert date.search(first), f"{language}: {first!r}"
    page.screenshot(path=screenshots / "proposer-phone-ru.png")

    page.emulate_media(media="print")
    sync_api.expect(page.locator(".topbar")).to_be_hidden()
    sync_api.expect(page.locator("#new-calendar-url")).to_be_hidden()
    sync_api.expect(slots.first).to_be_visible()


def _blocking_violations(page: sync_api.Page) -> list[str]:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="needs axe-playwright-python")
    results: dict[str, Any] = axe.Axe().run(page).response
    return [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']][:5]}"
        for violation in results["violations"]
        if violation["impact"] in BLOCKING
    ]


@pytest.mark.parametrize("language", ["English", "Русский"])
def test_axe_finds_nothing_serious_on_the_login_rounds_and_proposer_pages(
    published: Server,
    browser: sync_api.BrowserContext,  # noqa: F811
    language: str,
) -> None:
    page = browser.new_page()
    page.goto(f"{published.url}/ui/login")
    _switch_language(page, language)
    found = {"login": _blocking_violations(page)}
    _sign_in(page, COORDINATOR)
    sync_api.expect(page).to_have_url(f"{published.url}/ui/rounds")
    found["rounds"] = _blocking_violations(page)
    page.click("form[action='/ui/logout'] button")
    _sign_in(page, ANA)
    sync_api.expect(page.locator(".slot").first).to_be_visible()
    found["proposer"] = _blocking_violations(page)
    page.set_viewport_size(PHONE)
    found["proposer at 390 px"] = _blocking_violations(page)
    assert found == {name: [] for name in found}


def test_the_round_page_draws_in_russian(
    published: Server,
    browser: sync_api.BrowserContext,  # noqa: F811
) -> None:
    """The scripts' words and dates come from the page: in Russian the timeline's period and solve panel are too."""
    page = browser.new_page()
    page.goto(f"{published.url}/ui/login")
    _switch_language(page, "Русский")
    _sign_in(page, COORDINATOR)
    page.click("table a:text-is('Example round, two weeks')")
    sync_api.expect(page.locator(".timeline .block").first).to_be_visible()
    page.click("button.zoom-level[data-zoom='week']")
    sync_api.expect(page.locator(".zoom-period").first).to_have_text(RUSSIAN_WEEK)
    sync_api.expect(page.locator("#versions .badge").first).to_have_text("опубликовано")
    idle = page.eval_on_selector_all(".tl-idle", "all => all.map(b => [Number(b.dataset.idle), b.textContent])")
    shifts = {"one": "смена", "few": "смены", "many": "смен"}
    assert idle and all(text == f"простой: {n} {shifts[RUSSIAN_PLURAL(n)]}" for n, text in idle), idle
    assert _blocking_violations(page) == []
