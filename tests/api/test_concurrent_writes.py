"""Property: writes sent at once end as some serial order of them would, on SQLite and PostgreSQL (issue 17).

Batches of 2–4 writes (proposal rewrites, window and round start/end edits, quota edits, an instrument deleted
while submissions name it) go to a real server at the same moment. After each batch no answer was a 5xx, every
stored row is one that a writer answered 2xx sent (or, untouched, what it was), never a merge of two writers, a
window and the round still end after they start, and the round's export passes the round file's checks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fixtures import EXAMPLE_ROUND
from scheduler.roundfile.checks import check_round
from scheduler.roundfile.contract import RoundFile
from tests.api_helpers import PASSWORD, make_user, served

EXAMPLE = EXAMPLE_ROUND
Headers = dict[str, str]
Write = tuple[Any, ...]
TEAMS = [("Alice", ("x1", "x2")), ("Bob", ("y1", "y2")), ("Carol", ("z1",))]
"""What a rewrite may send: a team of one and its request labels."""

WRITES = st.one_of(
    st.tuples(st.just("rewrite"), st.integers(0, 1), st.integers(0, len(TEAMS) - 1)),
    st.tuples(st.just("window"), st.integers(0, 1), st.sampled_from(["start", "end"]), st.sampled_from([0, 6, 18, 24])),
    st.tuples(st.just("round"), st.sampled_from(["start", "end"]), st.sampled_from([0, 1, 7, 13, 14])),
    st.tuples(st.just("quota"), st.integers(0, 1), st.sampled_from([0.3, 0.5, 0.7])),
    st.tuples(st.just("delete instrument")),
    st.tuples(st.just("submit naming it")),
)
"""Window edits move a start or an end to hours after the window's first start, round edits to days after the
round's first start: some pairs would leave an end before its start."""
BATCHES = st.lists(st.lists(WRITES, min_size=2, max_size=4), min_size=5, max_size=5)


def _content(person: str, labels: tuple[str, ...], instrument: str = "SKIF-1-4") -> dict[str, Any]:
    return {
        "title": "Concurrent writes",
        "type": "standard",
        "pi": {"name": "Ada Lovelace", "institution": "UCL", "country": "GB"},
        "team": [{"name": person, "country": "GB"}],
        "requests": [{"label": label, "instruments": [instrument], "shifts": 3} for label in labels],
        "links": [],
    }


def _kept(proposal: dict[str, Any]) -> tuple[list[str], list[str]]:
    return [person["name"] for person in proposal["team"]], [request["label"] for request in proposal["requests"]]


def _span(item: dict[str, Any]) -> dict[str, datetime]:
    return {"start": datetime.fromisoformat(item["start"]), "end": datetime.fromisoformat(item["end"])}


@dataclass
class World:
    """The server, its round and what is stored now, read back after each batch."""

    client: httpx.AsyncClient
    admin: Headers
    owner: Headers
    round_id: int
    skif: int
    windows: dict[int, dict[str, datetime]]
    window_origins: dict[int, datetime]
    round_span: dict[str, datetime]
    round_origin: datetime
    quotas: dict[int, dict[str, Any]]
    proposals: dict[int, tuple[list[str], list[str]]]
    spares: int = 0

    async def ok(self, method: str, path: str, **options: Any) -> Any:
        response = await self.client.request(method, path, headers=self.admin, **options)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def spare_instrument(self) -> tuple[int, str]:
        """A new instrument of SKIF, for one batch's delete and submissions."""
        self.spares += 1
        code = f"SKIF-spare-{self.spares}"
        created = await self.ok("POST", f"/facilities/{self.skif}/instruments", json={"code": code, "name": code})
        return created["id"], code

    async def send(self, write: Write, spare: tuple[int, str] | None) -> httpx.Response:
        kind = write[0]
        if kind == "rewrite":
            person, labels = TEAMS[write[2]]
            return await self.client.put(
                f"/proposals/{sorted(self.proposals)[write[1]]}", json=_content(person, labels), headers=self.owner
            )
        if kind == "window":
            window_id = sorted(self.windows)[write[1]]
            moment = self.window_origins[window_id] + timedelta(hours=write[3])
            return await self.client.patch(
                f"/windows/{window_id}", json={write[2]: moment.isoformat()}, headers=self.admin
            )
        if kind == "round":
            moment = self.round_origin + timedelta(days=write[2])
            return await self.client.patch(
                f"/rounds/{self.round_id}", json={write[1]: moment.isoformat()}, headers=self.admin
            )
        if kind == "quota":
            quota = self.quotas[sorted(self.quotas)[write[1]]]
            body = {key: quota[key] for key in ("code", "scope", "category", "min_share", "attribution", "soft")}
            body |= {"penalty": quota["penalty"], "max_share": write[2]}
            return await self.client.put(f"/quotas/{quota['id']}", json=body, headers=self.admin)
        assert spare is not None
        if kind == "delete instrument":
            return await self.client.delete(f"/instruments/{spare[0]}", headers=self.admin)
        content = _content("Dana", ("a",), instrument=spare[1])
        return await self.client.post(f"/rounds/{self.round_id}/proposals", json=content, headers=self.owner)

    async def round_file(self) -> RoundFile:
        exported = await self.client.get(f"/rounds/{self.round_id}/export", headers=self.admin)
        assert exported.status_code == 200, exported.text
        return RoundFile.model_validate_json(exported.text)


@pytest.fixture
async def world(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    """The example round, its call open, two proposals of one proposer; examples continue on it."""
    await make_user(sessions, "admin", "admin@example.org")
    await make_user(sessions, "proposer", "owner@example.org")
    async with (
        served(database_url, open_proposals_per_account=1000) as url,
        httpx.AsyncClient(base_url=url, timeout=60) as client,
    ):
        admin = {"Authorization": f"Bearer {await _token(client, 'admin@example.org')}"}
        owner = {"Authorization": f"Bearer {await _token(client, 'owner@example.org')}"}
        imported = await client.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=admin)
        assert imported.status_code == 201, imported.text
        round_id = imported.json()["id"]
        proposals = {}
        for person, labels in TEAMS[:2]:
            created = await client.post(f"/rounds/{round_id}/proposals", json=_content(person, labels), headers=owner)
            assert created.status_code == 201, created.text
            proposals[created.json()["id"]] = _kept(created.json())
        facilities = (await client.get("/facilities", headers=admin)).json()["items"]
        windows: dict[int, dict[str, Any]] = {}
        for facility in facilities:
            instruments = (await client.get(f"/facilities/{facility['id']}/instruments", headers=admin)).json()
            owners = [f"/facilities/{facility['id']}"] + [f"/instruments/{item['id']}" for item in instruments["items"]]
            for owner_path in owners:
                listed = await client.get(f"{owner_path}/windows", headers=admin)
                windows |= {item["id"]: item for item in listed.json()["items"]}
        quotas = (await client.get(f"/rounds/{round_id}/quotas", headers=admin)).json()["items"]
        capped = {quota["id"]: quota for quota in quotas if quota["max_share"] is not None}
        assert len(windows) >= 2 and len(capped) >= 2, (windows, quotas)
        round_span = _span((await client.get(f"/rounds/{round_id}", headers=admin)).json())
        yield World(
            client=client,
            admin=admin,
            owner=owner,
            round_id=round_id,
            skif=next(facility["id"] for facility in facilities if facility["code"] == "SKIF"),
            windows={window_id: _span(item) for window_id, item in windows.items()},
            window_origins={window_id: _span(item)["start"] for window_id, item in windows.items()},
            round_span=round_span,
            round_origin=round_span["start"],
            quotas=capped,
            proposals=proposals,
        )


async def _token(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _one_of_the_writers(
    stored: dict[str, datetime], before: dict[str, datetime], sent: list[tuple[str, datetime]]
) -> bool:
    """Each field is what a writer answered 200 set it to or, if none did, what it was: as some serial order."""
    return all(stored[name] in ({at for named, at in sent if named == name} or {before[name]}) for name in before)


async def _check(world: World, writes: list[tuple[Write, httpx.Response]], spare: tuple[int, str] | None) -> None:
    for write, answer in writes:
        assert answer.status_code < 500, (write, answer.text)

    for position, proposal_id in enumerate(sorted(world.proposals)):
        stored = _kept((await world.client.get(f"/proposals/{proposal_id}", headers=world.owner)).json())
        saved = [
            _kept(answer.json())
            for write, answer in writes
            if write[0] == "rewrite" and write[1] == position and answer.status_code == 200
        ]
        assert stored in (saved or [world.proposals[proposal_id]]), (stored, saved)
        assert stored in [([person], list(labels)) for person, labels in TEAMS], stored
        world.proposals[proposal_id] = stored

    for position, window_id in enumerate(sorted(world.windows)):
        stored_span = _span(await world.ok("GET", f"/windows/{window_id}"))
        origin = world.window_origins[window_id]
        sent = [
            (write[2], origin + timedelta(hours=write[3]))
            for write, answer in writes
            if write[0] == "window" and write[1] == position and answer.status_code == 200
        ]
        assert stored_span["start"] < stored_span["end"], stored_span
        assert _one_of_the_writers(stored_span, world.windows[window_id], sent), (stored_span, sent)
        world.windows[window_id] = stored_span

    stored_round = _span(await world.ok("GET", f"/rounds/{world.round_id}"))
    sent = [
        (write[1], world.round_origin + timedelta(days=write[2]))
        for write, answer in writes
        if write[0] == "round" and answer.status_code == 200
    ]
    assert stored_round["start"] < stored_round["end"], stored_round
    assert _one_of_the_writers(stored_round, world.round_span, sent), (stored_round, sent)
    world.round_span = stored_round

    for position, quota_id in enumerate(sorted(world.quotas)):
        stored_quota = await world.ok("GET", f"/quotas/{quota_id}")
        shares = {
            write[2]
            for write, answer in writes
            if write[0] == "quota" and write[1] == position and answer.status_code == 200
        }
        assert stored_quota["max_share"] in (shares or {world.quotas[quota_id]["max_share"]}), (stored_quota, shares)
        world.quotas[quota_id] = stored_quota

    if spare is not None:
        deleted = [answer for write, answer in writes if write[0] == "delete instrument"]
        asked = [answer for write, answer in writes if write[0] == "submit naming it" and answer.status_code == 201]
        instrument = await world.client.get(f"/instruments/{spare[0]}", headers=world.admin)
        if any(answer.status_code == 204 for answer in deleted):
            assert not asked and instrument.status_code == 404, [answer.text for answer in asked]
        else:
            assert instrument.status_code == 200, instrument.text
        for answer in asked:
            assert (await world.client.get(answer.headers["Location"], headers=world.owner)).status_code == 200

    assert check_round(await world.round_file()) == []


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=BATCHES)
async def test_writes_sent_at_once_end_as_one_serial_order(world: World, batches: list[list[Write]]) -> None:
    for batch in batches:
        naming = {"delete instrument", "submit naming it"} & {write[0] for write in batch}
        spare = await world.spare_instrument() if naming else None

        answers = await asyncio.gather(*(world.send(write, spare) for write in batch))

        await _check(world, list(zip(batch, answers, strict=True)), spare)
