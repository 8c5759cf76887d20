"""Deadlines hold: no proposal submitted or rewritten after `call_closes`, no review after `review_closes`,
each refusal naming the deadline in the round's time zone (its first facility's: SKIF, Asia/Novosibirsk), and
the round page saying what is due."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import Round
from tests.api_helpers import PASSWORD, Client, api_client, login, make_user, served
from tests.proposals.test_api_proposals import CONTENT
from tests.web.test_dashboard import from_the_page

EXAMPLE = EXAMPLE_ROUND
CLOSED_IN_2021 = "2021-03-01T05:00:00Z"
"""12:00 in Novosibirsk (UTC+7)."""
CLOSED_IN_2021_INSTANT = datetime.fromisoformat(CLOSED_IN_2021)
SHOWN_2021 = "2021-03-01 12:00 (Asia/Novosibirsk)"
NEXT_CENTURY = "2101-01-01T00:00:00Z"
Sessions = async_sessionmaker[AsyncSession]


@dataclass
class Call:
    client: Client
    round_id: int
    proposal_id: int
    """The owner's proposal, submitted while the call was open."""
    admin: dict[str, str]
    coordinator: dict[str, str]
    owner: dict[str, str]
    reviewer: dict[str, str]
    reviewer_id: int

    async def set_round(self, **changes: object) -> None:
        response = await self.client.patch(f"/rounds/{self.round_id}", json=changes, headers=self.admin)
        assert response.status_code == 200, response.text

    async def submit(self) -> httpx.Response:
        return await self.client.post(f"/rounds/{self.round_id}/proposals", json=CONTENT, headers=self.owner)

    async def rewrite(self, title: str) -> httpx.Response:
        return await self.client.put(
            f"/proposals/{self.proposal_id}", json=CONTENT | {"title": title}, headers=self.owner
        )

    async def review(self, grade: float) -> httpx.Response:
        return await self.client.put(
            f"/proposals/{self.proposal_id}/review", json={"grade": grade}, headers=self.reviewer
        )


@pytest.fixture
async def call(database_url: str, sessions: Sessions) -> AsyncIterator[Call]:
    """The example round in phase open, with a proposal of the owner's and a reviewer assigned to it."""
    async with api_client(database_url) as client:
        await make_user(sessions, "admin", "admin@example.org")
        await make_user(sessions, "proposer", "owner@example.org")
        reviewer_id = await make_user(sessions, "reviewer", "reviewer@example.org")
        admin = await login(client, "admin@example.org")
        imported = await client.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=admin)
        assert imported.status_code == 201, imported.text
        round_id = imported.json()["id"]
        await make_user(sessions, "coordinator", "coordinator@example.org", facility_codes=["SKIF", "PIK"])
        owner = await login(client, "owner@example.org")
        submitted = await client.post(f"/rounds/{round_id}/proposals", json=CONTENT, headers=owner)
        assert submitted.status_code == 201, submitted.text
        proposal_id = submitted.json()["id"]
        assigned = await client.post(
            f"/proposals/{proposal_id}/reviewers", json={"user_id": reviewer_id}, headers=admin
        )
        assert assigned.status_code == 201, assigned.text
        yield Call(
            client,
            round_id,
            proposal_id,
            admin,
            await login(client, "coordinator@example.org"),
            owner,
            await login(client, "reviewer@example.org"),
            reviewer_id,
        )


async def test_after_the_call_closes_no_proposal_is_submitted_or_rewritten(call: Call) -> None:
    await call.set_round(call_closes=CLOSED_IN_2021)

    late = await call.submit()
    rewritten = await call.rewrite("Rewritten after the call")

    assert (late.status_code, rewritten.status_code) == (409, 409)
    for refused in (late, rewritten):
        assert refused.json()["detail"] == (
            f"the call closed at {SHOWN_2021}: proposals are submitted and rewritten only until then"
        )
    mine = (await call.client.get("/proposals", params={"round_id": call.round_id}, headers=call.owner)).json()
    assert [item["title"] for item in mine["items"]] == [CONTENT["title"]]

    await call.set_round(call_closes=NEXT_CENTURY)
    assert (await call.submit()).status_code == 201
    assert (await call.rewrite("Rewritten in time")).json()["title"] == "Rewritten in time"


async def test_after_reviews_close_no_review_is_taken(call: Call) -> None:
    phase = await call.client.put(f"/rounds/{call.round_id}/phase", json={"phase": "review"}, headers=call.admin)
    assert phase.status_code == 200, phase.text
    await call.set_round(review_closes=CLOSED_IN_2021)

    late = await call.review(2.0)

    assert late.status_code == 409
    assert late.json()["detail"] == f"reviews closed at {SHOWN_2021}: reviews are taken only until then"
    reviews = await call.client.get(f"/proposals/{call.proposal_id}/reviews", headers=call.admin)
    assert reviews.json()["items"] == []

    await call.set_round(review_closes=NEXT_CENTURY)
    in_time = await call.review(2.0)
    assert in_time.status_code == 200, in_time.text
    assert in_time.json()["grade"] == 2.0


async def test_the_round_page_says_what_is_due(call: Call) -> None:
    await call.set_round(call_closes=CLOSED_IN_2021, review_closes=NEXT_CENTURY)
    client = call.client
    client.cookies.clear()
    signed_in = await client.post(
        "/ui/login",
        data={"email": "coordinator@example.org", "password": PASSWORD, "next": "/ui/"},
        headers=await from_the_page(client),
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text

    shown = await client.get(f"/ui/rounds/{call.round_id}")

    assert shown.status_code == 200, shown.text
    # The page writes dates as its locale does, in the facility's zone (Novosibirsk, UTC+7).
    assert 'The call closed at Mon 01 Mar 2021, 12:00 +07 <span class="badge">passed</span>' in shown.text
    assert "Reviews close at Sat 01 Jan 2101, 07:00 +07</li>" in shown.text


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_deadline_moved_while_a_proposal_is_written_is_the_one_that_holds(
    database_url: str, sessions: Sessions
) -> None:
    """The submission reads the round's row locked: a coordinator's change to `call_closes` that is under way when
    the proposal arrives is waited for and then holds (without the lock the submission would read the old deadline
    and be stored). PostgreSQL only: SQLite takes its write lock at a transaction's first write."""
    await make_user(sessions, "admin", "admin@example.org")
    await make_user(sessions, "proposer", "owner@example.org")
    async with served(database_url) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        admin = await _bearer(client, "admin@example.org")
        imported = await client.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=admin)
        round_id = imported.json()["id"]
        owner = await _bearer(client, "owner@example.org")

        async with sessions.begin() as session:
            await session.execute(
                update(Round).where(col(Round.id) == round_id).values(call_closes=CLOSED_IN_2021_INSTANT)
            )
            late = asyncio.create_task(client.post(f"/rounds/{round_id}/proposals", json=CONTENT, headers=owner))
            await asyncio.sleep(1.0)
            assert not late.done(), "the submission waits for the round's row"

        answer = await late
    assert answer.status_code == 409, answer.text
    assert SHOWN_2021 in answer.json()["detail"]


async def _bearer(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
