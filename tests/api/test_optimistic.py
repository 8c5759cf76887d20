"""Optimistic concurrency for people: versions as ETags, writes on the version named by If-Match (412 otherwise),
creation once per Idempotency-Key, and positions that concurrent submissions never share."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import IdempotencyKey, Proposal
from tests.api_helpers import PASSWORD, make_user, served

EXAMPLE = EXAMPLE_ROUND
PROBLEM_JSON = "application/problem+json"
CONTENT: dict[str, Any] = {
    "title": "Magnetism in thin films",
    "type": "standard",
    "pi": {"name": "Ada Lovelace", "institution": "University of London", "country": "GB"},
    "team": [],
    "requests": [{"label": "a", "instruments": ["SKIF-1-1"], "shifts": 3}],
    "links": [],
}
QUOTA_FIELDS = ("code", "scope", "category", "min_share", "max_share", "attribution", "soft", "penalty")


@dataclass
class Service:
    http: httpx.AsyncClient
    round_id: int
    headers: dict[str, dict[str, str]]
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
async def service(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Service]:
    """The example round (SKIF and PIK, phase open) on a real server; two admins, a SKIF coordinator, two proposers."""
    people = {
        "admin": ("admin", []),
        "other_admin": ("admin", []),
        "coordinator": ("coordinator", ["SKIF", "PIK"]),
        "proposer": ("proposer", []),
        "other_proposer": ("proposer", []),
    }
    async with (
        served(database_url, open_proposals_per_account=100) as base,
        httpx.AsyncClient(base_url=base, timeout=120) as http,
    ):
        headers: dict[str, dict[str, str]] = {}
        round_id = 0
        for key, (role, facilities) in people.items():
            email = f"{key}@example.org"
            await make_user(sessions, role, email, facility_codes=facilities)
            signed_in = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
            assert signed_in.status_code == 200, signed_in.text
            headers[key] = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
            if key == "admin":  # the round's facilities exist before their coordinator does
                imported = await http.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=headers[key])
                assert imported.status_code == 201, imported.text
                round_id = imported.json()["id"]
        yield Service(http, round_id, headers, sessions)


def _412(response: httpx.Response) -> str:
    assert response.status_code == 412, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    detail: str = response.json()["detail"]
    return detail


async def test_a_stale_quota_replacement_is_refused_and_undoes_nothing(service: Service) -> None:
    """The finding: a stale PUT /quotas/1 silently undid another coordinator's max_share change."""
    http, admin, other = service.http, service.headers["admin"], service.headers["other_admin"]
    quota_id = (await http.get(f"/rounds/{service.round_id}/quotas", headers=admin)).json()["items"][1]["id"]
    read = await http.get(f"/quotas/{quota_id}", headers=admin)
    seen = read.json()
    body = {name: seen[name] for name in QUOTA_FIELDS}
    assert read.headers["ETag"] == f'"{seen["version"]}"' == '"1"'

    tightened = await http.put(
        f"/quotas/{quota_id}", json=body | {"max_share": 0.4}, headers=admin | {"If-Match": read.headers["ETag"]}
    )
    stale = await http.put(
        f"/quotas/{quota_id}", json=body | {"soft": True, "penalty": 2.0}, headers=other | {"If-Match": '"1"'}
    )

    assert (tightened.status_code, tightened.headers["ETag"], tightened.json()["version"]) == (200, '"2"', 2)
    assert '"2"' in _412(stale)
    kept = (await http.get(f"/quotas/{quota_id}", headers=other)).json()
    assert (kept["max_share"], kept["soft"], kept["version"]) == (0.4, False, 2)
    fresh = await http.put(
        f"/quotas/{quota_id}", json=body | {"max_share": 0.4, "soft": True, "penalty": 2.0}, headers=other
    )
    assert (fresh.status_code, fresh.json()["max_share"], fresh.json()["soft"], fresh.headers["ETag"]) == (
        200,
        0.4,
        True,
        '"3"',
    )


async def test_a_window_changes_and_goes_only_on_the_version_named(service: Service) -> None:
    http, coordinator = service.http, service.headers["coordinator"]
    skif = next(f for f in (await http.get("/facilities", headers=coordinator)).json()["items"] if f["code"] == "SKIF")
    window = {"start": "2027-02-03T08:00:00+03:00", "end": "2027-02-03T16:00:00+03:00", "kind": "maintenance"}
    created = await http.post(f"/facilities/{skif['id']}/windows", json=window, headers=coordinator)
    assert (created.status_code, created.headers["ETag"]) == (201, '"1"'), created.text
    address = created.headers["Location"]

    moved = await http.patch(address, json={"reason": "vacuum"}, headers=coordinator | {"If-Match": '"1"'})
    stale = await http.patch(address, json={"reason": "cooling"}, headers=coordinator | {"If-Match": '"1"'})
    weak = await http.patch(address, json={"reason": "cooling"}, headers=coordinator | {"If-Match": 'W/"2"'})
    listed = await http.patch(address, json={"kind": "shutdown"}, headers=coordinator | {"If-Match": '"7", "2"'})

    assert (moved.status_code, moved.headers["ETag"]) == (200, '"2"')
    _412(stale)
    _412(weak)
    malformed = await http.patch(address, json={"reason": "cooling"}, headers=coordinator | {"If-Match": "2"})
    assert malformed.status_code == 412, malformed.text
    assert (listed.status_code, listed.json()["reason"], listed.headers["ETag"]) == (200, "vacuum", '"3"')
    any_version = await http.patch(address, json={"reason": "any"}, headers=coordinator | {"If-Match": "*"})
    assert (any_version.status_code, any_version.headers["ETag"]) == (200, '"4"')

    _412(await http.delete(address, headers=coordinator | {"If-Match": '"3"'}))
    assert (await http.get(address, headers=coordinator)).json()["reason"] == "any"
    assert (await http.delete(address, headers=coordinator | {"If-Match": '"4"'})).status_code == 204
    assert (await http.get(address, headers=coordinator)).status_code == 404


async def test_a_proposal_is_rewritten_only_as_its_author_saw_it(service: Service) -> None:
    http, proposer, coordinator = service.http, service.headers["proposer"], service.headers["coordinator"]
    submitted = await http.post(f"/rounds/{service.round_id}/proposals", json=CONTENT, headers=proposer)
    assert submitted.status_code == 201, submitted.text
    first = submitted.json()["version"]
    assert submitted.headers["ETag"] == f'"{first}"'
    address = submitted.headers["Location"]

    judged = await http.put(
        f"{address}/feasibility", json={"technically_feasible": False}, headers=coordinator | {"If-Match": f'"{first}"'}
    )
    rewrite = CONTENT | {"title": "Magnetism in thick films"}
    stale = await http.put(address, json=rewrite, headers=proposer | {"If-Match": f'"{first}"'})

    assert (judged.status_code, judged.headers["ETag"]) == (200, f'"{first + 1}"'), judged.text
    _412(stale)
    read = await http.get(address, headers=proposer)
    assert (read.json()["title"], read.headers["ETag"]) == (CONTENT["title"], f'"{first + 1}"')
    rewritten = await http.put(address, json=rewrite, headers=proposer | {"If-Match": read.headers["ETag"]})
    assert (rewritten.status_code, rewritten.json()["title"], rewritten.headers["ETag"]) == (
        200,
        "Magnetism in thick films",
        f'"{first + 2}"',
    )
    before_the_rewrite = coordinator | {"If-Match": read.headers["ETag"]}
    _412(await http.put(f"{address}/feasibility", json={"technically_feasible": True}, headers=before_the_rewrite))
    assert (await http.get(address, headers=coordinator)).json()["technically_feasible"] is False


async def _count(service: Service) -> int:
    async with service.sessions() as session:
        return len((await session.execute(select(Proposal.id).where(col(Proposal.round_id) == service.round_id))).all())


async def test_a_double_clicked_submission_creates_one_proposal(service: Service) -> None:
    http, proposer = service.http, service.headers["proposer"]
    before = await _count(service)
    once = proposer | {"Idempotency-Key": "3f1c9a2e-double-click"}
    submissions = f"/rounds/{service.round_id}/proposals"

    first, second = await asyncio.gather(
        http.post(submissions, json=CONTENT, headers=once), http.post(submissions, json=CONTENT, headers=once)
    )
    later = await http.post(submissions, json=CONTENT, headers=once)

    assert (first.status_code, second.status_code, later.status_code) == (201, 201, 201), (first.text, second.text)
    assert first.json() == second.json() == later.json()
    assert first.headers["Location"] == second.headers["Location"] == later.headers["Location"]
    assert await _count(service) == before + 1
    assert later.headers["Idempotent-Replayed"] == "true"

    other_body = await http.post(submissions, json=CONTENT | {"title": "Another"}, headers=once)
    assert other_body.status_code == 409, other_body.text
    assert "Idempotency-Key was used for another request" in other_body.json()["detail"]
    same_key_of_someone_else = service.headers["other_proposer"] | {"Idempotency-Key": "3f1c9a2e-double-click"}
    someone_else = await http.post(submissions, json=CONTENT, headers=same_key_of_someone_else)
    assert someone_else.status_code == 201
    assert someone_else.headers["Location"] != first.headers["Location"]
    assert await _count(service) == before + 2


async def test_an_idempotency_key_expires_after_a_day(service: Service) -> None:
    http, admin = service.http, service.headers["admin"]
    facility = {"code": "KISI", "name": "KISI", "country": "RU", "timezone": "Europe/Moscow"}
    keyed = admin | {"Idempotency-Key": "kisi-once"}
    created = await http.post("/facilities", json=facility, headers=keyed)
    again = await http.post("/facilities", json=facility, headers=keyed)
    assert (created.status_code, again.status_code, again.json()) == (201, 201, created.json())
    assert again.headers["ETag"] == '"1"'

    async with service.sessions.begin() as session:
        await session.execute(update(IdempotencyKey).values(created_at=datetime.now(UTC) - timedelta(hours=25)))
    after_a_day = await http.post("/facilities", json=facility, headers=keyed)
    assert after_a_day.status_code == 409, after_a_day.text  # a new creation: the code is taken by the first
    assert len((await http.get("/facilities", headers=admin)).json()["items"]) == 3


async def test_concurrent_submissions_take_distinct_positions(service: Service) -> None:
    http, proposer = service.http, service.headers["proposer"]
    submissions = f"/rounds/{service.round_id}/proposals"

    answers = await asyncio.gather(*(http.post(submissions, json=CONTENT, headers=proposer) for _ in range(64)))

    assert [answer.status_code for answer in answers] == [201] * 64, [a.text for a in answers if a.status_code != 201]
    async with service.sessions() as session:
        positions = list(
            (
                await session.execute(select(col(Proposal.position)).where(col(Proposal.round_id) == service.round_id))
            ).scalars()
        )
    assert len(positions) == len(set(positions))
    assert sorted(positions)[-64:] == list(range(sorted(positions)[-64], sorted(positions)[-64] + 64))


async def test_a_round_is_replaced_from_a_file_only_on_the_version_named(service: Service) -> None:
    http, admin = service.http, service.headers["admin"]
    address = f"/rounds/{service.round_id}"
    seen = await http.get(address, headers=admin)
    renamed = json.loads(EXAMPLE.read_text())
    renamed["round"]["name"] = "Example round, renamed"
    as_seen = admin | {"If-Match": seen.headers["ETag"]}
    phase = await http.put(f"{address}/phase", json={"phase": "review"}, headers=as_seen)
    assert phase.status_code == 200, phase.text

    stale = await http.put(f"{address}/import", json=renamed, headers=as_seen)
    _412(stale)
    assert (await http.get(address, headers=admin)).json()["name"] == "Example round, two weeks"
    replaced = await http.put(f"{address}/import", json=renamed, headers=admin | {"If-Match": phase.headers["ETag"]})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"] == "Example round, renamed"
    assert replaced.headers["ETag"] == f'"{replaced.json()["version"]}"' != phase.headers["ETag"]
