"""A stored round is always a valid round, over HTTP on SQLite and PostgreSQL: proposals, a round's settings,
the catalogue and quotas are refused when the write would break the round file's rules (422 naming the field,
409 naming what holds it), while problems already stored never block an unrelated write."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.engine import is_sqlite
from scheduler.db.tables import Request
from scheduler.roundfile.checks import check_round, load_round
from scheduler.roundfile.contract import PreviousAllocation, RoundFile
from scheduler.rounds.importer import import_round
from tests.api_helpers import Client, api_client, login, make_user, posted_meanwhile, served

EXAMPLE = EXAMPLE_ROUND
CONTENT: dict[str, Any] = {
    "title": "Magnetism in thin films",
    "type": "standard",
    "pi": {"name": "Ada Lovelace", "institution": "University of London", "country": "GB"},
    "requests": [{"label": "a", "instruments": ["SKIF-1-1"], "shifts": 6}],
}


@dataclass
class World:
    client: Client
    sessions: async_sessionmaker[AsyncSession]
    round_id: int
    admin: dict[str, str]
    proposer: dict[str, str]

    async def exported_problems(self) -> list[str]:
        exported = await self.client.get(f"/rounds/{self.round_id}/export", headers=self.admin)
        assert exported.status_code == 200, exported.text
        return [str(problem) for problem in check_round(RoundFile.model_validate_json(exported.text))]

    async def round(self) -> dict[str, Any]:
        response = await self.client.get(f"/rounds/{self.round_id}", headers=self.admin)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def instrument_id(self, code: str) -> int:
        facilities = (await self.client.get("/facilities", headers=self.admin)).json()["items"]
        for facility in facilities:
            listed = await self.client.get(f"/facilities/{facility['id']}/instruments", headers=self.admin)
            for instrument in listed.json()["items"]:
                if instrument["code"] == code:
                    return int(instrument["id"])
        raise AssertionError(f"no instrument {code}")


@pytest.fixture
async def world(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    """The example round (SKIF and PIK, 42 shifts of 8 hours), imported by an admin, its call open."""
    async with api_client(database_url) as client:
        await make_user(sessions, "admin", "admin@example.org")
        await make_user(sessions, "proposer", "pi@example.org")
        admin = await login(client, "admin@example.org")
        imported = await client.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=admin)
        assert imported.status_code == 201, imported.text
        yield World(client, sessions, imported.json()["id"], admin, await login(client, "pi@example.org"))


def _paths(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["path"] for error in response.json()["errors"]]


def _detail(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    detail: str = response.json()["detail"]
    return detail


async def test_a_proposal_that_would_break_the_round_is_refused_at_submit_and_rewrite(world: World) -> None:
    client, url = world.client, f"/rounds/{world.round_id}/proposals"
    too_long = CONTENT | {"requests": [{"label": "a", "instruments": ["SKIF-1-1"], "shifts": 43, "min_shifts": 43}]}
    twice = CONTENT | {
        "requests": [{"label": "a", "instruments": ["SKIF-1-1"], "shifts": 3}],
        "links": [{"type": "all_or_nothing", "requests": ["a", "a"]}],
    }

    assert _paths(await client.post(url, json=too_long, headers=world.proposer)) == ["$.requests[0].min_shifts"]
    assert _paths(await client.post(url, json=twice, headers=world.proposer)) == ["$.links[0].requests[1]"]
    created = await client.post(url, json=CONTENT, headers=world.proposer)
    assert created.status_code == 201, created.text
    rewrite = f"/proposals/{created.json()['id']}"
    assert _paths(await client.put(rewrite, json=too_long, headers=world.proposer)) == ["$.requests[0].min_shifts"]
    assert _paths(await client.put(rewrite, json=twice, headers=world.proposer)) == ["$.links[0].requests[1]"]
    assert await world.exported_problems() == []


async def test_a_facility_whose_instruments_hold_requests_cannot_leave_the_round(world: World) -> None:
    refused = await world.client.patch(f"/rounds/{world.round_id}", json={"facilities": ["SKIF"]}, headers=world.admin)

    detail = _detail(refused, 409)
    for request in ("P-003-b", "P-005-a", "P-006-a"):
        assert f"request {request}: unknown instrument 'PIK-SANS'" in detail
    assert (await world.round())["facilities"] == ["SKIF", "PIK"]
    assert await world.exported_problems() == []


async def test_equipment_that_requests_use_stays_in_the_round(world: World) -> None:
    refused = await world.client.patch(f"/rounds/{world.round_id}", json={"equipment": []}, headers=world.admin)

    detail = _detail(refused, 409)
    assert "request P-003-b: unknown equipment 'cryomagnet-9T'" in detail
    assert "request P-006-a: unknown equipment 'cryomagnet-9T'" in detail
    assert (await world.round())["equipment"] == ["cryomagnet-9T"]


async def test_a_country_group_a_quota_names_stays_in_the_round(world: World) -> None:
    groups = {"BRICS": ["BR", "CN", "IN", "ZA"]}

    refused = await world.client.patch(
        f"/rounds/{world.round_id}", json={"country_groups": groups}, headers=world.admin
    )

    assert "quota cis-min:" in _detail(refused, 409)
    assert set((await world.round())["country_groups"]) == {"CIS", "BRICS"}


async def test_a_shorter_grid_that_a_request_no_longer_fits_is_refused(world: World) -> None:
    """Seven 8-hour shifts cannot hold P-006-a, which needs 9 at least."""
    short = {"end": "2027-02-03T16:00:00+03:00"}

    refused = await world.client.patch(f"/rounds/{world.round_id}", json=short, headers=world.admin)

    assert "request P-006-a: min_shifts 9 is more than the round's 7 shifts" in _detail(refused, 409)
    assert (await world.round())["end"] == "2027-02-15T05:00:00Z"


async def test_a_round_longer_than_the_file_allows_is_refused(world: World) -> None:
    centuries = {
        "code": "R-300",
        "name": "Three centuries of hours",
        "start": "2027-01-01T00:00:00Z",
        "end": "2327-01-01T00:00:00Z",
        "shift_hours": 1,
        "facilities": ["SKIF"],
    }

    assert _paths(await world.client.post("/rounds", json=centuries, headers=world.admin)) == ["$.end"]
    patched = await world.client.patch(
        f"/rounds/{world.round_id}", json={"end": "2327-01-01T00:00:00Z", "shift_hours": 1}, headers=world.admin
    )
    assert _paths(patched) == ["$.end"]


async def test_a_window_moved_onto_a_pinned_allocation_is_refused(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A pinned block must be kept exactly: moving maintenance onto it would make every solve of the round fail."""
    pinned = PreviousAllocation(request="P-006-a", instrument="PIK-SANS", start_shift=0, shifts=12, pinned=True)
    round_file = load_round(EXAMPLE).model_copy(update={"previous_schedule": [pinned]})
    async with sessions.begin() as session:
        round_id = await import_round(session, load_round(round_file.model_dump(mode="json")))
    await make_user(sessions, "admin", "admin@example.org")
    async with api_client(database_url) as client:
        admin = await login(client, "admin@example.org")
        world = World(client, sessions, round_id, admin, admin)
        instrument_id = await world.instrument_id("PIK-SANS")
        later = {"start": "2027-02-12T08:00:00+03:00", "end": "2027-02-13T08:00:00+03:00", "kind": "maintenance"}
        created = await client.post(f"/instruments/{instrument_id}/windows", json=later, headers=admin)
        assert created.status_code == 201, created.text

        moved = await client.patch(
            f"/windows/{created.json()['id']}",
            json={"start": "2027-02-01T08:00:00+03:00", "end": "2027-02-02T08:00:00+03:00"},
            headers=admin,
        )

        assert "the allocation of request P-006-a: the pinned block [0, 12) overlaps" in _detail(moved, 409)
        assert await world.exported_problems() == []


async def test_window_and_quota_changes_of_a_round_without_a_published_version_read_none_of_its_proposals(
    world: World,
) -> None:
    """They are checked on the round without its proposals (`scheduler.rounds.integrity`), so their cost does not grow
    with the round; a change that breaks a rule of theirs is still refused."""
    facilities = (await world.client.get("/facilities", headers=world.admin)).json()["items"]
    facility = next(facility for facility in facilities if facility["code"] == "SKIF")
    windows = (await world.client.get(f"/facilities/{facility['id']}/windows", headers=world.admin)).json()["items"]
    quota = (await world.client.get(f"/rounds/{world.round_id}/quotas", headers=world.admin)).json()["items"][0]
    body = {key: quota[key] for key in ("code", "scope", "category", "min_share", "max_share", "attribution", "soft")}
    renamed = await world.client.patch(f"/rounds/{world.round_id}", json={"name": "Warm"}, headers=world.admin)
    assert renamed.status_code == 200, renamed.text  # checked in full: the round is now known to pass
    statements: list[str] = []

    def after_statement(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "after_cursor_execute", after_statement)
    try:
        moved = await world.client.patch(
            f"/windows/{windows[0]['id']}", json={"end": windows[0]["end"]}, headers=world.admin
        )
        replaced = await world.client.put(f"/quotas/{quota['id']}", json=body, headers=world.admin)
        outside = await world.client.put(
            f"/quotas/{quota['id']}", json=body | {"scope": {"facilities": ["NOWHERE"]}}, headers=world.admin
        )
    finally:
        event.remove(Engine, "after_cursor_execute", after_statement)

    assert (moved.status_code, replaced.status_code) == (200, 200), replaced.text
    assert outside.status_code in (409, 422), outside.text
    assert [statement for statement in statements if "FROM proposal" in statement] == []


async def test_a_window_change_that_read_the_round_before_others_committed_reads_none_of_its_proposals(
    world: World, database_url: str
) -> None:
    """A window change reads its round's revision, and two submissions commit before it goes on: the round is still
    known to pass at the revision it read (`scheduler.rounds.revision.ByRevision`), so the round as it was is not
    exported."""
    if is_sqlite(database_url):
        pytest.skip("on SQLite the API's writes take turns in the process: no other write commits in between")
    facilities = (await world.client.get("/facilities", headers=world.admin)).json()["items"]
    facility = next(facility for facility in facilities if facility["code"] == "SKIF")
    window = (await world.client.get(f"/facilities/{facility['id']}/windows", headers=world.admin)).json()["items"][0]
    submit = f"/rounds/{world.round_id}/proposals"
    async with served(database_url) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        renamed = await client.patch(f"/rounds/{world.round_id}", json={"name": "Warm"}, headers=world.admin)
        assert renamed.status_code == 200, renamed.text  # checked in full: the round is now known to pass
        with posted_meanwhile(base_url, revisions_read, submit, CONTENT, world.proposer, times=2) as paused:
            moved = await client.patch(f"/windows/{window['id']}", json={"end": window["end"]}, headers=world.admin)

    assert (moved.status_code, paused.answers) == (200, [201, 201]), moved.text
    assert paused.statements
    assert [statement for statement in paused.statements if "FROM proposal" in statement] == []


async def test_a_window_change_that_read_a_revision_not_yet_heard_of_waits_for_the_write_that_left_it(
    world: World, database_url: str
) -> None:
    """A submission has committed, and the process has not yet heard what its commit noted (its `after_commit` is
    held), when a window change reads the revision it left: the window change waits for the submission's end
    (`scheduler.rounds.revision.RoundsByRevision.at`) instead of exporting the round as it was."""
    if is_sqlite(database_url):
        pytest.skip("on SQLite the API's writes take turns in the process: no other write commits in between")
    facilities = (await world.client.get("/facilities", headers=world.admin)).json()["items"]
    facility = next(facility for facility in facilities if facility["code"] == "SKIF")
    window = (await world.client.get(f"/facilities/{facility['id']}/windows", headers=world.admin)).json()["items"][0]
    submission_committed = threading.Event()
    revision_read = asyncio.Event()  # used on the server's event loop only
    submission_connection: list[Any] = []
    window_statements: list[str] = []

    def hold_what_the_submission_noted(_session: Session) -> None:
        if submission_connection and not submission_committed.is_set():  # the submission's commit, none before it
            submission_committed.set()
            await_only(asyncio.wait_for(revision_read.wait(), 30))
            await_only(asyncio.sleep(0.05))  # the window change goes on to its check meanwhile

    def after_statement(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO proposal"):
            submission_connection.append(connection)
        elif submission_committed.is_set() and connection not in submission_connection:
            window_statements.append(statement)
            if revisions_read(statement):
                revision_read.set()

    async with served(database_url) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        renamed = await client.patch(f"/rounds/{world.round_id}", json={"name": "Warm"}, headers=world.admin)
        assert renamed.status_code == 200, renamed.text  # checked in full: the round is now known to pass
        event.listen(Session, "after_commit", hold_what_the_submission_noted, insert=True)
        event.listen(Engine, "after_cursor_execute", after_statement)
        try:
            submitted = asyncio.create_task(
                client.post(f"/rounds/{world.round_id}/proposals", json=CONTENT, headers=world.proposer)
            )
            assert await asyncio.to_thread(submission_committed.wait, 30)
            moved = await client.patch(f"/windows/{window['id']}", json={"end": window["end"]}, headers=world.admin)
            answer = await asyncio.wait_for(submitted, 30)
        finally:
            event.remove(Session, "after_commit", hold_what_the_submission_noted)
            event.remove(Engine, "after_cursor_execute", after_statement)

    assert (answer.status_code, moved.status_code) == (201, 200), moved.text
    assert any(revisions_read(statement) for statement in window_statements)
    assert [statement for statement in window_statements if "FROM proposal" in statement] == []


def revisions_read(statement: str) -> bool:
    """Whether the statement is a catalogue write's read of its rounds' revisions (`keeping_valid`'s first)."""
    return statement.startswith("SELECT round.id, round.input_revision")


async def test_a_change_that_keeps_the_round_valid_passes(world: World) -> None:
    instrument_id = await world.instrument_id("PIK-SANS")
    renamed = await world.client.patch(f"/instruments/{instrument_id}", json={"name": "SANS"}, headers=world.admin)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "SANS"
    longer = await world.client.patch(
        f"/rounds/{world.round_id}", json={"end": "2027-02-22T08:00:00+03:00"}, headers=world.admin
    )
    assert longer.status_code == 200, longer.text
    assert longer.json()["end"] == "2027-02-22T05:00:00Z"


async def test_problems_stored_before_do_not_block_an_unrelated_write(world: World) -> None:
    """Old data (a request of 43 shifts at least in a round of 42) stays a problem, but the round can be renamed."""
    async with world.sessions.begin() as session:
        await session.execute(update(Request).where(col(Request.code) == "P-005-a").values(shifts=43, min_shifts=43))
    assert await world.exported_problems() == [
        "$.proposals[4].requests[0].min_shifts: min_shifts 43 is more than the round's 42 shifts"
    ]

    renamed = await world.client.patch(f"/rounds/{world.round_id}", json={"name": "Renamed"}, headers=world.admin)

    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Renamed"
