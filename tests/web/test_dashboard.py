"""The dashboard's pages over HTTP, on SQLite and PostgreSQL: sign-in, access rules, and what the pages show."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from api.web.session import CSRF_COOKIE, CSRF_HEADER
from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import Facility, Instrument, Proposal, ScheduleVersion
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation, ScheduleFile
from scheduler.rounds.importer import import_round
from scheduler.rounds.kept import kept_round
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
        published = await session.scalar(
            select(col(ScheduleVersion.id)).where(col(ScheduleVersion.round_id) == round_id)
        )
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


def payload(html: str) -> dict[str, Any]:
    """The page's one JSON payload, which its script draws the timelines and lists from."""
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.DOTALL)
    assert found is not None, "the page embeds no payload"
    document: dict[str, Any] = json.loads(found.group(1))
    return document


def blocks_of(html: str, timeline: int = 0) -> list[dict[str, Any]]:
    """A timeline's blocks with their strings and rows looked up, as a reader of the payload sees them."""
    data = payload(html)
    strings = data["strings"]
    changes = ("moved", "resized", "dropped", "added")
    found = []
    for row, start, shifts, request, proposal, category, priority, flags in data["timelines"][timeline]["blocks"]:
        proposal_row = data["proposals"][proposal]
        found.append(
            {
                "request": strings[request],
                "proposal": strings[proposal_row[0]],
                "pi": strings[proposal_row[2]],
                "countries": [strings[country] for country in proposal_row[4]],
                "instrument": strings[data["instruments"][row][0]],
                "start_shift": start,
                "shifts": shifts,
                "category": strings[data["categories"][category][0]],
                "priority": priority,
                "pinned": bool(flags & 1),
                "change": changes[(flags >> 1) - 1] if flags >> 1 else None,
            }
        )
    return found


def placed(blocks: list[dict[str, Any]]) -> Counter[tuple[str, str, int, int]]:
    return Counter((b["request"], b["instrument"], b["start_shift"], b["shifts"]) for b in blocks)


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

    blocks = blocks_of(html)
    assert placed(blocks) == Counter((a.request, a.instrument, a.start_shift, a.shifts) for a in schedule.allocations)
    data = payload(html)
    strings = data["strings"]
    instruments = [strings[row[0]] for row in data["instruments"]]
    assert set(instruments) == {"SKIF-1-1", "SKIF-1-4", "PIK-SANS"}
    assert {b["request"] for b in blocks if b["pinned"]} == {"P-003-a"}
    categories = {b["request"]: b["category"] for b in blocks}
    assert categories["P-001-a"] == "domestic"
    assert categories["P-002-a"] == "group:BRICS"
    assert categories["P-004-a"] == "industrial"
    assert {b["request"]: b["countries"] for b in blocks}["P-003-b"] == ["CN", "KZ"]
    windows = [strings[window[3]] for window in data["windows"]]
    assert windows.count("machine_development") == 2  # SKIF's, on both of its instruments
    assert windows.count("maintenance") == 1
    changeovers = [(instruments[row], start, end) for row, start, end in data["timelines"][0]["changeovers"]]
    assert changeovers == [("PIK-SANS", 12, 13)]  # between P-006-a and P-003-b
    assert not elements(html, "block"), "blocks are drawn by the script, not sent as HTML"

    shifts_per_week = 21
    zoomed = payload(first_week)["round"]
    assert (zoomed["week"], zoomed["weeks"][0]) == (1, [0, shifts_per_week])


async def test_idle_shifts_are_counted_per_instrument_and_week(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        data = payload(await page(client, f"/ui/rounds/{world.round_id}"))
    strings = data["strings"]
    idle = dict(zip((strings[row[0]] for row in data["instruments"]), data["timelines"][0]["idle"], strict=True))
    # PIK-SANS, week 1 (shifts 0-20): P-006-a holds 0-11, the changeover 12, P-003-b 13-21 (of which 13-20 here).
    assert idle["PIK-SANS"][0] == 0
    # SKIF-1-1 holds only P-001-a (9 shifts from 9) in week 1; SKIF's machine development window takes its share.
    week_one, *_ = data["round"]["weeks"]
    blocked = sum(
        max(0, min(end, week_one[1]) - max(start, week_one[0]))
        for row, start, end, *_ in data["windows"]
        if strings[data["instruments"][row][0]] == "SKIF-1-1"
    )
    assert idle["SKIF-1-1"][0] == week_one[1] - week_one[0] - 9 - blocked


async def test_a_block_of_a_proposal_withdrawn_since_stays_on_the_timeline(
    database_url: str, sessions: Sessions
) -> None:
    world = await _world(sessions)
    async with sessions() as session:
        proposal_id = await session.scalar(select(col(Proposal.id)).where(col(Proposal.code) == "P-001"))
    async with api_client(database_url) as client:
        withdrawn = await client.post(f"/proposals/{proposal_id}/withdraw", headers=await login(client, world.proposer))
        assert withdrawn.status_code == 200, withdrawn.text
        await sign_in(client, world.coordinator)
        html = await page(client, f"/ui/rounds/{world.round_id}")

    categories = {b["request"]: b["category"] for b in blocks_of(html)}
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
    data = payload(html)
    strings = data["strings"]
    code = {index: strings[row[0]] for index, row in enumerate(data["proposals"])}
    ranked = [(code[row[0]], row[1], row[4], row[5]) for row in data["ranking"]["rows"]]
    assert ranked[-1][0] == "P-005"
    rank = {proposal: rank for proposal, rank, *_ in ranked}
    assert rank["P-006"] < data["ranking"]["cutoff"] <= rank["P-005"]
    allocated = Counter[str]()
    for allocation in schedule.allocations:
        allocated[allocation.proposal] += allocation.shifts
    assert {proposal: shifts for proposal, _, _, shifts in ranked} == {p: allocated[p] for p in rank}
    unallocated = {strings[row[0]]: row for row in data["unallocated"]}
    assert unallocated.keys() == {item.request for item in schedule.unallocated} == {"P-005-a"}
    reason, detail = schedule.unallocated[0].reason, schedule.unallocated[0].detail
    assert strings[unallocated["P-005-a"][2]] == reason
    assert (strings[unallocated["P-005-a"][3]] if unallocated["P-005-a"][3] != -1 else None) == detail


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
        changed = [
            (b["request"], b["start_shift"], b["change"]) for t in (0, 1) for b in blocks_of(html, t) if b["change"]
        ]
        assert changed == [("P-001-a", 9, "moved"), ("P-001-a", 20, "moved")]
        assert _scripts(html) == ["/ui/static/timeline.js"]
        assert elements(html, "tooltip")

        round_page = await page(client, f"/ui/rounds/{world.round_id}?version={draft}")
        (button,) = elements(round_page, "publish")
        assert _scripts(round_page) == [
            "/ui/static/timeline.js",
            "/ui/static/page.js",
            "/ui/static/round.js",
            "/ui/static/solve.js",
        ]
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
        now_shown = placed(blocks_of(await page(client, f"/ui/rounds/{world.round_id}")))
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


async def test_the_lists_download_as_csv_with_reasons(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    schedule = await schedule_of(sessions, world.published)
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        ranking = await client.get(f"/ui/rounds/{world.round_id}/ranking.csv?version={world.published}")
        unallocated = await client.get(f"/ui/rounds/{world.round_id}/unallocated.csv")
        html = await page(client, f"/ui/rounds/{world.round_id}")
        await sign_in(client, world.stranger)
        hidden = await client.get(f"/ui/rounds/{world.round_id}/ranking.csv")

    assert ranking.status_code == 200, ranking.text
    assert ranking.headers["content-type"].startswith("text/csv")
    assert "attachment" in ranking.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(ranking.text)))
    data = payload(html)
    assert [row["proposal"] for row in rows] == [
        data["strings"][data["proposals"][r[0]][0]] for r in data["ranking"]["rows"]
    ]
    allocated = Counter[str]()
    for allocation in schedule.allocations:
        allocated[allocation.proposal] += allocation.shifts
    for row in rows:
        assert int(row["allocated_shifts"]) == allocated[row["proposal"]]
        assert int(row["shortfall_shifts"]) == int(row["requested_shifts"]) - int(row["allocated_shifts"])
    (missing,) = list(csv.DictReader(io.StringIO(unallocated.text)))
    (entry,) = schedule.unallocated
    assert (missing["request"], missing["reason"], missing["detail"]) == (
        entry.request,
        entry.reason,
        entry.detail or "",
    )
    assert hidden.status_code == 404


async def test_a_list_shows_its_rows_or_says_it_has_none(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        same = f"/ui/rounds/{world.round_id}/compare?before={world.published}&after={world.published}"
        unchanged = await page(client, same)
        round_html = await page(client, f"/ui/rounds/{world.round_id}")

    assert elements(unchanged, "change-row") == []
    assert "The two versions allocate the same." in unchanged
    assert [row["data-version"] for row in elements(round_html, "current")] == [str(world.published)]
    assert "No versions yet." not in round_html


async def test_each_instruments_schedule_for_beamline_staff(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        html = await page(client, f"/ui/rounds/{world.round_id}/instruments")
        one = await page(client, f"/ui/rounds/{world.round_id}/instruments?instrument=PIK-SANS")
        unknown = await client.get(f"/ui/rounds/{world.round_id}/instruments?instrument=NOPE")

    sections = {section["data-instrument"] for section in elements(html, "instrument-schedule")}
    assert sections == {"SKIF-1-1", "SKIF-1-4", "PIK-SANS"}
    assert [slot["data-request"] for slot in elements(one, "instrument-slot")] == ["P-006-a", "P-003-b"]
    assert "Asia/Novosibirsk" in html
    assert unknown.status_code == 404 and "no instrument NOPE" in unknown.text


async def test_moves_and_pins_from_the_page_go_through_the_apis_rules(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    moves = f"/ui/schedules/{world.published}/edits"
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        headers = await from_the_page(client)
        onto_p004 = {"request": "P-001-a", "instrument": "SKIF-1-4", "start_shift": 0, "shifts": 9}
        overlapping = await client.post(moves, json={"moves": [onto_p004]}, headers=headers)
        assert overlapping.status_code == 422, overlapping.text
        assert overlapping.json()["errors"] and all("rule" in error for error in overlapping.json()["errors"])
        moved = await client.post(
            moves,
            json={"moves": [{"request": "P-001-a", "instrument": "SKIF-1-1", "start_shift": 20, "shifts": 9}]},
            headers=headers,
        )
        assert moved.status_code == 201, moved.text
        draft = moved.json()["id"]
        pinned = await client.post(f"/ui/schedules/{draft}/allocations/P-001-a/pin", headers=headers)
        assert pinned.status_code == 200 and pinned.json()["pinned"] is True
        diff = await client.get(f"/ui/schedules/{world.published}/diff/{draft}")
        assert [change["request"] for change in diff.json()["moved"]] == ["P-001-a"]
        html = await page(client, f"/ui/rounds/{world.round_id}?version={draft}")
        assert {b["request"] for b in blocks_of(html) if b["pinned"]} == {"P-001-a", "P-003-a"}
        unpinned = await client.delete(f"/ui/schedules/{draft}/allocations/P-001-a/pin", headers=headers)
        assert unpinned.status_code == 200 and unpinned.json()["pinned"] is False
        assert (await client.post(moves, json={"moves": []})).status_code == 403, "no CSRF token, no move"


async def test_the_round_page_links_the_versions_export_and_the_page_may_fetch_it(
    database_url: str, sessions: Sessions
) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        html = await page(client, f"/ui/rounds/{world.round_id}")
        exported = await client.get(f"/ui/schedules/{world.published}/export")
    links = {link["href"] for link in elements(html, "downloads-link")}
    assert links == {
        f"/ui/schedules/{world.published}/export?format=csv",
        f"/ui/schedules/{world.published}/export?format=xlsx",
    }
    assert exported.status_code == 200, exported.text


async def test_a_change_through_the_api_shows_on_the_round_page_at_once(database_url: str, sessions: Sessions) -> None:
    """The round's export is kept between views (`scheduler.rounds.kept`); a change of what it is read from, by
    anyone, shows on the very next view: a proposal withdrawn by its proposer, a window on an instrument."""
    world = await _world(sessions)
    async with sessions() as session:
        proposal_id = await session.scalar(select(col(Proposal.id)).where(col(Proposal.code) == "P-001"))
        instrument_id = await session.scalar(select(col(Instrument.id)).where(col(Instrument.code) == "PIK-SANS"))
        first, again = await kept_round(session, world.round_id), await kept_round(session, world.round_id)
    assert again is first, "a second read of an unchanged round is the kept one"
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        before = await page(client, f"/ui/rounds/{world.round_id}")
        assert {b["request"]: b["category"] for b in blocks_of(before)}["P-001-a"] != "withdrawn"

        withdrawn = await client.post(f"/proposals/{proposal_id}/withdraw", headers=await login(client, world.proposer))
        assert withdrawn.status_code == 200, withdrawn.text
        await sign_in(client, world.coordinator)
        after = await page(client, f"/ui/rounds/{world.round_id}")
        assert {b["request"]: b["category"] for b in blocks_of(after)}["P-001-a"] == "withdrawn"
        data = payload(after)
        ranked = {data["strings"][data["proposals"][row[0]][0]] for row in data["ranking"]["rows"]}
        assert "P-001" not in ranked and "P-002" in ranked

        window = {"start": "2027-02-13T08:00:00+03:00", "end": "2027-02-14T08:00:00+03:00", "kind": "maintenance"}
        added = await client.post(
            f"/instruments/{instrument_id}/windows", json=window, headers=await login(client, world.coordinator)
        )
        assert added.status_code == 201, added.text
        await sign_in(client, world.coordinator)
        data = payload(await page(client, f"/ui/rounds/{world.round_id}"))
        windows = {
            (data["strings"][data["instruments"][row][0]], start, end) for row, start, end, *_ in data["windows"]
        }
        assert ("PIK-SANS", 36, 39) in windows
