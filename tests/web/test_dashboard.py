"""The dashboard's pages over HTTP, on SQLite and PostgreSQL: sign-in, access rules, and what the pages show."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from api.web.session import CSRF_COOKIE, CSRF_HEADER
from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import Facility, Proposal, ScheduleVersion
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation, ScheduleFile
from scheduler.rounds.importer import import_round
from scheduler.schedules.export import export_schedule
from tests.api_helpers import PASSWORD, Client, api_client, login, make_user

EXAMPLE = EXAMPLE_ROUND
PUBLISHED = [
    PreviousAllocation(request="P-001-a", instrument="SKIF-1-1", start_shift=9, shifts=9),
    PreviousAllocation(request="P-004-a", instrument="SKIF-1-4", start_shift=0, shifts=6),
    PreviousAllocation(request="P-003-a", instrument="SKIF-1-4", start_shift=9, shifts=3, pinned=True),
    PreviousAllocation(request="P-002-a", instrument="SKIF-1-4", start_shift=12, shifts=6),
    PreviousAllocation(request="P-006-a", instrument="PIK-SANS", start_shift=0, shifts=12),
    PreviousAllocation(request="P-003-b", instrument="PIK-SANS", start_shift=13, shifts=9),
]
"""An optimal schedule of the example round, imported as its published version."""

Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class World:
    round_id: int
    published: int
    coordinator: str = "coord@example.org"
    stranger: str = "esrf@example.org"
    """A coordinator of another facility."""
    proposer: str = "pi@example.org"
    """Owns P-001 and P-003."""
    outsider: str = "other@example.org"
    """A proposer who owns the other proposals."""


async def _world(sessions: Sessions) -> World:
    round_file = load_round(EXAMPLE).model_copy(update={"previous_schedule": PUBLISHED})
    outsider = await make_user(sessions, "proposer", World.outsider)
    async with sessions.begin() as session:
        round_id = await import_round(session, round_file, owner_id=outsider)
        session.add(Facility(code="ESRF", name="ESRF", country="FR", timezone="Europe/Paris"))
        published = await session.scalar(select(ScheduleVersion.id).where(ScheduleVersion.round_id == round_id))
    assert published is not None
    await make_user(sessions, "coordinator", World.coordinator, facility_codes=["SKIF", "PIK"])
    await make_user(sessions, "coordinator", World.stranger, facility_codes=["ESRF"])
    proposer = await make_user(sessions, "proposer", World.proposer)
    async with sessions.begin() as session:
        await session.execute(
            update(Proposal)
            .where(col(Proposal.round_id) == round_id, col(Proposal.code).in_(["P-001", "P-003"]))
            .values(owner_id=proposer)
        )
    return World(round_id, published)


class _Elements(HTMLParser):
    """The attributes of every element with a given class, in document order."""

    def __init__(self, css_class: str) -> None:
        super().__init__()
        self.css_class = css_class
        self.found: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if self.css_class in attributes.get("class", "").split():
            self.found.append(attributes)


def elements(html: str, css_class: str) -> list[dict[str, str]]:
    parser = _Elements(css_class)
    parser.feed(html)
    return parser.found


def _scripts(html: str) -> list[str]:
    return re.findall(r'<script src="([^"]+)"', html)


async def from_the_page(client: Client) -> dict[str, str]:
    """What the page's forms and script send: the CSRF cookie's value, which a page's GET sets."""
    if CSRF_COOKIE not in client.cookies:
        await client.get("/ui/login")
    return {CSRF_HEADER: client.cookies[CSRF_COOKIE]}


async def sign_in(client: Client, email: str) -> None:
    client.cookies.clear()
    response = await client.post(
        "/ui/login",
        data={"email": email, "password": PASSWORD, "next": "/ui/"},
        headers=await from_the_page(client),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


async def page(client: Client, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def schedule_of(sessions: Sessions, version_id: int) -> ScheduleFile:
    async with sessions() as session:
        return await export_schedule(session, version_id)


def placed(blocks: list[dict[str, str]]) -> Counter[tuple[str, str, int, int]]:
    return Counter(
        (b["data-request"], b["data-instrument"], int(b["data-start-shift"]), int(b["data-shifts"])) for b in blocks
    )


async def test_signing_in_keeps_the_token_in_a_strict_http_only_cookie(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    round_page = f"/ui/rounds/{world.round_id}?week=1"
    async with api_client(database_url) as client:
        response = await client.get(round_page, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/ui/login?next=/ui/rounds/{world.round_id}?week=1"
        for path in ("/", "/ui/", "/ui/rounds", "/ui/me", f"/ui/rounds/{world.round_id}/compare?before=1&after=1"):
            assert (await client.get(path, follow_redirects=False)).status_code == 303, path
        started = await client.post(f"/ui/rounds/{world.round_id}/solves", json={}, headers=await from_the_page(client))
        assert started.status_code == 401
        assert started.headers["content-type"] == "application/problem+json"

        wrong = await client.post(
            "/ui/login",
            data={"email": world.coordinator, "password": "not the password"},
            headers=await from_the_page(client),
        )
        assert wrong.status_code == 401
        assert "Wrong e-mail or password" in wrong.text
        assert "set-cookie" not in wrong.headers

        response = await client.post(
            "/ui/login",
            data={"email": world.coordinator, "password": PASSWORD, "next": round_page},
            headers=await from_the_page(client),
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == round_page
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert (await client.get(round_page)).status_code == 200
        assert (await client.get("/ui/", follow_redirects=False)).headers["location"] == "/ui/rounds"

        away = await client.post(
            "/ui/login",
            data={"email": world.proposer, "password": PASSWORD, "next": "//evil.example/ui/"},
            headers=await from_the_page(client),
            follow_redirects=False,
        )
        assert away.headers["location"] == "/ui/"
        assert (await client.get("/ui/", follow_redirects=False)).headers["location"] == "/ui/me"

        from_elsewhere = await client.post(
            "/ui/login",
            data={"email": world.proposer, "password": PASSWORD},
            headers={"Origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert from_elsewhere.status_code == 403
        assert "set-cookie" not in from_elsewhere.headers

        signed_out = await client.post("/ui/logout", headers=await from_the_page(client), follow_redirects=False)
        assert signed_out.headers["location"] == "/ui/login"
        assert (await client.get("/ui/me", follow_redirects=False)).status_code == 303


async def test_only_a_rounds_coordinators_see_its_page(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    path = f"/ui/rounds/{world.round_id}"
    async with api_client(database_url) as client:
        for email in (world.proposer, world.stranger):
            await sign_in(client, email)
            for forbidden in (path, f"{path}/compare?before={world.published}&after={world.published}"):
                response = await client.get(forbidden)
                assert response.status_code == 404, (email, forbidden)
                assert "Not found" in response.text
        assert f'href="{path}"' not in await page(client, "/ui/rounds")
        solve = await client.post(f"/ui/rounds/{world.round_id}/solves", json={}, headers=await from_the_page(client))
        assert solve.status_code == 403

        await sign_in(client, world.coordinator)
        assert f'href="{path}"' in await page(client, "/ui/rounds")
        assert "Timeline" in await page(client, path)
        for wrong, status in ((f"{path}?week=3", 404), (f"{path}?week=first", 400), ("/ui/rounds/999", 404)):
            response = await client.get(wrong)
            assert response.status_code == status, wrong
            assert response.headers["content-type"].startswith("text/html"), wrong


async def test_the_timeline_shows_the_published_allocations(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    schedule = await schedule_of(sessions, world.published)
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        html = await page(client, f"/ui/rounds/{world.round_id}")
        first_week = await page(client, f"/ui/rounds/{world.round_id}?version={world.published}&week=1")

    blocks = elements(html, "block")
    assert placed(blocks) == Counter((a.request, a.instrument, a.start_shift, a.shifts) for a in schedule.allocations)
    rows = {row["data-instrument"] for row in elements(html, "tl-row")}
    assert rows == {"SKIF-1-1", "SKIF-1-4", "PIK-SANS"}
    assert {b["data-request"] for b in blocks if b["data-pinned"] == "yes"} == {"P-003-a"}
    assert {b["data-request"] for b in blocks if "pinned" in b["class"].split()} == {"P-003-a"}
    categories = {b["data-request"]: b["data-category"] for b in blocks}
    assert categories["P-001-a"] == "domestic"
    assert categories["P-002-a"] == "group:BRICS"
    assert categories["P-004-a"] == "industrial"
    assert {b["data-request"]: b["data-countries"] for b in blocks}["P-003-b"] == "CN, KZ"
    windows = [w["data-kind"] for w in elements(html, "window")]
    assert windows.count("machine_development") == 2  # SKIF's, on both of its instruments
    assert windows.count("maintenance") == 1
    changeovers = [(int(c["data-start-shift"]), int(c["data-end-shift"])) for c in elements(html, "changeover")]
    assert changeovers == [(12, 13)]  # PIK-SANS, between P-006-a and P-003-b

    shifts_per_week = 21
    assert placed(elements(first_week, "block")) == Counter(
        (a.request, a.instrument, a.start_shift, a.shifts)
        for a in schedule.allocations
        if a.start_shift < shifts_per_week
    )


async def test_a_block_of_a_proposal_withdrawn_since_stays_on_the_timeline(
    database_url: str, sessions: Sessions
) -> None:
    world = await _world(sessions)
    async with sessions() as session:
        proposal_id = await session.scalar(select(Proposal.id).where(Proposal.code == "P-001"))
    async with api_client(database_url) as client:
        withdrawn = await client.post(f"/proposals/{proposal_id}/withdraw", headers=await login(client, world.proposer))
        assert withdrawn.status_code == 200, withdrawn.text
        await sign_in(client, world.coordinator)
        html = await page(client, f"/ui/rounds/{world.round_id}")

    categories = {b["data-request"]: b["data-category"] for b in elements(html, "block")}
    assert categories["P-001-a"] == "withdrawn"
    assert len(categories) == len(PUBLISHED)


async def test_quotas_ranking_and_unallocated_are_the_schedules(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    schedule = await schedule_of(sessions, world.published)
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        html = await page(client, f"/ui/rounds/{world.round_id}")

    quotas = {q["data-quota"]: q["class"].split() for q in elements(html, "quota")}
    assert quotas.keys() == {report.id for report in schedule.quotas}
    for report in schedule.quotas:
        assert ("met" if report.met else "missed") in quotas[report.id]
    ranked = [row["data-proposal"] for row in elements(html, "ranked")]
    assert ranked[-1] == "P-005"
    assert html.index('class="cutoff"') < html.index('data-proposal="P-005"')
    assert html.index('data-proposal="P-006"') < html.index('class="cutoff"')
    unallocated = {row["data-request"] for row in elements(html, "unallocated-row")}
    assert unallocated == {item.request for item in schedule.unallocated} == {"P-005-a"}


async def test_a_proposer_sees_only_their_own_slots(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        await sign_in(client, world.proposer)
        mine = await page(client, "/ui/me")
        await sign_in(client, world.outsider)
        theirs = await page(client, "/ui/me")

    assert {p["data-proposal"] for p in elements(mine, "proposal")} == {"P-001", "P-003"}
    slots = {(s["data-request"], s["data-instrument"], int(s["data-shifts"])) for s in elements(mine, "slot")}
    assert slots == {(a.request, a.instrument, a.shifts) for a in PUBLISHED if a.request[:5] in ("P-001", "P-003")}
    for other in ("P-002", "P-004", "P-005", "P-006"):
        assert other not in mine
    assert "Thu 04 Feb 2027, 12:00" in mine  # P-003-a: 05:00 UTC on 1 Feb + 9 shifts, in Asia/Novosibirsk (+07)
    assert "/calendar/" not in mine and "Make my calendar link" in mine, "an address is shown once, when made"
    assert "No changes yet" in mine
    assert {p["data-proposal"] for p in elements(theirs, "proposal")} == {"P-002", "P-004", "P-005", "P-006"}
    assert "P-001-a" not in theirs


async def test_publishing_and_comparing_a_moved_draft(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        headers = await login(client, world.coordinator)
        moved = await client.post(
            f"/schedules/{world.published}/moves",
            json={"request": "P-001-a", "instrument": "SKIF-1-1", "start_shift": 20, "shifts": 9},
            headers=headers,
        )
        assert moved.status_code == 201, moved.text
        draft = moved.json()["id"]

        await sign_in(client, world.coordinator)
        html = await page(client, f"/ui/rounds/{world.round_id}/compare?before={world.published}&after={draft}")
        assert [(c["data-request"], c["data-change"]) for c in elements(html, "change-row")] == [("P-001-a", "moved")]
        changed = [(b["data-request"], b["data-start-shift"]) for b in elements(html, "block") if "data-change" in b]
        assert changed == [("P-001-a", "9"), ("P-001-a", "20")]
        assert _scripts(html) == ["/ui/static/timeline.js"]
        assert elements(html, "tooltip")

        round_page = await page(client, f"/ui/rounds/{world.round_id}?version={draft}")
        (button,) = elements(round_page, "publish")
        assert _scripts(round_page) == ["/ui/static/timeline.js", "/ui/static/round.js"]
        assert elements(round_page, "tooltip")
        assert '<a href="/ui/rounds" aria-current="page">' in round_page
        assert button["data-revision"] == "0"
        publish = f"/ui/schedules/{draft}/publish"
        assert (await client.post(publish, json={"expected_revision": 0})).status_code == 403
        stale = await client.post(publish, json={"expected_revision": 7}, headers=await from_the_page(client))
        assert stale.status_code == 409
        assert stale.json()["current_revision"] == 0
        published = await client.post(publish, json={"expected_revision": 0}, headers=await from_the_page(client))
        assert published.status_code == 200, published.text
        assert published.json()["revision"] == 1
        now_shown = placed(elements(await page(client, f"/ui/rounds/{world.round_id}"), "block"))
        assert now_shown[("P-001-a", "SKIF-1-1", 20, 9)] == 1

        await sign_in(client, world.proposer)
        changes = elements(await page(client, "/ui/me"), "change")
        assert [(c["data-request"], c["data-change"]) for c in changes] == [("P-001-a", "moved")]


async def test_a_solve_is_started_watched_and_cancelled_from_the_page(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        started = await client.post(
            f"/ui/rounds/{world.round_id}/solves", json={"time_limit": 3}, headers=await from_the_page(client)
        )
        assert started.status_code == 202, started.text
        run = started.json()
        assert (run["state"], run["settings"]["time_limit"]) == ("queued", 3.0)
        html = await page(client, f"/ui/rounds/{world.round_id}")
        (panel,) = [p for p in elements(html, "card") if p.get("id") == "solve-panel"]
        assert panel["data-live-run"] == str(run["id"])

        watched = await client.get(f"/ui/solves/{run['id']}")
        assert watched.json()["state"] == "queued"
        cancelled = await client.delete(f"/ui/solves/{run['id']}", headers=await from_the_page(client))
        assert cancelled.status_code == 202
        assert cancelled.json()["state"] == "cancelled"

        await sign_in(client, world.stranger)
        assert (await client.get(f"/ui/solves/{run['id']}")).status_code == 404


async def test_another_site_cannot_sign_a_user_out(database_url: str, sessions: Sessions) -> None:
    """The finding: `POST /ui/logout` had no Origin check, so a foreign page could sign a coordinator out. It is a
    form like the others: without the page's CSRF token it is refused, and the session holds."""
    world = await _world(sessions)
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        forgeries = (
            {"headers": {"Origin": "https://evil.example"}},
            {"headers": {"Origin": "https://evil.example"}, "data": {"_csrf_token": "guessed"}},
            {"headers": {"Referer": "https://evil.example/page"}},
        )
        for forgery in forgeries:
            forged = await client.post("/ui/logout", follow_redirects=False, **forgery)  # type: ignore[arg-type]
            assert forged.status_code == 403, forgery
            assert "set-cookie" not in forged.headers, forgery
        assert (await client.get("/ui/rounds", follow_redirects=False)).status_code == 200

        signed_out = await client.post("/ui/logout", headers=await from_the_page(client), follow_redirects=False)
        assert signed_out.status_code == 303
        assert (await client.get("/ui/rounds", follow_redirects=False)).status_code == 303
