"""Self-declared bonus facts: a proposer's claim earns nothing until a coordinator of the facilities it asks for
confirms it, and then only as many missed rounds as the round's scoring lets count. Through the HTTP API, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fixtures import EXAMPLE_ROUND
from scheduler.roundfile.checks import load_round
from tests.api_helpers import Client, api_client, login, make_user

EXAMPLE = EXAMPLE_ROUND
SCORING = {
    "grade_best": 1.0,
    "grade_worst": 5.0,
    "min_reviews": 1,
    "bonuses": {"ageing_per_round": 0.1, "first_time_users": 0.2, "early_career_pi": 0.05},
}
"""One usable review is enough; `ageing_max_rounds` is left out, so its default of 3 rounds applies."""
CLAIM = {"missed_rounds": 10, "first_time_users": True, "early_career_pi": True}
CONTENT: dict[str, Any] = {
    "title": "Spin waves",
    "type": "standard",
    "pi": {"name": "Ada Lovelace", "institution": "University of London", "country": "GB"},
    "requests": [{"label": "a", "instruments": ["SKIF-1-1"], "shifts": 3}],
} | CLAIM
"""Asks for SKIF only: PIK's coordinators see it in their round but do not judge it."""

PEOPLE = {
    "skif": ("coordinator", ["SKIF"]),
    "pik": ("coordinator", ["PIK"]),
    "kisi": ("coordinator", ["KISI"]),
    "owner": ("proposer", []),
    "other": ("proposer", []),
    "reviewer": ("reviewer", []),
}


@dataclass
class Round:
    client: Client
    id: int
    proposal: dict[str, Any]
    """The owner's proposal, claiming `CLAIM`, as submitted."""
    users: dict[str, int]
    headers: dict[str, dict[str, str]]

    @property
    def url(self) -> str:
        return f"/proposals/{self.proposal['id']}"

    async def confirm(self, who: str, facts: dict[str, Any]) -> Any:
        return await self.client.put(f"{self.url}/bonus-facts", json=facts, headers=self.headers[who])

    async def exported_facts(self) -> dict[str, Any]:
        exported = await self.client.get(f"/rounds/{self.id}/export", headers=self.headers["admin"])
        assert exported.status_code == 200, exported.text
        entry = next(item for item in exported.json()["proposals"] if item["id"] == self.proposal["code"])
        return {key: entry[key] for key in CLAIM}

    async def ranked(self) -> dict[str, Any]:
        ranking = await self.client.get(f"/rounds/{self.id}/ranking", headers=self.headers["skif"])
        assert ranking.status_code == 200, ranking.text
        return next(row for row in ranking.json()["items"] if row["proposal_id"] == self.proposal["id"])


@pytest.fixture
async def round_(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Round]:
    """The example round (SKIF and PIK) with bonuses, open, and the owner's proposal in it; KISI is outside it."""
    async with api_client(database_url) as client:
        users = {"admin": await make_user(sessions, "admin", "admin@example.org")}
        headers = {"admin": await login(client, "admin@example.org")}
        kisi = {"code": "KISI", "name": "KISI", "country": "RU", "timezone": "Europe/Moscow"}
        assert (await client.post("/facilities", json=kisi, headers=headers["admin"])).status_code == 201
        document = json.loads(EXAMPLE.read_text()) | {"scoring": SCORING}
        imported = await client.post("/rounds/import", json=document, headers=headers["admin"])
        assert imported.status_code == 201, imported.text
        for key, (role, facilities) in PEOPLE.items():
            users[key] = await make_user(sessions, role, f"{key}@example.org", facility_codes=facilities)
            headers[key] = await login(client, f"{key}@example.org")
        round_id = imported.json()["id"]
        submitted = await client.post(f"/rounds/{round_id}/proposals", json=CONTENT, headers=headers["owner"])
        assert submitted.status_code == 201, submitted.text
        yield Round(client, round_id, submitted.json(), users, headers)


async def test_a_claim_is_shown_as_awaiting_confirmation_and_reaches_no_file(round_: Round) -> None:
    assert {key: round_.proposal[key] for key in CLAIM} == CLAIM
    assert round_.proposal["bonus_facts_confirmed"] is False
    for who in ("owner", "skif", "pik"):
        shown = (await round_.client.get(round_.url, headers=round_.headers[who])).json()
        assert (shown["missed_rounds"], shown["bonus_facts_confirmed"]) == (10, False), who

    assert await round_.exported_facts() == {"missed_rounds": 0, "first_time_users": False, "early_career_pi": False}


async def test_only_coordinators_of_the_facilities_asked_for_confirm(round_: Round) -> None:
    facts = {"missed_rounds": 10, "first_time_users": False, "early_career_pi": True}

    by_owner = await round_.confirm("owner", facts)
    by_other_proposer = await round_.confirm("other", facts)
    by_reviewer = await round_.confirm("reviewer", facts)
    by_pik = await round_.confirm("pik", facts)
    by_kisi = await round_.confirm("kisi", facts)

    assert (by_owner.status_code, by_other_proposer.status_code, by_reviewer.status_code) == (403, 403, 403)
    assert by_pik.status_code == 403, by_pik.text
    assert by_kisi.status_code == 404
    assert by_kisi.json()["detail"] == f"no proposal {round_.proposal['id']}"
    unchanged = (await round_.client.get(round_.url, headers=round_.headers["owner"])).json()
    assert (unchanged["first_time_users"], unchanged["bonus_facts_confirmed"]) == (True, False)

    confirmed = await round_.confirm("skif", facts)

    assert confirmed.status_code == 200, confirmed.text
    assert {key: confirmed.json()[key] for key in CLAIM} == facts
    assert confirmed.json()["bonus_facts_confirmed"] is True
    assert (await round_.client.get(round_.url, headers=round_.headers["owner"])).json() == confirmed.json()
    assert await round_.exported_facts() == facts
    audit = await round_.client.get(
        "/audit",
        params={"entity": "proposal", "entity_id": str(round_.proposal["id"])},
        headers=round_.headers["admin"],
    )
    [entry] = [item for item in audit.json()["items"] if item["action"] == "proposal.bonus_facts"]
    assert entry["user_id"] == round_.users["skif"]
    assert entry["detail"] == {
        "before": CLAIM | {"bonus_facts_confirmed": False},
        "after": facts | {"bonus_facts_confirmed": True},
    }


async def test_an_unconfirmed_claim_scores_as_nothing_and_a_confirmed_one_up_to_the_cap(round_: Round) -> None:
    """Grade 3.0 on 1 (best) … 5: priority 10^(4·(5 − grade)/4)."""
    client, headers = round_.client, round_.headers
    assigned = await client.post(
        f"{round_.url}/reviewers", json={"user_id": round_.users["reviewer"]}, headers=headers["skif"]
    )
    assert assigned.status_code == 201, assigned.text
    moved = await client.put(f"/rounds/{round_.id}/phase", json={"phase": "review"}, headers=headers["admin"])
    assert moved.status_code == 200, moved.text
    graded = await client.put(f"{round_.url}/review", json={"grade": 3.0}, headers=headers["reviewer"])
    assert graded.status_code == 200, graded.text

    unconfirmed = await round_.ranked()
    assert unconfirmed["adjustments"] == {}
    assert unconfirmed["final_grade"] == pytest.approx(3.0)
    assert unconfirmed["priority"] == pytest.approx(100.0)

    confirmed = await round_.confirm("skif", {"missed_rounds": 10, "first_time_users": False, "early_career_pi": True})
    assert confirmed.status_code == 200, confirmed.text

    # Ten missed rounds count as three: 3 × 0.1 = 0.3; early-career PI 0.05; first-time users not confirmed.
    aged = await round_.ranked()
    assert aged["adjustments"] == {"ageing": pytest.approx(-0.3), "early_career_pi": pytest.approx(-0.05)}
    assert aged["final_grade"] == pytest.approx(2.65)
    assert aged["priority"] == pytest.approx(10**2.35)


async def test_a_rewrite_makes_the_facts_a_claim_again(round_: Round) -> None:
    confirmed = await round_.confirm("skif", {"missed_rounds": 2})
    assert (confirmed.json()["missed_rounds"], confirmed.json()["first_time_users"]) == (2, False)
    assert await round_.exported_facts() == {"missed_rounds": 2, "first_time_users": False, "early_career_pi": False}

    rewritten = await round_.client.put(
        round_.url, json=CONTENT | {"missed_rounds": 5}, headers=round_.headers["owner"]
    )

    assert rewritten.status_code == 200, rewritten.text
    assert (rewritten.json()["missed_rounds"], rewritten.json()["bonus_facts_confirmed"]) == (5, False)
    assert await round_.exported_facts() == {"missed_rounds": 0, "first_time_users": False, "early_career_pi": False}


async def test_bad_facts_are_refused_naming_the_field(round_: Round) -> None:
    for body, path in (
        ({"missed_rounds": 101}, "$.missed_rounds"),
        ({"missed_rounds": -1}, "$.missed_rounds"),
        ({"early_career_pi": "perhaps"}, "$.early_career_pi"),
        ({"bonus_facts_confirmed": True}, "$.bonus_facts_confirmed"),
    ):
        refused = await round_.confirm("skif", body)
        assert refused.status_code == 422, refused.text
        assert [error["path"] for error in refused.json()["errors"]] == [path]
    shown = (await round_.client.get(round_.url, headers=round_.headers["skif"])).json()
    assert shown["bonus_facts_confirmed"] is False


async def test_facts_in_an_imported_round_file_are_the_coordinators_and_come_back(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    document = json.loads(EXAMPLE.read_text()) | {"scoring": SCORING}
    document["proposals"][0] |= {"missed_rounds": 2, "early_career_pi": True}
    async with api_client(database_url) as client:
        await make_user(sessions, "admin", "admin@example.org")
        admin = await login(client, "admin@example.org")
        imported = await client.post("/rounds/import", json=document, headers=admin)
        assert imported.status_code == 201, imported.text
        round_id = imported.json()["id"]
        listed = (await client.get("/proposals", params={"round_id": round_id}, headers=admin)).json()["items"]
        first = next(item["id"] for item in listed if item["code"] == document["proposals"][0]["id"])

        shown = (await client.get(f"/proposals/{first}", headers=admin)).json()
        exported = (await client.get(f"/rounds/{round_id}/export", headers=admin)).json()

    assert (shown["missed_rounds"], shown["early_career_pi"], shown["bonus_facts_confirmed"]) == (2, True, True)
    assert load_round(exported) == load_round(document)
    assert exported["scoring"]["bonuses"]["ageing_max_rounds"] == 3
