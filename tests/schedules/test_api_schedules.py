"""Schedule versions, proposer views and the calendar feed over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from icalendar import Calendar
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import Facility, Proposal, ScheduleVersion
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation
from scheduler.rounds.importer import import_round
from tests.api_helpers import Client, api_client, login, make_user

EXAMPLE = EXAMPLE_ROUND
SOLVED = [
    ("P-001-a", "SKIF-1-1", 9, 9),
    ("P-004-a", "SKIF-1-4", 0, 6),
    ("P-003-a", "SKIF-1-4", 9, 3),
    ("P-002-a", "SKIF-1-4", 12, 6),
    ("P-006-a", "PIK-SANS", 0, 12),
    ("P-003-b", "PIK-SANS", 13, 9),
]
"""An optimal schedule of the example round; it is imported as the published version."""

Sessions = async_sessionmaker[AsyncSession]
Headers = dict[str, str]


@dataclass(frozen=True)
class World:
    round_id: int
    published: int
    coordinator: str
    """E-mails to log in with."""
    stranger: str
    """A coordinator of another facility."""
    proposer: str
    """Owns P-001 and P-003."""
    outsider: str
    """A proposer who owns nothing in the round."""


async def _world(sessions: Sessions) -> World:
    previous = [PreviousAllocation(request=r, instrument=i, start_shift=s, shifts=n) for r, i, s, n in SOLVED]
    round_file = load_round(EXAMPLE).model_copy(update={"previous_schedule": previous})
    async with sessions.begin() as session:
        round_id = await import_round(session, round_file)
        session.add(Facility(code="ESRF", name="ESRF", country="FR", timezone="Europe/Paris"))
        published = await session.scalar(select(ScheduleVersion.id).where(ScheduleVersion.round_id == round_id))
    assert published is not None
    world = World(round_id, published, "coord@example.org", "esrf@example.org", "pi@example.org", "other@example.org")
    await make_user(sessions, "coordinator", world.coordinator, facility_codes=["SKIF", "PIK"])
    await make_user(sessions, "coordinator", world.stranger, facility_codes=["ESRF"])
    proposer = await make_user(sessions, "proposer", world.proposer)
    await make_user(sessions, "proposer", world.outsider)
    async with sessions.begin() as session:
        await session.execute(
            update(Proposal)
            .where(Proposal.round_id == round_id, col(Proposal.code).in_(["P-001", "P-003"]))
            .values(owner_id=proposer)
        )
    return world


async def _versions(client: Client, headers: Headers, round_id: int) -> dict[str, Any]:
    response = await client.get(f"/rounds/{round_id}/schedules", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _move(
    client: Client, headers: Headers, version: int, request: str, instrument: str, start: int, shifts: int
) -> int:
    response = await client.post(
        f"/schedules/{version}/moves",
        json={"request": request, "instrument": instrument, "start_shift": start, "shifts": shifts},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/schedules/{response.json()['id']}"
    draft: int = response.json()["id"]
    return draft


async def test_publishing_over_http_guards_the_revision(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        coordinator = await login(client, world.coordinator)
        listing = await _versions(client, coordinator, world.round_id)
        revision = listing["revision"]
        draft = await _move(client, coordinator, world.published, "P-001-a", "SKIF-1-1", 24, 9)
        later = await _move(client, coordinator, draft, "P-002-a", "SKIF-1-4", 14, 6)

        published = await client.post(
            f"/schedules/{draft}/publish", json={"expected_revision": revision}, headers=coordinator
        )
        assert published.status_code == 200, published.text
        assert published.json()["revision"] == revision + 1
        assert published.json()["superseded"] == world.published

        stale = await client.post(
            f"/schedules/{later}/publish", json={"expected_revision": revision}, headers=coordinator
        )
        assert stale.status_code == 409
        assert stale.headers["content-type"].startswith("application/problem+json")
        assert stale.json()["current_revision"] == revision + 1

        missing = await client.post(f"/schedules/{later}/publish", json={}, headers=coordinator)
        assert missing.status_code == 422
        assert [error["path"] for error in missing.json()["errors"]] == ["$.expected_revision"]

        listing = await _versions(client, coordinator, world.round_id)
        assert [(v["number"], v["status"]) for v in listing["items"]] == [
            (1, "superseded"),
            (2, "published"),
            (3, "draft"),
        ]
        assert (listing["total"], listing["limit"], listing["offset"]) == (3, 100, 0)
        second = await client.get(f"/rounds/{world.round_id}/schedules?limit=1&offset=1", headers=coordinator)
        assert second.status_code == 200, second.text
        page = second.json()
        assert ([v["number"] for v in page["items"]], page["total"], page["revision"]) == ([2], 3, revision + 1)


async def test_two_replicas_publishing_at_once_one_wins(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as first, api_client(database_url) as second:
        one, other = await login(first, world.coordinator), await login(second, world.coordinator)
        revision = (await _versions(first, one, world.round_id))["revision"]
        drafts = [
            await _move(first, one, world.published, "P-001-a", "SKIF-1-1", 24, 9),
            await _move(first, one, world.published, "P-001-a", "SKIF-1-1", 27, 9),
        ]

        answers = await asyncio.gather(
            first.post(f"/schedules/{drafts[0]}/publish", json={"expected_revision": revision}, headers=one),
            second.post(f"/schedules/{drafts[1]}/publish", json={"expected_revision": revision}, headers=other),
        )

        assert sorted(answer.status_code for answer in answers) == [200, 409]
        statuses = [v["status"] for v in (await _versions(first, one, world.round_id))["items"]]
        assert statuses.count("published") == 1


async def test_moves_pins_diff_and_export(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        coordinator = await login(client, world.coordinator)

        into_window = await client.post(
            f"/schedules/{world.published}/moves",
            json={"request": "P-001-a", "instrument": "SKIF-1-1", "start_shift": 3, "shifts": 9},
            headers=coordinator,
        )
        assert into_window.status_code == 422
        assert into_window.headers["content-type"].startswith("application/problem+json")
        assert [(e["rule"], e["path"]) for e in into_window.json()["errors"]] == [(2, "$.allocations[5]")]
        assert "machine_development" in into_window.json()["errors"][0]["message"]
        assert len((await _versions(client, coordinator, world.round_id))["items"]) == 1

        draft = await _move(client, coordinator, world.published, "P-001-a", "SKIF-1-1", 24, 8)
        pinned = await client.post(f"/schedules/{draft}/allocations/P-006-a/pin", headers=coordinator)
        assert (pinned.status_code, pinned.json()["pinned"]) == (200, True)
        unpinned = await client.delete(f"/schedules/{draft}/allocations/P-006-a/pin", headers=coordinator)
        assert (unpinned.status_code, unpinned.json()["pinned"]) == (200, False)
        on_published = await client.post(f"/schedules/{world.published}/allocations/P-006-a/pin", headers=coordinator)
        assert on_published.status_code == 409
        unknown = await client.post(f"/schedules/{draft}/allocations/P-005-a/pin", headers=coordinator)
        assert unknown.status_code == 404

        diff = (await client.get(f"/schedules/{world.published}/diff/{draft}", headers=coordinator)).json()
        assert [c["request"] for c in diff["resized"]] == []
        assert [(c["request"], c["after"]["start_shift"], c["after"]["shifts"]) for c in diff["moved"]] == [
            ("P-001-a", 24, 8)
        ]
        assert (diff["added"], diff["dropped"], diff["unchanged"]) == ([], [], 5)

        exported = await client.get(f"/schedules/{draft}/export", headers=coordinator)
        assert exported.status_code == 200
        assert exported.json()["format"] == "beamtime-schedule/1"
        assert {(a["request"], a["start_shift"]) for a in exported.json()["allocations"]} >= {("P-001-a", 24)}


async def test_who_may_see_and_change_schedules(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        coordinator = await login(client, world.coordinator)
        draft = await _move(client, coordinator, world.published, "P-001-a", "SKIF-1-1", 24, 9)
        revision = (await _versions(client, coordinator, world.round_id))["revision"]

        for email in (world.stranger, world.proposer):
            # Versions carry every proposal's priority and reasons: published ones are known to exist (403),
            # drafts are not (404). A proposer reads their own slots through /me/proposals instead.
            headers = await login(client, email)
            published = f"/schedules/{world.published}"
            assert (await client.get(f"/rounds/{world.round_id}/schedules", headers=headers)).status_code == 403
            assert (await client.get(published, headers=headers)).status_code == 403
            assert (await client.get(f"{published}/export", headers=headers)).status_code == 403
            assert (await client.get(f"{published}/diff/{world.published}", headers=headers)).status_code == 403
            assert (await client.get(f"/schedules/{draft}", headers=headers)).status_code == 404
            assert (await client.get(f"/schedules/{draft}/export", headers=headers)).status_code == 404
            assert (await client.get(f"{published}/diff/{draft}", headers=headers)).status_code == 404
            assert (await client.get(f"/schedules/{draft}/diff/{world.published}", headers=headers)).status_code == 404
            publish_draft = await client.post(
                f"/schedules/{draft}/publish", json={"expected_revision": revision}, headers=headers
            )
            # A proposer may publish nothing at all (403 for any id, so nothing leaks); another coordinator
            # may publish, but not know of this round's draft.
            assert publish_draft.status_code == (404 if email == world.stranger else 403)
            pin = await client.post(f"/schedules/{world.published}/allocations/P-001-a/pin", headers=headers)
            assert pin.status_code == 403
            move = await client.post(
                f"/schedules/{world.published}/moves",
                json={"request": "P-001-a", "instrument": "SKIF-1-1", "start_shift": 24, "shifts": 9},
                headers=headers,
            )
            assert move.status_code == 403

        mine = (await client.get("/me/proposals", headers=await login(client, world.proposer))).json()
        assert [(p["proposal"], p["status"]) for p in mine] == [("P-001", "scheduled"), ("P-003", "scheduled")]
        assert (await client.get(f"/schedules/{draft}")).status_code == 401
        assert (await client.get("/schedules/999999", headers=coordinator)).status_code == 404


async def test_a_proposer_sees_their_status_and_subscribes_to_their_slots(
    database_url: str, sessions: Sessions
) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        proposer = await login(client, world.proposer)

        mine = (await client.get("/me/proposals", headers=proposer)).json()
        assert [(p["proposal"], p["status"]) for p in mine] == [("P-001", "scheduled"), ("P-003", "scheduled")]
        assert mine[0]["slots"][0]["start"] == "2027-02-04T12:00:00+07:00"
        assert mine[0]["slots"][0]["instrument"] == "SKIF-1-1"
        assert (await client.get("/me/proposals", headers=await login(client, world.outsider))).json() == []

        assert (await client.get("/me/calendar-url", headers=proposer)).json() == {"exists": False}
        made = await client.post("/me/calendar-url", headers=proposer)
        assert made.status_code == 201, made.text
        address = made.json()["url"]
        assert (await client.get("/me/calendar-url", headers=proposer)).json() == {"exists": True}
        path = urlsplit(address).path
        feed = await client.get(path)  # no Authorization: the address is the credential
        assert feed.status_code == 200
        assert feed.headers["content-type"].startswith("text/calendar")
        events = Calendar.from_ical(feed.content).walk("VEVENT")
        assert sorted(str(event["uid"]) for event in events) == [
            "2027-I-example-P-001-a@beamtime",
            "2027-I-example-P-003-a@beamtime",
            "2027-I-example-P-003-b@beamtime",
        ]
        first = next(event for event in events if "P-001-a" in str(event["uid"]))
        assert first.decoded("dtstart") == datetime(2027, 2, 4, 5, tzinfo=UTC)

        assert (await client.get("/calendar/not-a-token.ics")).status_code == 404
        assert (await client.get(path.removesuffix(".ics"))).status_code == 404


async def test_a_coordinator_changes_a_shared_rounds_schedule_only_on_their_facilities(
    database_url: str, sessions: Sessions
) -> None:
    """SKIF's coordinator alone moves and pins SKIF's requests, not PIK's; publishing a draft that changes
    PIK's instruments needs PIK's sign-off (or an admin): 409 naming PIK."""
    world = await _world(sessions)
    await make_user(sessions, "coordinator", "skif@example.org", facility_codes=["SKIF"])
    async with api_client(database_url) as client:
        both, skif = await login(client, world.coordinator), await login(client, "skif@example.org")
        skif_move = await _move(client, skif, world.published, "P-001-a", "SKIF-1-1", 24, 9)
        pik_move = await client.post(
            f"/schedules/{world.published}/moves",
            json={"request": "P-005-a", "instrument": "PIK-SANS", "start_shift": 30, "shifts": 6},
            headers=skif,
        )
        pik_pin = await client.post(f"/schedules/{skif_move}/allocations/P-006-a/pin", headers=skif)
        skif_pin = await client.post(f"/schedules/{skif_move}/allocations/P-001-a/pin", headers=skif)
        pik_draft = await _move(client, both, world.published, "P-006-a", "PIK-SANS", 0, 10)
        revision = (await _versions(client, skif, world.round_id))["revision"]
        publish_pik = await client.post(
            f"/schedules/{pik_draft}/publish", json={"expected_revision": revision}, headers=skif
        )
        publish_skif = await client.post(
            f"/schedules/{skif_move}/publish", json={"expected_revision": revision}, headers=skif
        )

        assert (pik_move.status_code, pik_pin.status_code) == (403, 403)
        assert (skif_pin.status_code, publish_pik.status_code) == (200, 409)
        assert publish_pik.json()["facilities"] == ["PIK"]
        assert publish_skif.status_code == 200, publish_skif.text
