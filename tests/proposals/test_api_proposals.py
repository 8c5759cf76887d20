"""Proposals through a round: submitted and edited while the call is open, reviewed by assigned reviewers, ranked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fixtures import EXAMPLE_ROUND
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.scoring import score_round
from tests.api_helpers import Client, api_client, login, make_user

EXAMPLE = EXAMPLE_ROUND
CONTENT: dict[str, Any] = {
    "title": "Magnetism in thin films",
    "type": "standard",
    "pi": {"name": "Ada Lovelace", "institution": "University of London", "country": "GB"},
    "team": [{"name": "C. Babbage", "country": "GB"}],
    "requests": [
        {
            "label": "a",
            "instruments": ["SKIF-1-1"],
            "shifts": 6,
            "min_shifts": 3,
            "equipment": ["cryomagnet-9T"],
            "earliest": "2027-02-02T08:00:00+03:00",
            "unavailable": [{"start": "2027-02-05T08:00:00+03:00", "end": "2027-02-06T08:00:00+03:00"}],
        },
        {"label": "b", "instruments": ["PIK-SANS", "SKIF-1-4"], "shifts": 3},
    ],
    "links": [{"type": "after", "first": "a", "then": "b", "min_gap_shifts": 1}],
}


@dataclass
class Round:
    client: Client
    id: int
    proposal_ids: dict[str, int]
    """The imported proposals' ids by code."""
    users: dict[str, int]
    headers: dict[str, dict[str, str]]

    async def move_to(self, phase: str) -> None:
        """By an admin: the round is SKIF's and PIK's, and its phase needs both (or an admin)."""
        response = await self.client.put(
            f"/rounds/{self.id}/phase", json={"phase": phase}, headers=self.headers["admin"]
        )
        assert response.status_code == 200, response.text


PEOPLE = {
    "admin": ("admin", [], None),
    "coordinator": ("coordinator", ["SKIF"], None),
    "stranger": ("coordinator", ["KISI"], None),
    "pik": ("coordinator", ["PIK"], None),
    "owner": ("proposer", [], None),
    "other": ("proposer", [], None),
    "r1": ("reviewer", [], "Rosalind One"),
    "r2": ("reviewer", [], "Rosalind Two"),
    "ivanova": ("reviewer", [], "A. Ivanova"),
    "petrov": ("reviewer", [], "d.  PETROV"),
}


@pytest.fixture
async def round_(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Round]:
    """The example round, imported, in phase open; KISI is a facility outside it."""
    async with api_client(database_url) as client:
        users = {"admin": await make_user(sessions, "admin", "admin@example.org")}
        admin = await login(client, "admin@example.org")
        kisi = {"code": "KISI", "name": "KISI", "country": "RU", "timezone": "Europe/Moscow"}
        assert (await client.post("/facilities", json=kisi, headers=admin)).status_code == 201
        imported = await client.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=admin)
        assert imported.status_code == 201, imported.text
        headers = {"admin": admin}
        for key, (role, facilities, name) in PEOPLE.items():
            if key != "admin":
                users[key] = await make_user(sessions, role, f"{key}@example.org", facility_codes=facilities, name=name)
                headers[key] = await login(client, f"{key}@example.org")
        round_id = imported.json()["id"]
        listed = (await client.get("/proposals", params={"round_id": round_id}, headers=admin)).json()["items"]
        yield Round(client, round_id, {item["code"]: item["id"] for item in listed}, users, headers)


def _paths(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["path"] for error in response.json()["errors"]]


async def test_a_proposer_submits_and_edits_while_the_call_is_open(round_: Round) -> None:
    client, owner = round_.client, round_.headers["owner"]

    created = await client.post(f"/rounds/{round_.id}/proposals", json=CONTENT, headers=owner)

    assert created.status_code == 201, created.text
    proposal = created.json()
    code = proposal["code"]
    assert code == f"P-{proposal['id']}"
    assert created.headers["location"] == f"/proposals/{proposal['id']}"
    assert proposal["owner_id"] == round_.users["owner"]
    assert [(request["code"], request["label"]) for request in proposal["requests"]] == [
        (f"{code}-a", "a"),
        (f"{code}-b", "b"),
    ]
    assert proposal["requests"][0]["earliest"] == "2027-02-02T05:00:00Z"
    assert proposal["links"] == [
        {"type": "after", "first": "a", "then": "b", "min_gap_shifts": 1, "max_gap_shifts": None}
    ]
    assert (await client.get(f"/proposals/{proposal['id']}", headers=owner)).json() == proposal
    exported = load_round((await client.get(f"/rounds/{round_.id}/export", headers=round_.headers["admin"])).json())
    mine = next(item for item in exported.proposals if item.id == code)
    assert [request.id for request in mine.requests] == [f"{code}-a", f"{code}-b"]
    assert mine.links[0].model_dump() == {
        "type": "after",
        "first": f"{code}-a",
        "then": f"{code}-b",
        "min_gap_shifts": 1,
        "max_gap_shifts": None,
    }

    rewritten = CONTENT | {"title": "Magnetism, again", "requests": CONTENT["requests"][:1], "links": []}
    edited = await client.put(f"/proposals/{proposal['id']}", json=rewritten, headers=owner)
    assert edited.status_code == 200, edited.text
    assert (edited.json()["title"], [r["label"] for r in edited.json()["requests"]]) == ("Magnetism, again", ["a"])
    assert edited.json()["updated_at"] > proposal["updated_at"]

    await round_.move_to("review")
    locked = await client.put(f"/proposals/{proposal['id']}", json=CONTENT, headers=owner)
    late = await client.post(f"/rounds/{round_.id}/proposals", json=CONTENT, headers=owner)
    assert (locked.status_code, late.status_code) == (409, 409)
    assert "only while it is 'open'" in locked.json()["detail"]
    assert (await client.get(f"/proposals/{proposal['id']}", headers=owner)).json()["title"] == "Magnetism, again"


async def test_a_proposal_of_many_parts_is_stored_in_order_with_one_audit_entry_per_write(round_: Round) -> None:
    """On PostgreSQL a write stores its audit entry, team, requests and links in one statement; what it answers,
    what is read back and what the audit shows must be the same as elsewhere."""
    client, owner, admin = round_.client, round_.headers["owner"], round_.headers["admin"]
    team = [{"name": f"Member {n}", "country": "GB", "email": f"m{n}@example.org"} for n in range(3)]
    requests = [
        CONTENT["requests"][0],
        {"label": "b", "instruments": ["PIK-SANS"], "shifts": 2},
        {"label": "c", "instruments": ["SKIF-1-4"], "shifts": 1, "min_shifts": 1},
    ]
    links = [
        {"type": "all_or_nothing", "requests": ["c", "b"]},
        {"type": "after", "first": "a", "then": "c", "min_gap_shifts": 2, "max_gap_shifts": 9},
    ]
    content = CONTENT | {"team": team, "requests": requests, "links": links}

    created = await client.post(f"/rounds/{round_.id}/proposals", json=content, headers=owner)
    assert created.status_code == 201, created.text
    proposal = created.json()
    url = f"/proposals/{proposal['id']}"
    assert [member["name"] for member in proposal["team"]] == ["Member 0", "Member 1", "Member 2"]
    assert [request["label"] for request in proposal["requests"]] == ["a", "b", "c"]
    assert [request["min_shifts"] for request in proposal["requests"]] == [3, None, 1]
    assert proposal["links"] == [
        {"type": "all_or_nothing", "requests": ["c", "b"]},
        {"type": "after", "first": "a", "then": "c", "min_gap_shifts": 2, "max_gap_shifts": 9},
    ]
    assert (await client.get(url, headers=owner)).json() == proposal

    rewritten = content | {"team": team[1:], "requests": requests[::-1], "links": links[:1]}
    replaced = await client.put(url, json=rewritten, headers=owner)
    assert replaced.status_code == 200, replaced.text
    assert [member["name"] for member in replaced.json()["team"]] == ["Member 1", "Member 2"]
    assert [request["label"] for request in replaced.json()["requests"]] == ["c", "b", "a"]
    assert replaced.json()["links"] == [{"type": "all_or_nothing", "requests": ["c", "b"]}]
    assert (await client.get(url, headers=owner)).json() == replaced.json()

    audit = await client.get("/audit", params={"entity": "proposal", "entity_id": str(proposal["id"])}, headers=admin)
    assert audit.status_code == 200, audit.text
    entries = sorted(audit.json()["items"], key=lambda entry: entry["id"])
    assert [(entry["action"], entry["user_id"]) for entry in entries] == [
        ("proposal.submit", round_.users["owner"]),
        ("proposal.replace", round_.users["owner"]),
    ]
    assert entries[0]["detail"] == {"code": proposal["code"]}
    assert [request["label"] for request in entries[1]["detail"]["requests"]] == ["c", "b", "a"]

    # More of each than PostgreSQL writes in one statement: one statement per table, in the same order.
    many_requests = [{"label": f"r{n}", "instruments": ["PIK-SANS"], "shifts": 1} for n in range(10)]
    large = CONTENT | {
        "team": [{"name": f"Member {n}", "country": "GB"} for n in range(12)],
        "requests": many_requests,
        "links": [{"type": "after", "first": f"r{n}", "then": f"r{n + 1}"} for n in range(9)],
    }
    rewritten_large = await client.put(url, json=large, headers=owner)
    assert rewritten_large.status_code == 200, rewritten_large.text
    assert [member["name"] for member in rewritten_large.json()["team"]] == [f"Member {n}" for n in range(12)]
    assert [request["label"] for request in rewritten_large.json()["requests"]] == [f"r{n}" for n in range(10)]
    assert [link["first"] for link in rewritten_large.json()["links"]] == [f"r{n}" for n in range(9)]
    assert (await client.get(url, headers=owner)).json() == rewritten_large.json()


async def test_a_proposal_is_its_owners_alone(round_: Round) -> None:
    client = round_.client
    proposal = (
        await client.post(f"/rounds/{round_.id}/proposals", json=CONTENT, headers=round_.headers["owner"])
    ).json()
    url = f"/proposals/{proposal['id']}"

    assert (await client.get(url, headers=round_.headers["other"])).status_code == 404
    assert (await client.put(url, json=CONTENT, headers=round_.headers["other"])).status_code == 404
    assert (await client.get(url, headers=round_.headers["stranger"])).status_code == 404
    assert (await client.put(url, json=CONTENT, headers=round_.headers["coordinator"])).status_code == 403
    assert (await client.get("/proposals/99999", headers=round_.headers["other"])).json()["detail"] == (
        "no proposal 99999"
    )
    assert (await client.get(url, headers=round_.headers["other"])).json()["detail"] == f"no proposal {proposal['id']}"
    mine = (await client.get("/proposals", headers=round_.headers["owner"])).json()
    assert [item["id"] for item in mine["items"]] == [proposal["id"]]
    assert mine["total"] == 1
    assert (await client.get("/proposals", headers=round_.headers["other"])).json()["items"] == []


async def test_a_bad_proposal_is_refused_with_every_problem_named(round_: Round) -> None:
    client, owner = round_.client, round_.headers["owner"]
    url = f"/rounds/{round_.id}/proposals"
    malformed = CONTENT | {
        "colour": "blue",
        "requests": [CONTENT["requests"][0] | {"shifts": 0}, CONTENT["requests"][1] | {"label": "has space"}],
        "links": [{"type": "after", "then": "b"}, {"type": "sometimes"}],
    }
    inconsistent = CONTENT | {
        "requests": [
            CONTENT["requests"][0] | {"instruments": ["SKIF-1-1", "NOPE"], "equipment": ["kettle"], "min_shifts": 9},
            CONTENT["requests"][1]
            | {"label": "a", "earliest": "2027-02-10T00:00:00Z", "latest": "2027-02-09T00:00:00Z"},
        ],
        "links": [{"type": "all_or_nothing", "requests": ["a", "zz"]}, {"type": "after", "first": "a", "then": "a"}],
    }

    assert _paths(await client.post(url, json=malformed, headers=owner)) == [
        "$.requests[0].shifts",
        "$.requests[1].label",
        "$.links[0].first",
        "$.links[1]",
        "$.colour",
    ]
    assert _paths(await client.post(url, json=inconsistent, headers=owner)) == [
        "$.requests[0].instruments[1]",
        "$.requests[0].equipment[0]",
        "$.requests[0].min_shifts",
        "$.requests[1].label",
        "$.requests[1].latest",
        "$.links[0].requests[1]",
        "$.links[1].then",
    ]
    assert (await client.get("/proposals", headers=owner)).json()["total"] == 0


async def test_a_proposal_meets_the_round_files_rules(round_: Round) -> None:
    """The rules every solve checks the stored round against: the API refuses what they would."""
    client, owner = round_.client, round_.headers["owner"]
    url = f"/rounds/{round_.id}/proposals"
    longer_than_the_round = CONTENT | {
        "requests": [CONTENT["requests"][1] | {"shifts": 50, "min_shifts": 43}],
        "links": [],
    }
    one_request_twice = CONTENT | {"links": [{"type": "all_or_nothing", "requests": ["a", "a"]}]}
    inverted_unavailable = CONTENT | {
        "requests": [
            CONTENT["requests"][0]
            | {"unavailable": [{"start": "2027-02-06T08:00:00+03:00", "end": "2027-02-05T08:00:00+03:00"}]},
            CONTENT["requests"][1],
        ]
    }

    too_long = await client.post(url, json=longer_than_the_round, headers=owner)
    twice = await client.post(url, json=one_request_twice, headers=owner)
    inverted = await client.post(url, json=inverted_unavailable, headers=owner)

    assert _paths(too_long) == ["$.requests[0].min_shifts"]
    assert too_long.json()["errors"][0]["message"] == "min_shifts 43 is more than the round's 42 shifts"
    assert _paths(twice) == ["$.links[0].requests[1]"]
    assert twice.json()["errors"][0]["message"] == "request 'a' is listed twice"
    assert _paths(inverted) == ["$.requests[0].unavailable[0].end"]
    assert (await client.get("/proposals", headers=owner)).json()["total"] == 0


async def test_the_proposals_come_in_pages_with_their_total(round_: Round) -> None:
    admin = round_.headers["admin"]
    every = (await round_.client.get("/proposals", params={"round_id": round_.id}, headers=admin)).json()

    page = await round_.client.get("/proposals", params={"round_id": round_.id, "limit": 2, "offset": 1}, headers=admin)

    assert page.status_code == 200, page.text
    assert page.json() | {"items": None} == {"items": None, "limit": 2, "offset": 1, "total": every["total"]}
    assert page.json()["items"] == every["items"][1:3]
    assert every["total"] == len(round_.proposal_ids) > 3


async def test_withdrawn_proposals_leave_the_round(round_: Round) -> None:
    client, owner = round_.client, round_.headers["owner"]
    proposal = (await client.post(f"/rounds/{round_.id}/proposals", json=CONTENT, headers=owner)).json()
    url = f"/proposals/{proposal['id']}/withdraw"

    assert (await client.post(url, headers=round_.headers["other"])).status_code == 404
    assert (await client.post(url, headers=round_.headers["coordinator"])).status_code == 403
    withdrawn = await client.post(url, headers=owner)

    assert withdrawn.status_code == 200
    assert withdrawn.json()["withdrawn"] is True
    exported = (await client.get(f"/rounds/{round_.id}/export", headers=round_.headers["admin"])).json()
    assert proposal["code"] not in {item["id"] for item in exported["proposals"]}


async def test_coordinators_of_the_round_judge_feasibility(round_: Round) -> None:
    client = round_.client
    url = f"/proposals/{round_.proposal_ids['P-001']}/feasibility"

    judged = await client.put(url, json={"technically_feasible": False}, headers=round_.headers["coordinator"])

    assert judged.status_code == 200
    assert judged.json()["technically_feasible"] is False
    # The same verdict again changes nothing, so its version stays; another moves it on by one, as an edit does.
    again = await client.put(url, json={"technically_feasible": False}, headers=round_.headers["coordinator"])
    assert (again.status_code, again.json()["version"]) == (200, judged.json()["version"])
    unconfirmed = {"technically_feasible": False, "type_confirmed": not judged.json()["type_confirmed"]}
    changed = await client.put(url, json=unconfirmed, headers=round_.headers["coordinator"])
    assert (changed.json()["version"], changed.json()["type_confirmed"]) == (
        judged.json()["version"] + 1,
        unconfirmed["type_confirmed"],
    )
    read = await client.get(url.removesuffix("/feasibility"), headers=round_.headers["coordinator"])
    assert (read.json()["version"], read.json()["technically_feasible"], read.json()["type_confirmed"]) == (
        changed.json()["version"],
        False,
        unconfirmed["type_confirmed"],
    )
    assert (
        await client.put(url, json={"technically_feasible": True}, headers=round_.headers["stranger"])
    ).status_code == 404
    assert (
        await client.put(url, json={"technically_feasible": "maybe"}, headers=round_.headers["admin"])
    ).status_code == 422
    ranking = (await client.get(f"/rounds/{round_.id}/ranking", headers=round_.headers["coordinator"])).json()["items"]
    assert next(row for row in ranking if row["proposal"] == "P-001")["excluded_reason"] == "not_feasible"


async def test_a_proposals_facts_count_every_request_and_every_reviewer(round_: Round) -> None:
    """What a write checks its access on, read with the proposal's lock: a coordinator judges a proposal when any of
    its requests asks for their facility, and any of its reviewers knows of it."""
    client, owner, coordinator = round_.client, round_.headers["owner"], round_.headers["coordinator"]
    on_skif = {"label": "a", "instruments": ["SKIF-1-1"], "shifts": 3}
    on_pik = {"label": "b", "instruments": ["PIK-SANS"], "shifts": 3}
    ids = {}
    for name, requests in (("skif", [on_skif]), ("both", [on_skif, on_pik])):
        submitted = await client.post(
            f"/rounds/{round_.id}/proposals", json=CONTENT | {"requests": requests, "links": []}, headers=owner
        )
        assert submitted.status_code == 201, submitted.text
        ids[name] = submitted.json()["id"]
    for reviewer in ("r1", "r2"):
        assigned = await client.post(
            f"/proposals/{ids['both']}/reviewers", json={"user_id": round_.users[reviewer]}, headers=coordinator
        )
        assert assigned.status_code == 201, assigned.text

    async def judged_by_pik(name: str) -> int:
        url = f"/proposals/{ids[name]}/feasibility"
        return (await client.put(url, json={"technically_feasible": True}, headers=round_.headers["pik"])).status_code

    async def withdrawn_by(reviewer: str, name: str) -> int:
        return (await client.post(f"/proposals/{ids[name]}/withdraw", headers=round_.headers[reviewer])).status_code

    assert (await judged_by_pik("both"), await judged_by_pik("skif")) == (200, 403)
    assert (await withdrawn_by("r2", "both"), await withdrawn_by("r1", "both")) == (403, 403)
    assert await withdrawn_by("r2", "skif") == 404


async def test_reviewers_are_assigned_but_never_to_their_own_proposals(round_: Round) -> None:
    client, coordinator, users = round_.client, round_.headers["coordinator"], round_.users
    p1, p2 = round_.proposal_ids["P-001"], round_.proposal_ids["P-002"]

    assigned = await client.post(f"/proposals/{p1}/reviewers", json={"user_id": users["r1"]}, headers=coordinator)
    twice = await client.post(f"/proposals/{p1}/reviewers", json={"user_id": users["r1"]}, headers=coordinator)
    a_proposer = await client.post(f"/proposals/{p1}/reviewers", json={"user_id": users["owner"]}, headers=coordinator)
    the_pi = await client.post(f"/proposals/{p1}/reviewers", json={"user_id": users["ivanova"]}, headers=coordinator)
    a_team_member = await client.post(
        f"/proposals/{p2}/reviewers", json={"user_id": users["petrov"]}, headers=coordinator
    )
    by_the_owner_of_nothing = await client.post(
        f"/proposals/{p1}/reviewers", json={"user_id": users["r2"]}, headers=round_.headers["r1"]
    )

    assert assigned.status_code == 201, assigned.text
    assert assigned.json() == {
        "proposal_id": p1,
        "user_id": users["r1"],
        "name": "Rosalind One",
        "email": "r1@example.org",
    }
    assert twice.status_code == 409
    assert _paths(a_proposer) == ["$.user_id"]
    # Named like the PI or a team member, but not them: conflicts are decided on account e-mails (test_reviews.py).
    assert (the_pi.status_code, a_team_member.status_code) == (201, 201)
    assert by_the_owner_of_nothing.status_code == 403
    assert (await client.get(f"/proposals/{p1}/reviewers", headers=coordinator)).json()["items"] == [
        assigned.json(),
        the_pi.json(),
    ]
    assert (await client.get(f"/proposals/{p1}", headers=round_.headers["r1"])).status_code == 200
    assert (await client.get(f"/proposals/{p1}", headers=round_.headers["r2"])).status_code == 404
    assert [item["id"] for item in (await client.get("/proposals", headers=round_.headers["r1"])).json()["items"]] == [
        p1
    ]

    unassigned = await client.delete(f"/proposals/{p1}/reviewers/{users['r1']}", headers=coordinator)
    assert unassigned.status_code == 204
    assert (await client.get(f"/proposals/{p1}", headers=round_.headers["r1"])).status_code == 404


async def test_assigned_reviewers_grade_in_the_review_phase_and_may_declare_conflicts(round_: Round) -> None:
    client, headers, users = round_.client, round_.headers, round_.users
    p1 = round_.proposal_ids["P-001"]
    for reviewer in ("r1", "r2"):
        await client.post(f"/proposals/{p1}/reviewers", json={"user_id": users[reviewer]}, headers=headers["admin"])
    review_url = f"/proposals/{p1}/review"

    too_early = await client.put(review_url, json={"grade": 2.0}, headers=headers["r1"])
    await round_.move_to("review")
    off_the_scale = await client.put(review_url, json={"grade": 7}, headers=headers["r1"])
    no_grade = await client.put(review_url, json={"comment": "hm"}, headers=headers["r1"])
    graded = await client.put(review_url, json={"grade": 2.0, "comment": "solid"}, headers=headers["r1"])
    regraded = await client.put(review_url, json={"grade": 1.5, "comment": "very solid"}, headers=headers["r1"])
    conflict = await client.put(review_url, json={"conflict": True}, headers=headers["r2"])
    not_assigned = await client.put(review_url, json={"grade": 1.0}, headers=headers["ivanova"])
    not_a_reviewer = await client.put(review_url, json={"grade": 1.0}, headers=headers["admin"])

    assert too_early.status_code == 409
    assert _paths(off_the_scale) == ["$.grade"]
    assert "from 1.0 (best) to 5.0 (worst)" in off_the_scale.json()["errors"][0]["message"]
    assert _paths(no_grade) == ["$.grade"]
    assert graded.status_code == 200, graded.text
    assert regraded.json() | {"id": 0} == graded.json() | {"id": 0, "grade": 1.5, "comment": "very solid"}
    assert (conflict.json()["conflict"], conflict.json()["grade"]) == (True, 5.0)
    assert (not_assigned.status_code, not_a_reviewer.status_code) == (404, 403)

    own = (await client.get(f"/proposals/{p1}/reviews", headers=headers["r1"])).json()["items"]
    every = (await client.get(f"/proposals/{p1}/reviews", headers=headers["coordinator"])).json()["items"]
    assert [(review["reviewer"], review["grade"]) for review in own] == [("r1@example.org", 1.5)]
    assert [(review["reviewer"], review["grade"], review["conflict"]) for review in every] == [
        ("R1", 1.5, False),
        ("R2", 2.0, False),
        ("r1@example.org", 1.5, False),
        ("r2@example.org", 5.0, True),
    ]
    assert (await client.get(f"/proposals/{p1}/reviews", headers=headers["owner"])).status_code == 404


async def test_the_ranking_scores_the_round_as_stored(round_: Round) -> None:
    """An admin sees every row; SKIF's coordinator the rows of the proposals asking for SKIF's instruments
    (scores are panel results), ranked within the whole round."""
    client, coordinator = round_.client, round_.headers["admin"]
    expected = [(score.rank, score.proposal, score.priority) for score in score_round(load_round(EXAMPLE))]

    ranking = await client.get(f"/rounds/{round_.id}/ranking", headers=coordinator)
    by_skif = (await client.get(f"/rounds/{round_.id}/ranking", headers=round_.headers["coordinator"])).json()

    assert ranking.status_code == 200
    assert ranking.json()["total"] == len(expected)
    assert [(row["rank"], row["proposal"], row["priority"]) for row in ranking.json()["items"]] == expected
    assert all(row["proposal_id"] == round_.proposal_ids[row["proposal"]] for row in ranking.json()["items"])
    pik_only = {"P-005", "P-006"}
    assert [(row["rank"], row["proposal"]) for row in by_skif["items"]] == [
        (rank, code) for rank, code, _ in expected if code not in pik_only
    ]
    assert by_skif["total"] == len(expected) - len(pik_only)
    assert (await client.get(f"/rounds/{round_.id}/ranking", headers=round_.headers["owner"])).status_code == 403
    assert (await client.get(f"/rounds/{round_.id}/ranking", headers=round_.headers["r1"])).status_code == 403
    first = expected[0][1]
    await client.post(f"/proposals/{round_.proposal_ids[first]}/withdraw", headers=round_.headers["admin"])
    after = (await client.get(f"/rounds/{round_.id}/ranking", headers=coordinator)).json()["items"]
    assert [row["proposal"] for row in after] == [code for _, code, _ in expected[1:]]


async def test_a_round_that_cannot_be_scored_says_why(round_: Round) -> None:
    client, coordinator = round_.client, round_.headers["coordinator"]
    unscored = {
        "code": "2027-II",
        "name": "Second half",
        "start": "2027-08-01T08:00:00+03:00",
        "end": "2027-09-01T08:00:00+03:00",
        "facilities": ["SKIF"],
        "equipment": ["cryomagnet-9T"],
    }
    other_round = (await client.post("/rounds", json=unscored, headers=coordinator)).json()
    content = CONTENT | {"requests": [CONTENT["requests"][0] | {"earliest": None, "unavailable": []}], "links": []}
    submitted = await client.post(
        f"/rounds/{other_round['id']}/proposals", json=content, headers=round_.headers["owner"]
    )
    assert submitted.status_code == 201, submitted.text

    ranking = await client.get(f"/rounds/{other_round['id']}/ranking", headers=coordinator)

    assert _paths(ranking) == ["$.scoring"]
