"""Facts that count are confirmed: the countries and proposal types quotas count on are what the
facilities confirmed, never what a proposer declares.

Each test goes through the HTTP API on the example round (SKIF and PIK, both in RU; quotas
`foreign-min` by the PI's country, `cis-min` by the team's, `industrial-max` on SKIF) and reads
what a solve reads: the round's export, attributed to quotas by the round file's own rules.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import Proposal
from scheduler.roundfile import validate
from scheduler.roundfile.contract import Proposal as FileProposal
from scheduler.roundfile.contract import RoundFile
from scheduler.roundfile.quotas import WHOLE_CATEGORY, attributed_fractions
from scheduler.roundfile.scoring import score_round
from tests.api_helpers import Client, api_client, login, make_user

EXAMPLE = EXAMPLE_ROUND
FACILITY_COUNTRY = "RU"
PEOPLE = {
    "admin": ("admin", []),
    "skif": ("coordinator", ["SKIF"]),
    "pik": ("coordinator", ["PIK"]),
    "kisi": ("coordinator", ["KISI"]),
    "owner": ("proposer", []),
    "other": ("proposer", []),
    "kazakh": ("proposer", []),
    "reviewer": ("reviewer", []),
}


def content(**changes: Any) -> dict[str, Any]:
    """A proposal asking for SKIF only, its PI claiming Armenia (CIS, with headroom under `cis-min`)."""
    return {
        "title": "Strain in thin films",
        "type": "standard",
        "pi": {"name": "A. Petrosyan", "institution": "YSU", "country": "AM"},
        "team": [{"name": "C. Babbage", "country": "KZ"}],
        "requests": [{"label": "a", "instruments": ["SKIF-1-1"], "shifts": 6}],
        "links": [],
    } | changes


@dataclass
class Round:
    client: Client
    sessions: async_sessionmaker[AsyncSession]
    id: int
    users: dict[str, int]
    headers: dict[str, dict[str, str]]

    async def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(f"/rounds/{self.id}/proposals", json=body, headers=self.headers["owner"])
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def exported(self, code: str) -> tuple[RoundFile, FileProposal]:
        """The round file a solve reads, and the proposal `code` in it."""
        response = await self.client.get(f"/rounds/{self.id}/export", headers=self.headers["admin"])
        assert response.status_code == 200, response.text
        round_file = RoundFile.model_validate(response.json())
        return round_file, next(proposal for proposal in round_file.proposals if proposal.id == code)

    async def share(self, code: str, quota_id: str) -> Fraction:
        """The part of the proposal's time at SKIF that counts for the quota."""
        round_file, proposal = await self.exported(code)
        quota = next(quota for quota in round_file.quotas if quota.id == quota_id)
        fractions = attributed_fractions(
            proposal, quota.category, FACILITY_COUNTRY, round_file.country_groups, quota.attribution
        )
        return fractions[WHOLE_CATEGORY]

    async def confirm(self, who: str, user: str, body: dict[str, Any]) -> Any:
        return await self.client.put(f"/users/{self.users[user]}/facts", json=body, headers=self.headers[who])


@pytest.fixture
async def round_(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Round]:
    """The example round, imported in phase open; KISI is a facility outside it."""
    async with api_client(database_url) as client:
        users = {"admin": await make_user(sessions, "admin", "admin@example.org")}
        headers = {"admin": await login(client, "admin@example.org")}
        kisi = {"code": "KISI", "name": "KISI", "country": "RU", "timezone": "Europe/Moscow"}
        assert (await client.post("/facilities", json=kisi, headers=headers["admin"])).status_code == 201
        imported = await client.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=headers["admin"])
        assert imported.status_code == 201, imported.text
        for key, (role, facilities) in PEOPLE.items():
            if key != "admin":
                users[key] = await make_user(sessions, role, f"{key}@example.org", facility_codes=facilities)
                headers[key] = await login(client, f"{key}@example.org")
        yield Round(client, sessions, imported.json()["id"], users, headers)


async def test_a_claimed_country_counts_in_no_quota_until_a_coordinator_of_the_round_confirms_it(
    round_: Round,
) -> None:
    proposal = await round_.submit(content())
    code = proposal["code"]
    _, exported = await round_.exported(code)
    assert (exported.pi.country, exported.pi.country_confirmed) == ("AM", False)
    assert [member.country_confirmed for member in exported.team] == [False]
    assert await round_.share(code, "foreign-min") == 0
    assert await round_.share(code, "cis-min") == 0

    proposed = await round_.client.patch(
        "/me", json={"country": "AM", "institution": "Yerevan State University"}, headers=round_.headers["owner"]
    )
    assert proposed.status_code == 200, proposed.text
    assert (proposed.json()["country"], proposed.json()["country_confirmed"]) == ("AM", False)
    assert await round_.share(code, "foreign-min") == 0, "the user's own word is still a claim"

    assert (await round_.confirm("kisi", "owner", {"country": "AM"})).status_code == 404
    assert (await round_.confirm("other", "owner", {"country": "AM"})).status_code == 403
    assert (await round_.confirm("reviewer", "owner", {"country": "AM"})).status_code == 403
    assert (await round_.confirm("owner", "owner", {"country": "AM"})).status_code == 403
    assert await round_.share(code, "foreign-min") == 0

    confirmed = await round_.confirm("skif", "owner", {"country": "AM"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() | {"id": 0} == {
        "id": 0,
        "email": "owner@example.org",
        "name": confirmed.json()["name"],
        "country": "AM",
        "institution": "Yerevan State University",
        "country_confirmed": True,
    }
    _, exported = await round_.exported(code)
    assert (exported.pi.country, exported.pi.country_confirmed) == ("AM", True)
    assert await round_.share(code, "foreign-min") == 1
    assert await round_.share(code, "cis-min") == Fraction(1, 2), "the team member's KZ is still a claim"

    audit = await round_.client.get(
        "/audit", params={"entity": "user", "entity_id": str(round_.users["owner"])}, headers=round_.headers["admin"]
    )
    entries = {entry["action"]: entry for entry in audit.json()["items"]}
    assert entries["user.facts.confirm"]["user_id"] == round_.users["skif"]
    assert entries["user.facts.confirm"]["detail"]["before"]["country_confirmed"] is False
    assert entries["user.facts.confirm"]["detail"]["after"]["country_confirmed"] is True
    assert entries["user.facts.propose"]["user_id"] == round_.users["owner"]

    moved = await round_.client.patch("/me", json={"country": "KZ"}, headers=round_.headers["owner"])
    assert moved.json()["country_confirmed"] is False
    _, exported = await round_.exported(code)
    assert exported.pi.country_confirmed is False
    assert await round_.share(code, "foreign-min") == 0, "a new country is a claim again"


async def test_the_accounts_confirmed_countries_count_not_those_the_proposal_names(round_: Round) -> None:
    for user, country in (("owner", "AM"), ("kazakh", "KZ")):
        confirmed = await round_.confirm("admin", user, {"country": country})
        assert confirmed.status_code == 200, confirmed.text
    team = [
        {"name": "N. Abenov", "country": "RU", "email": "kazakh@example.org"},
        {"name": "No Account", "country": "KZ", "email": "nobody@example.org"},
    ]
    proposal = await round_.submit(content(pi={"name": "A. Petrosyan", "country": "IN"}, team=team))
    _, exported = await round_.exported(proposal["code"])
    assert (exported.pi.country, exported.pi.country_confirmed) == ("AM", True)
    assert [(member.country, member.country_confirmed) for member in exported.team] == [
        ("KZ", True),
        ("KZ", False),
    ]
    assert await round_.share(proposal["code"], "cis-min") == Fraction(2, 3)

    async with round_.sessions.begin() as session:
        # As the demo hands imported proposals to its proposer: the file's countries stay the coordinators' word.
        await session.execute(
            update(Proposal).where(col(Proposal.code) == "P-005").values(owner_id=round_.users["other"])
        )
    _, imported = await round_.exported("P-005")
    assert (imported.pi.country, imported.pi.country_confirmed) == ("AM", True), "a coordinator's file counts"


async def test_an_industrial_type_counts_once_the_facilitys_coordinators_confirm_it(round_: Round) -> None:
    proposal = await round_.submit(content(type="industrial"))
    code, path = proposal["code"], f"/proposals/{proposal['id']}"
    assert proposal["type_confirmed"] is False
    _, exported = await round_.exported(code)
    assert exported.type == "standard"
    assert await round_.share(code, "industrial-max") == 0

    verdict = {"technically_feasible": True, "type_confirmed": True}
    refused = await round_.client.put(f"{path}/feasibility", json=verdict, headers=round_.headers["pik"])
    assert refused.status_code == 403, "PIK coordinates the round but the proposal asks for SKIF only"
    hidden = await round_.client.put(f"{path}/feasibility", json=verdict, headers=round_.headers["kisi"])
    assert hidden.status_code == 404
    by_owner = await round_.client.put(f"{path}/feasibility", json=verdict, headers=round_.headers["owner"])
    assert by_owner.status_code == 403
    assert await round_.share(code, "industrial-max") == 0

    confirmed = await round_.client.put(f"{path}/feasibility", json=verdict, headers=round_.headers["skif"])
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["type_confirmed"] is True
    _, exported = await round_.exported(code)
    assert exported.type == "industrial"
    assert await round_.share(code, "industrial-max") == 1

    kept = await round_.client.put(
        path, json=content(type="industrial", title="Retitled"), headers=round_.headers["owner"]
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["type_confirmed"] is True, "a rewrite keeping the type keeps its confirmation"
    rewritten = await round_.client.put(path, json=content(type="in_house"), headers=round_.headers["owner"])
    assert rewritten.json()["type_confirmed"] is False
    _, exported = await round_.exported(code)
    assert exported.type == "standard"

    _, imported = await round_.exported("P-004")
    assert imported.type == "industrial", "an imported file's type is the coordinators' word"


@pytest.mark.parametrize("confirmed", [True, False])
def test_an_unconfirmed_country_counts_alike_for_the_engine_the_referee_and_the_scoring(confirmed: bool) -> None:
    """The engine's quota rows, the referee's own copy and the country-group bonus read `country_confirmed` alike."""
    document = json.loads(EXAMPLE.read_text())
    document["scoring"]["bonuses"] = {"country_groups": {"CIS": 0.5}}
    (armenian,) = [proposal for proposal in document["proposals"] if proposal["id"] == "P-005"]
    armenian["pi"]["country_confirmed"] = confirmed
    round_file = RoundFile.model_validate(document)
    proposal = next(proposal for proposal in round_file.proposals if proposal.id == "P-005")
    foreign = next(quota for quota in round_file.quotas if quota.id == "foreign-min")
    groups = round_file.country_groups
    engine = attributed_fractions(proposal, foreign.category, FACILITY_COUNTRY, groups, "pi")
    referee = validate.attributed_fractions(proposal, foreign, FACILITY_COUNTRY, groups)
    assert engine == referee == {WHOLE_CATEGORY: Fraction(int(confirmed))}
    (score,) = [score for score in score_round(round_file) if score.proposal == "P-005"]
    assert ("country_group:CIS" in score.adjustments) is confirmed
