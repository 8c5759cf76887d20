"""Rounds are never lost by accident, over HTTP on SQLite and PostgreSQL: replacing a published round is
refused unless an admin forces it, a forced replacement keeps the round's history and cancels dropped
slots in proposers' calendars, and a draft the round has outgrown cannot be published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from icalendar import Calendar
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import Instrument, Proposal
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation, RoundFile
from scheduler.rounds.importer import import_round
from scheduler.schedules.notices import REMOVED
from tests.api_helpers import Client, api_client, login, make_user

EXAMPLE = EXAMPLE_ROUND
PUBLISHED = [
    ("P-001-a", "SKIF-1-1", 9, 9),
    ("P-004-a", "SKIF-1-4", 0, 6),
    ("P-003-a", "SKIF-1-4", 9, 3),
    ("P-002-a", "SKIF-1-4", 12, 6),
    ("P-006-a", "PIK-SANS", 0, 12),
    ("P-003-b", "PIK-SANS", 13, 9),
]
"""An optimal schedule of the example round, imported as its published version 1."""
ROUND_START = datetime(2027, 2, 1, 5, tzinfo=UTC)
SHIFT = timedelta(hours=8)

Sessions = async_sessionmaker[AsyncSession]
Headers = dict[str, str]


@dataclass(frozen=True)
class World:
    round_id: int
    admin: Headers
    coordinator: Headers
    """Of SKIF and PIK, the round's two facilities."""
    proposer: Headers
    """Owns P-001 and P-003."""


def _with_schedule(round_file: RoundFile, placements: list[tuple[str, str, int, int]] | None) -> RoundFile:
    previous = (
        None
        if placements is None
        else [PreviousAllocation(request=r, instrument=i, start_shift=s, shifts=n) for r, i, s, n in placements]
    )
    return load_round(round_file.model_copy(update={"previous_schedule": previous}).model_dump(mode="json"))


def _without_p001(placements: list[tuple[str, str, int, int]] | None) -> dict[str, Any]:
    """The example round without proposal P-001, with `placements` as its schedule in force (None: none)."""
    document = _with_schedule(load_round(EXAMPLE), placements).model_dump(mode="json")
    document["proposals"] = [proposal for proposal in document["proposals"] if proposal["id"] != "P-001"]
    return document


async def _world(sessions: Sessions, client: Client) -> World:
    async with sessions.begin() as session:
        round_id = await import_round(session, _with_schedule(load_round(EXAMPLE), PUBLISHED))
    await make_user(sessions, "admin", "admin@example.org")
    await make_user(sessions, "coordinator", "coord@example.org", facility_codes=["SKIF", "PIK"])
    proposer = await make_user(sessions, "proposer", "pi@example.org")
    async with sessions.begin() as session:
        await session.execute(
            update(Proposal)
            .where(col(Proposal.round_id) == round_id, col(Proposal.code).in_(["P-001", "P-003"]))
            .values(owner_id=proposer)
        )
    return World(
        round_id,
        await login(client, "admin@example.org"),
        await login(client, "coord@example.org"),
        await login(client, "pi@example.org"),
    )


async def _ok(client: Client, method: str, path: str, headers: Headers, **options: Any) -> Any:
    response = await client.request(method, path, headers=headers, **options)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _versions(client: Client, world: World) -> list[tuple[int, str, str]]:
    listed = await _ok(client, "GET", f"/rounds/{world.round_id}/schedules", world.coordinator)
    return [(version["number"], version["status"], version["source"]) for version in listed["items"]]


async def _feed(client: Client, headers: Headers) -> dict[str, str]:
    """The caller's calendar feed: UID -> STATUS."""
    address = (await _ok(client, "POST", "/me/calendar-url", headers))["url"]
    feed = await client.get(urlsplit(address).path)
    assert feed.status_code == 200, feed.text
    return {str(event["uid"]): str(event["status"]) for event in Calendar.from_ical(feed.content).walk("VEVENT")}


async def test_a_coordinator_cannot_replace_a_published_round(database_url: str, sessions: Sessions) -> None:
    async with api_client(database_url) as client:
        world = await _world(sessions, client)
        exported = await _ok(client, "GET", f"/rounds/{world.round_id}/export", world.coordinator)
        versions = await _versions(client, world)

        replaced = await client.put(
            f"/rounds/{world.round_id}/import", json=_without_p001(None), headers=world.coordinator
        )
        assert replaced.status_code == 409, replaced.text
        assert "published schedule version 1" in replaced.json()["detail"]
        forced = await client.put(
            f"/rounds/{world.round_id}/import?force=true", json=_without_p001(None), headers=world.coordinator
        )
        assert forced.status_code == 403, forced.text

        assert await _ok(client, "GET", f"/rounds/{world.round_id}/export", world.coordinator) == exported
        assert await _versions(client, world) == versions == [(1, "published", "import")]


async def test_an_admins_forced_replacement_keeps_the_history_and_cancels_dropped_slots(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url) as client:
        world = await _world(sessions, client)
        kept = [placement for placement in PUBLISHED if placement[0] != "P-001-a"]
        replacement = _without_p001(kept)
        replaced = await client.put(
            f"/rounds/{world.round_id}/import?force=true", json=replacement, headers=world.admin
        )
        assert replaced.status_code == 200, replaced.text

        exported = await _ok(client, "GET", f"/rounds/{world.round_id}/export", world.coordinator)
        assert [proposal["id"] for proposal in exported["proposals"]] == ["P-002", "P-003", "P-004", "P-005", "P-006"]
        assert await _versions(client, world) == [(1, "superseded", "import"), (2, "published", "import")]
        listed = await _ok(client, "GET", f"/rounds/{world.round_id}/schedules", world.coordinator)
        first = await _ok(client, "GET", f"/schedules/{listed['items'][0]['id']}", world.coordinator)
        # Version 1 reads as it was published, P-001-a included.
        assert sorted((a["request"], a["instrument"], a["start_shift"], a["shifts"]) for a in first["allocations"]) == (
            sorted(PUBLISHED)
        )

        changes = (await _ok(client, "GET", "/me/changes", world.proposer))["items"]
        assert [(c["request"], c["kind"], c["version"], c["reason"]) for c in changes] == [
            ("P-001-a", "dropped", 2, REMOVED)
        ]
        mine = await _ok(client, "GET", "/me/proposals", world.proposer)
        assert [(p["proposal"], p["status"]) for p in mine] == [("P-001", "withdrawn"), ("P-003", "scheduled")]
        assert await _feed(client, world.proposer) == {
            "2027-I-example-P-001-a@beamtime": "CANCELLED",
            "2027-I-example-P-003-a@beamtime": "CONFIRMED",
            "2027-I-example-P-003-b@beamtime": "CONFIRMED",
        }

        audit = await _ok(client, "GET", f"/audit?entity=round&entity_id={world.round_id}", world.admin)
        (entry,) = [item for item in audit["items"] if item["action"] == "round.replace"]
        assert entry["detail"]["forced"] is True
        assert entry["detail"]["removed_proposals"] == {"count": 1, "codes": ["P-001"]}
        assert entry["detail"]["removed_requests"] == {"count": 1, "codes": ["P-001-a"]}
        assert (entry["detail"]["superseded_version"], entry["detail"]["change_notices"]) == (1, 1)


async def test_a_forced_replacement_without_a_schedule_cancels_every_slot(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url) as client:
        world = await _world(sessions, client)
        document = _with_schedule(load_round(EXAMPLE), None).model_dump(mode="json")
        replaced = await client.put(f"/rounds/{world.round_id}/import?force=true", json=document, headers=world.admin)
        assert replaced.status_code == 200, replaced.text

        assert await _versions(client, world) == [(1, "superseded", "import")]
        changes = (await _ok(client, "GET", "/me/changes", world.proposer))["items"]
        assert sorted((c["request"], c["kind"], c["version"]) for c in changes) == [
            ("P-001-a", "dropped", 1),
            ("P-003-a", "dropped", 1),
            ("P-003-b", "dropped", 1),
        ]
        assert set((await _feed(client, world.proposer)).values()) == {"CANCELLED"}
        # Nothing is in force, so the round can be replaced again without force.
        again = await client.put(f"/rounds/{world.round_id}/import", json=document, headers=world.coordinator)
        assert again.status_code == 200, again.text


async def test_a_draft_made_stale_by_a_new_window_cannot_be_published(database_url: str, sessions: Sessions) -> None:
    async with api_client(database_url) as client:
        world = await _world(sessions, client)
        published = (await _ok(client, "GET", f"/rounds/{world.round_id}/schedules", world.coordinator))["items"][0]
        move = {"request": "P-001-a", "instrument": "SKIF-1-1", "start_shift": 24, "shifts": 9}
        draft = (await _ok(client, "POST", f"/schedules/{published['id']}/moves", world.coordinator, json=move))["id"]
        async with sessions() as session:
            instrument = await session.scalar(select(Instrument.id).where(col(Instrument.code) == "SKIF-1-1"))
        window = {
            "start": (ROUND_START + 25 * SHIFT).isoformat(),
            "end": (ROUND_START + 27 * SHIFT).isoformat(),
            "kind": "maintenance",
            "reason": "undulator repair",
        }
        await _ok(client, "POST", f"/instruments/{instrument}/windows", world.coordinator, json=window)
        revision = (await _ok(client, "GET", f"/rounds/{world.round_id}/schedules", world.coordinator))["revision"]

        refused = await client.post(
            f"/schedules/{draft}/publish", json={"expected_revision": revision}, headers=world.coordinator
        )
        assert refused.status_code == 409, refused.text
        errors = refused.json()["errors"]
        assert [error["rule"] for error in errors] == [2]
        assert "P-001-a on SKIF-1-1 [24, 33) uses blocked shifts [25, 26]" in errors[0]["message"]
        assert "maintenance window" in errors[0]["message"]

        assert await _versions(client, world) == [(1, "published", "import"), (2, "draft", "edit")]
        after = await _ok(client, "GET", f"/rounds/{world.round_id}/schedules", world.coordinator)
        assert after["revision"] == revision
