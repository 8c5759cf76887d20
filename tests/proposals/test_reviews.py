"""Reviews that hold: conflicts decided on accounts, late conflicts set one review aside, voided reviews never
count, and reviewers see what reviewing needs. Through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fixtures import EXAMPLE_ROUND
from tests.api_helpers import Client, api_client, login, make_user

EXAMPLE = EXAMPLE_ROUND
REVIEWER = "reviewer@example.org"


def content(*team: dict[str, Any], pi: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "title": "Magnetism in thin films",
        "type": "standard",
        "pi": pi or {"name": "Ada Lovelace", "country": "GB"},
        "team": list(team),
        "requests": [{"label": "a", "instruments": ["SKIF-1-1"], "shifts": 3}],
    }


@dataclass
class World:
    client: Client
    round_id: int
    users: dict[str, int]
    headers: dict[str, dict[str, str]]

    async def move_to(self, phase: str) -> None:
        moved = await self.client.put(
            f"/rounds/{self.round_id}/phase", json={"phase": phase}, headers=self.headers["admin"]
        )
        assert moved.status_code == 200, moved.text

    async def submit(self, body: dict[str, Any]) -> int:
        submitted = await self.client.post(
            f"/rounds/{self.round_id}/proposals", json=body, headers=self.headers["proposer"]
        )
        assert submitted.status_code == 201, submitted.text
        return int(submitted.json()["id"])

    async def assign(self, proposal_id: int, who: str) -> Any:
        return await self.client.post(
            f"/proposals/{proposal_id}/reviewers", json={"user_id": self.users[who]}, headers=self.headers["skif"]
        )

    async def grade(self, proposal_id: int, who: str, grade: float) -> Any:
        return await self.client.put(
            f"/proposals/{proposal_id}/review", json={"grade": grade}, headers=self.headers[who]
        )

    async def ranking_row(self, proposal_id: int) -> dict[str, Any]:
        ranking = await self.client.get(
            f"/rounds/{self.round_id}/ranking", params={"limit": 100}, headers=self.headers["admin"]
        )
        assert ranking.status_code == 200, ranking.text
        return next(row for row in ranking.json()["items"] if row["proposal_id"] == proposal_id)

    async def reviews(self, proposal_id: int, who: str = "skif") -> list[dict[str, Any]]:
        listed = await self.client.get(f"/proposals/{proposal_id}/reviews", headers=self.headers[who])
        assert listed.status_code == 200, listed.text
        return list(listed.json()["items"])


PEOPLE = {
    "skif": ("coordinator", ["SKIF"], "skif@example.org", None),
    "pik": ("coordinator", ["PIK"], "pik@example.org", None),
    "proposer": ("proposer", [], "proposer@example.org", None),
    "reviewer": ("reviewer", [], REVIEWER, "Demo Reviewer"),
    "second": ("reviewer", [], "second@example.org", "Second Reviewer"),
}


@pytest.fixture
async def world(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    """The example round (SKIF and PIK, grades 1 best to 5 worst, two reviews needed), imported, call open."""
    async with api_client(database_url) as client:
        users = {"admin": await make_user(sessions, "admin", "admin@example.org")}
        headers = {"admin": await login(client, "admin@example.org")}
        imported = await client.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=headers["admin"])
        assert imported.status_code == 201, imported.text
        for key, (role, facilities, email, name) in PEOPLE.items():
            users[key] = await make_user(sessions, role, email, facility_codes=facilities, name=name)
            headers[key] = await login(client, email)
        yield World(client, imported.json()["id"], users, headers)


async def test_conflicts_are_decided_on_account_e_mails_never_on_display_names(world: World) -> None:
    named_alike = await world.submit(content({"name": "demo   REVIEWER", "country": "RU"}))
    named_as_the_e_mail = await world.submit(content({"name": REVIEWER, "country": "RU"}))
    team_member = await world.submit(content({"name": "Anyone", "country": "RU", "email": "Reviewer@Example.org"}))
    the_pi = await world.submit(content(pi={"name": "Ada Lovelace", "country": "GB", "email": REVIEWER}))

    assert (await world.assign(named_alike, "reviewer")).status_code == 201
    assert (await world.assign(named_as_the_e_mail, "reviewer")).status_code == 201
    for proposal_id in (team_member, the_pi):
        refused = await world.assign(proposal_id, "reviewer")
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == (
            f"Demo Reviewer ({REVIEWER}) is an author of this proposal and cannot review it"
        )
    assert (await world.assign(team_member, "second")).status_code == 201
    shown = (await world.client.get(f"/proposals/{team_member}", headers=world.headers["proposer"])).json()
    assert shown["team"][0]["email"] == REVIEWER
    bad_e_mail = await world.client.post(
        f"/rounds/{world.round_id}/proposals",
        json=content({"name": "Anyone", "country": "RU", "email": "not an address"}),
        headers=world.headers["proposer"],
    )
    assert bad_e_mail.status_code == 422
    assert [error["path"] for error in bad_e_mail.json()["errors"]] == ["$.team[0].email"]


async def test_a_team_member_named_after_a_reviewers_e_mail_stops_nothing(world: World) -> None:
    """The finding: a team member named `reviewer@example.org`, that reviewer assigned and grading; the ranking
    answered 422 for the whole round. Names decide nothing: the grade counts and the round ranks."""
    proposal_id = await world.submit(content({"name": REVIEWER, "country": "RU"}))
    assert (await world.assign(proposal_id, "reviewer")).status_code == 201
    assert (await world.assign(proposal_id, "second")).status_code == 201
    await world.move_to("review")
    assert (await world.grade(proposal_id, "reviewer", 2.0)).status_code == 200
    assert (await world.grade(proposal_id, "second", 3.0)).status_code == 200

    row = await world.ranking_row(proposal_id)

    assert (row["usable_reviews"], row["raw_grade"], row["reviews_set_aside"]) == (2, 2.5, [])


async def test_a_conflict_found_after_grading_sets_that_review_aside_never_the_round(world: World) -> None:
    proposal_id = await world.submit(content({"name": "C. Babbage", "country": "GB"}))
    for reviewer in ("reviewer", "second"):
        assert (await world.assign(proposal_id, reviewer)).status_code == 201
    await world.move_to("review")
    assert (await world.grade(proposal_id, "reviewer", 1.0)).status_code == 200
    assert (await world.grade(proposal_id, "second", 3.0)).status_code == 200
    await world.move_to("open")
    rewritten = await world.client.put(
        f"/proposals/{proposal_id}",
        json=content({"name": "C. Babbage", "country": "GB", "email": REVIEWER}),
        headers=world.headers["proposer"],
    )
    assert rewritten.status_code == 200, rewritten.text

    row = await world.ranking_row(proposal_id)

    assert row["reviews_set_aside"] == [f"reviewer {REVIEWER!r} is the PI or a team member of this proposal"]
    assert (row["usable_reviews"], row["raw_grade"]) == (1, 3.0)
    assert row["excluded_detail"] == "1 usable review(s), 2 required"
    untouched = await world.ranking_row(next(iter(await _imported(world))))
    assert untouched["excluded_reason"] is None


async def test_unassigning_a_reviewer_voids_their_review(world: World) -> None:
    """The finding: grades 1.0 and 5.0, the second reviewer unassigned (204), and the ranking still used both
    (`usable_reviews: 2`, raw grade 3.0)."""
    proposal_id = await world.submit(content())
    for reviewer in ("reviewer", "second"):
        assert (await world.assign(proposal_id, reviewer)).status_code == 201
    await world.move_to("review")
    assert (await world.grade(proposal_id, "reviewer", 1.0)).status_code == 200
    assert (await world.grade(proposal_id, "second", 5.0)).status_code == 200
    before = await world.ranking_row(proposal_id)
    assert (before["usable_reviews"], before["raw_grade"]) == (2, 3.0)

    unassigned = await world.client.delete(
        f"/proposals/{proposal_id}/reviewers/{world.users['second']}", headers=world.headers["skif"]
    )

    assert unassigned.status_code == 204
    row = await world.ranking_row(proposal_id)
    assert (row["usable_reviews"], row["raw_grade"]) == (1, 1.0)
    voided = {review["reviewer"]: review for review in await world.reviews(proposal_id)}
    assert voided["second@example.org"]["void_reason"] == "reviewer unassigned"
    assert voided["second@example.org"]["voided_at"] is not None
    assert voided[REVIEWER]["voided_at"] is None
    assert (await world.grade(proposal_id, "second", 1.0)).status_code == 404

    assert (await world.assign(proposal_id, "second")).status_code == 201
    assert (await world.grade(proposal_id, "second", 2.0)).status_code == 200
    row = await world.ranking_row(proposal_id)
    assert (row["usable_reviews"], row["raw_grade"]) == (2, 1.5)


async def test_a_coordinator_voids_a_review_with_a_reason_and_it_stays_void(world: World) -> None:
    proposal_id = await world.submit(content())
    for reviewer in ("reviewer", "second"):
        assert (await world.assign(proposal_id, reviewer)).status_code == 201
    await world.move_to("review")
    assert (await world.grade(proposal_id, "reviewer", 1.0)).status_code == 200
    assert (await world.grade(proposal_id, "second", 5.0)).status_code == 200
    review_id = next(review["id"] for review in await world.reviews(proposal_id) if review["reviewer"] != REVIEWER)
    void_url = f"/proposals/{proposal_id}/reviews/{review_id}/void"
    reason = {"reason": "undeclared collaboration with the PI"}

    by_a_reviewer = await world.client.post(void_url, json=reason, headers=world.headers["reviewer"])
    by_another_facility = await world.client.post(void_url, json=reason, headers=world.headers["pik"])
    blank = await world.client.post(void_url, json={"reason": "   "}, headers=world.headers["skif"])
    of_another_proposal = await world.client.post(
        f"/proposals/{next(iter(await _imported(world)))}/reviews/{review_id}/void",
        json=reason,
        headers=world.headers["admin"],
    )
    voided = await world.client.post(void_url, json=reason, headers=world.headers["skif"])
    again = await world.client.post(void_url, json=reason, headers=world.headers["skif"])
    regraded = await world.grade(proposal_id, "second", 1.0)

    assert (by_a_reviewer.status_code, by_another_facility.status_code) == (403, 403)
    assert blank.status_code == 422
    assert [error["path"] for error in blank.json()["errors"]] == ["$.reason"]
    assert of_another_proposal.status_code == 404
    assert voided.status_code == 200, voided.text
    assert (voided.json()["void_reason"], voided.json()["grade"]) == (reason["reason"], 5.0)
    assert again.status_code == 409
    assert regraded.status_code == 409
    assert reason["reason"] in regraded.json()["detail"]
    row = await world.ranking_row(proposal_id)
    assert (row["usable_reviews"], row["raw_grade"]) == (1, 1.0)
    audit = await world.client.get(
        "/audit", params={"entity": "proposal", "entity_id": str(proposal_id)}, headers=world.headers["admin"]
    )
    [entry] = [entry for entry in audit.json()["items"] if entry["action"] == "review.void"]
    assert entry["user_id"] == world.users["skif"]
    assert entry["detail"] == {"review_id": review_id, "reason": reason["reason"]}


async def test_reviewers_see_what_reviewing_needs_and_nothing_more(world: World) -> None:
    proposal_id = await world.submit(content({"name": "C. Babbage", "country": "GB"}))
    for reviewer in ("reviewer", "second"):
        assert (await world.assign(proposal_id, reviewer)).status_code == 201
    judged = await world.client.put(
        f"/proposals/{proposal_id}/feasibility", json={"technically_feasible": False}, headers=world.headers["skif"]
    )
    assert judged.status_code == 200, judged.text
    await world.move_to("review")
    assert (await world.grade(proposal_id, "second", 4.0)).status_code == 200
    assert (await world.grade(proposal_id, "reviewer", 2.0)).status_code == 200

    as_reviewer = (await world.client.get(f"/proposals/{proposal_id}", headers=world.headers["reviewer"])).json()
    as_owner = (await world.client.get(f"/proposals/{proposal_id}", headers=world.headers["proposer"])).json()
    listed = (await world.client.get("/proposals", headers=world.headers["reviewer"])).json()["items"]
    own_reviews = await world.reviews(proposal_id, "reviewer")

    assert as_reviewer["title"] == "Magnetism in thin films"
    assert [request["label"] for request in as_reviewer["requests"]] == ["a"]
    assert [member["name"] for member in as_reviewer["team"]] == ["C. Babbage"]
    assert (as_reviewer["owner_id"], as_reviewer["priority"], as_reviewer["technically_feasible"]) == (None, None, None)
    assert [(item["id"], item["owner_id"], item["technically_feasible"]) for item in listed] == [
        (proposal_id, None, None)
    ]
    assert (as_owner["owner_id"], as_owner["technically_feasible"]) == (world.users["proposer"], False)
    assert [(review["reviewer"], review["grade"]) for review in own_reviews] == [(REVIEWER, 2.0)]


async def _imported(world: World) -> list[int]:
    """The ids of the example round's own proposals (those with no owner), which none of these tests touch."""
    listed = await world.client.get(
        "/proposals", params={"round_id": world.round_id, "limit": 100}, headers=world.headers["admin"]
    )
    return [item["id"] for item in listed.json()["items"] if item["owner_id"] is None]
