"""Bounded proposals: requests, links and team members per proposal and open proposals per account and round
within the settings' limits, names and titles without invisible or direction-changing characters, in the API
and in round files; each refusal names the field and the limit (or the character)."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import unicodedata
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import AuditEntry, Proposal
from scheduler.fields import INVISIBLE_CHARACTERS
from tests.api_helpers import api_client, login, make_user, served
from tests.proposals.test_api_proposals import CONTENT

EXAMPLE = EXAMPLE_ROUND
Sessions = async_sessionmaker[AsyncSession]


def _request(label: str) -> dict[str, Any]:
    return {
        "label": label,
        "instruments": ["SKIF-1-1", "SKIF-1-4"],
        "shifts": 2,
        "min_shifts": 1,
        "equipment": ["cryomagnet-9T"],
        "earliest": "2027-02-02T08:00:00+03:00",
        "latest": "2027-03-20T08:00:00+03:00",
        "unavailable": [
            {"start": "2027-02-05T08:00:00+03:00", "end": "2027-02-06T08:00:00+03:00"},
            {"start": "2027-02-12T08:00:00+03:00", "end": "2027-02-13T08:00:00+03:00"},
        ],
    }


def _with(requests: int = 1, links: int = 0, team: int = 0) -> dict[str, Any]:
    """A proposal with that many requests, `after` links between its first two, and team members."""
    return CONTENT | {
        "requests": [_request(f"r{number}") for number in range(requests)],
        "links": [{"type": "after", "first": "r0", "then": "r1"}] * links,
        "team": [{"name": f"Member {number}", "country": "RU"} for number in range(team)],
    }


async def _round(client: httpx.AsyncClient, sessions: Sessions) -> tuple[int, dict[str, str]]:
    """The example round, open; headers of a proposer."""
    await make_user(sessions, "admin", "admin@example.org")
    await make_user(sessions, "proposer", "owner@example.org")
    admin = await login(client, "admin@example.org")
    imported = await client.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=admin)
    assert imported.status_code == 201, imported.text
    return imported.json()["id"], await login(client, "owner@example.org")


def _problems(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {error["path"]: error["message"] for error in response.json()["errors"]}


async def test_three_thousand_requests_are_refused_at_once(database_url: str, sessions: Sessions) -> None:
    """The finding: one proposal of 3,000 requests (1.1 MB) was stored, in 1.7 s."""
    async with api_client(database_url) as client:
        round_id, owner = await _round(client, sessions)
        body = json.dumps(_with(requests=3000))
        assert len(body) > 1_100_000

        started = time.perf_counter()
        huge = await client.post(
            f"/rounds/{round_id}/proposals", content=body, headers=owner | {"Content-Type": "application/json"}
        )
        took = time.perf_counter() - started

        assert huge.status_code == 413, huge.text
        assert took < 0.5
        mine = await client.get("/proposals", params={"round_id": round_id}, headers=owner)
        assert mine.json()["total"] == 0


async def test_requests_links_and_team_are_bounded_by_the_settings(database_url: str, sessions: Sessions) -> None:
    async with api_client(database_url) as client:
        round_id, owner = await _round(client, sessions)
        url = f"/rounds/{round_id}/proposals"

        over = await client.post(url, json=_with(requests=51, links=51, team=31), headers=owner)
        at_the_limits = await client.post(url, json=_with(requests=50, links=1, team=30), headers=owner)

        assert _problems(over) == {
            "$.requests": "at most 50 requests per proposal, got 51",
            "$.links": "at most 50 links per proposal, got 51",
            "$.team": "at most 30 team members per proposal, got 31",
        }
        assert at_the_limits.status_code == 201, at_the_limits.text
        rewrite = await client.put(f"/proposals/{at_the_limits.json()['id']}", json=_with(requests=51), headers=owner)
        assert _problems(rewrite) == {"$.requests": "at most 50 requests per proposal, got 51"}
        kept = await client.get(f"/proposals/{at_the_limits.json()['id']}", headers=owner)
        assert len(kept.json()["requests"]) == 50

    async with api_client(database_url, proposal_max_requests=2, proposal_max_team=0) as client:
        owner = await login(client, "owner@example.org")
        tightened = await client.post(url, json=_with(requests=3, team=1), headers=owner)
        assert _problems(tightened) == {
            "$.requests": "at most 2 requests per proposal, got 3",
            "$.team": "at most 0 team members per proposal, got 1",
        }


async def test_an_account_has_a_bounded_number_of_open_proposals_per_round(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url, open_proposals_per_account=2) as client:
        round_id, owner = await _round(client, sessions)
        await make_user(sessions, "proposer", "other@example.org")
        other = await login(client, "other@example.org")
        url = f"/rounds/{round_id}/proposals"
        first, second = [(await client.post(url, json=CONTENT, headers=owner)).json()["id"] for _ in range(2)]

        third = await client.post(url, json=CONTENT, headers=owner)
        anothers = await client.post(url, json=CONTENT, headers=other)

        assert third.status_code == 409
        assert "open_proposals_per_account 2" in third.json()["detail"]
        assert "you have 2 open proposals" in third.json()["detail"]
        assert anothers.status_code == 201
        rewritten = await client.put(f"/proposals/{second}", json=CONTENT | {"title": "Still two"}, headers=owner)
        assert rewritten.status_code == 200, rewritten.text
        assert (await client.post(f"/proposals/{first}/withdraw", headers=owner)).status_code == 200
        assert (await client.post(url, json=CONTENT, headers=owner)).status_code == 201


async def test_submissions_sent_at_once_never_pass_the_open_proposals_limit(
    database_url: str, sessions: Sessions
) -> None:
    """The open proposals are counted under the round's lock, in the statement that takes the next position: of six
    submissions sent at once by an account with one place left, one is stored and five are refused. Each refused one
    had written its audit entry before its count: the entry went with its transaction."""
    async with (
        served(database_url, open_proposals_per_account=2) as base,
        httpx.AsyncClient(base_url=base, timeout=60) as client,
    ):
        round_id, owner = await _round(client, sessions)
        url = f"/rounds/{round_id}/proposals"
        first = await client.post(url, json=CONTENT, headers=owner)
        assert first.status_code == 201, first.text

        answers = await asyncio.gather(*(client.post(url, json=CONTENT, headers=owner) for _ in range(6)))

    assert sorted(answer.status_code for answer in answers) == [201, 409, 409, 409, 409, 409]
    owner_id = first.json()["owner_id"]
    async with sessions() as session:
        stored = await session.scalar(
            select(func.count()).where(col(Proposal.round_id) == round_id, col(Proposal.owner_id) == owner_id)
        )
        audited = await session.scalar(
            select(func.count()).where(col(AuditEntry.user_id) == owner_id, col(AuditEntry.action) == "proposal.submit")
        )
    assert stored == 2
    assert audited == 2


ARABIC_MAGNETISM = "\u0627\u0644\u0645\u063a\u0646\u0627\u0637\u064a\u0633\u064a\u0629"
"""Right-to-left text itself is welcome: only the controls that change how text reads are refused."""
BIDI_TITLE = "Magnetism \u202eemlif niht\u202c"
"""The finding: a title with a right-to-left override reads backwards to coordinators and in calendar feeds."""


async def test_names_and_titles_refuse_invisible_and_direction_changing_characters(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url) as client:
        round_id, owner = await _round(client, sessions)
        admin = await login(client, "admin@example.org")
        hidden = CONTENT | {
            "title": BIDI_TITLE,
            "pi": {"name": "Ada\u200bLovelace", "institution": "University\ufeff of London", "country": "GB"},
            "team": [{"name": "demo\u2066 REVIEWER", "country": "GB"}, {"name": "C.\u2028Babbage", "country": "GB"}],
        }

        refused = await client.post(f"/rounds/{round_id}/proposals", json=hidden, headers=owner)
        facility = await client.post(
            "/facilities",
            json={"code": "ESRF\u200d", "name": "E\u202eSRF", "country": "FR", "timezone": "Europe/Paris"},
            headers=admin,
        )
        round_file = json.loads(EXAMPLE.read_text())
        round_file["round"]["id"] = "ROUND-2"
        round_file["proposals"][0]["title"] = BIDI_TITLE
        round_file["proposals"][1]["pi"]["name"] = "Ivan\u00adov"
        imported = await client.post("/rounds/import", json=round_file, headers=admin)

        problems = _problems(refused)
        assert set(problems) == {"$.title", "$.pi.name", "$.pi.institution", "$.team[0].name", "$.team[1].name"}
        assert "U+202E at 10" in problems["$.title"]
        assert "U+200B" in problems["$.pi.name"]
        assert "U+FEFF" in problems["$.pi.institution"]
        assert "U+2066" in problems["$.team[0].name"]
        assert "U+2028" in problems["$.team[1].name"]
        assert set(_problems(facility)) == {"$.code", "$.name"}
        assert set(_problems(imported)) == {"$.proposals[0].title", "$.proposals[1].pi.name"}
        written = CONTENT | {"title": f"Magnetism in thin films ({ARABIC_MAGNETISM}, Магнетизм)"}
        assert (await client.post(f"/rounds/{round_id}/proposals", json=written, headers=owner)).status_code == 201


def test_the_refused_characters_are_every_control_format_and_separator_character() -> None:
    """One list (`scheduler.fields.INVISIBLE_CHARACTERS`), held against this Python's Unicode database."""
    listed = {chr(point) for low, high in INVISIBLE_CHARACTERS for point in range(low, high + 1)}
    categories = {"Cc", "Cf", "Zl", "Zp"}
    expected = {chr(point) for point in range(sys.maxunicode + 1) if unicodedata.category(chr(point)) in categories}
    assert listed == expected


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_schema_says_which_names_are_refused(database_url: str) -> None:
    """The OpenAPI document's pattern for a name is what validation does, so generated clients refuse alike."""
    async with api_client(database_url) as client:
        schema = (await client.get("/schema/openapi.json")).json()
    person = schema["components"]["schemas"]["PersonIn"]["properties"]
    title = schema["components"]["schemas"]["ProposalContent"]["properties"]["title"]
    for pattern in (person["name"]["pattern"], title["pattern"]):
        assert re.fullmatch(pattern, "Ada Lovelace, Новосибирск")
        for character in ("\u202e", "\u2066", "\u200b", "\x85", "\U000e0041", "\n"):
            assert not re.fullmatch(pattern, f"Ada{character}")
    assert re.fullmatch(person["institution"]["pattern"], "")
