"""Property: whatever sequence of API writes every role sends (proposals submitted, rewritten, withdrawn; reviewers
assigned and unassigned, grades; phases; round settings, windows, quotas; admissibility), the round stays a round
the solver takes, on SQLite and PostgreSQL: after each write its export passes the round file's checks and the
ranking answers, and after each sequence a short solve succeeds. A write is answered, never with a 5xx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fixtures import EXAMPLE_ROUND
from scheduler.roundfile.checks import check_round
from scheduler.roundfile.contract import RoundFile
from scheduler.roundfile.solving import solve_round
from solver.problem import Settings
from tests.api_helpers import Client, api_client, login, make_user

EXAMPLE = EXAMPLE_ROUND
ROLES = {
    "admin": ("admin", []),
    "coordinator": ("coordinator", ["SKIF", "PIK"]),
    "pik": ("coordinator", ["PIK"]),
    "proposer": ("proposer", []),
    "other": ("proposer", []),
    "reviewer": ("reviewer", []),
    "second": ("reviewer", []),
}
ANYONE = st.sampled_from(sorted(ROLES))
PROPOSERS = st.sampled_from(["proposer", "other"])
COORDINATORS = st.sampled_from(["admin", "coordinator", "pik"])
REVIEWERS = st.sampled_from(["reviewer", "second"])


def mostly(actors: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """The roles that may send a write, and now and then anyone (who may be refused)."""
    return st.one_of(actors, actors, actors, ANYONE)


PICK = st.integers(min_value=0, max_value=50)
"""A proposal of the round (or of those the actor owns or reviews), by its position modulo their number."""
INSTRUMENTS = ["SKIF-1-1", "SKIF-1-4", "PIK-SANS", "NOPE"]
LABELS = "abc"


def _request(index: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "label": st.just(LABELS[index]),
            "instruments": st.lists(st.sampled_from(INSTRUMENTS[:3]), min_size=1, max_size=2, unique=True)
            | st.just(["NOPE"]),
            "shifts": st.integers(min_value=1, max_value=6) | st.integers(min_value=40, max_value=44),
            "min_shifts": st.none() | st.integers(min_value=1, max_value=2) | st.integers(min_value=41, max_value=44),
            "equipment": st.sampled_from([[], [], ["cryomagnet-9T"], ["no-such-thing"]]),
        }
    )


LINKS = st.sampled_from(
    [
        [],
        [],
        [{"type": "all_or_nothing", "requests": ["a", "a"]}],
        [{"type": "all_or_nothing", "requests": ["a", "b"]}],
        [{"type": "after", "first": "a", "then": "b", "min_gap_shifts": 1}],
        [{"type": "after", "first": "a", "then": "a"}],
    ]
)


def _content(requests: list[dict[str, Any]], links: list[dict[str, Any]] | None = None, country: str = "GB") -> Any:
    return {
        "title": "Thin films",
        "type": "standard",
        "pi": {"name": "Ada Lovelace", "institution": "UCL", "country": country},
        "requests": requests,
        "links": links or [],
    }


CONTENT = st.builds(
    _content,
    st.integers(min_value=1, max_value=3).flatmap(lambda n: st.tuples(*(_request(i) for i in range(n))).map(list)),
    LINKS,
    st.sampled_from(["GB", "AM", "RU"]),
)
ROUND_CHANGES = st.sampled_from(
    [
        {"facilities": ["SKIF"]},
        {"facilities": ["PIK", "SKIF"]},
        {"facilities": ["SKIF", "PIK"]},
        {"equipment": []},
        {"equipment": ["cryomagnet-9T"]},
        {"end": "2027-02-03T16:00:00+03:00"},
        {"end": "2027-02-22T08:00:00+03:00"},
        {"end": "2327-02-22T08:00:00+03:00", "shift_hours": 1},
        {"shift_hours": 12},
        {"shift_hours": 8},
        {"country_groups": {}},
        {"country_groups": {"CIS": ["AM", "BY", "KZ", "UZ"], "BRICS": ["BR", "CN", "IN", "ZA"]}},
        {"scoring": {"grade_best": 1.0, "grade_worst": 5.0, "min_reviews": 1, "cutoff": 4.0}},
        {"name": "Renamed"},
    ]
)
QUOTAS = st.sampled_from(
    [
        {"code": "am-max", "scope": {}, "category": {"country": "AM"}, "max_share": 0.5, "attribution": "pi"},
        {"code": "group-min", "scope": {}, "category": {"country_group": "BRICS"}, "min_share": 0.1, "soft": True},
        {"code": "nowhere", "scope": {"facilities": ["NOWHERE"]}, "category": {"country": "RU"}, "max_share": 0.5},
    ]
)
FINDINGS: list[tuple[Any, ...]] = [
    ("submit", "proposer", _content([{"label": "a", "instruments": ["SKIF-1-1"], "shifts": 43, "min_shifts": 43}])),
    (
        "submit",
        "proposer",
        _content(
            [{"label": "a", "instruments": ["SKIF-1-1"], "shifts": 3}],
            [{"type": "all_or_nothing", "requests": ["a", "a"]}],
        ),
    ),
    ("round", "pik", {"facilities": ["SKIF"]}),
    ("round", "admin", {"facilities": ["SKIF"]}),
    ("round", "coordinator", {"equipment": []}),
    ("round", "admin", {"end": "2027-02-03T16:00:00+03:00"}),
    ("phase", "admin", "review"),
    ("assign", "coordinator", 0, "reviewer"),
    ("grade", "reviewer", 0, 1),
    ("assign", "coordinator", 0, "second"),
    ("grade", "second", 0, 5),
    ("unassign", "coordinator", 0, "reviewer"),
    ("phase", "admin", "open"),
]
"""The issue's findings in a row: submissions breaking the round, a facility and the equipment taken away, a grid
too short, a review left counting after its reviewer is unassigned."""

PHASES = st.sampled_from(["review", "open", "allocation"])

STEPS = st.one_of(
    st.tuples(st.just("submit"), mostly(PROPOSERS), CONTENT),
    st.tuples(st.just("rewrite"), mostly(PROPOSERS), PICK, CONTENT),
    st.tuples(st.just("withdraw"), mostly(PROPOSERS), PICK),
    st.tuples(st.just("phase"), mostly(st.just("admin")), PHASES),
    st.tuples(st.just("assign"), mostly(COORDINATORS), PICK, REVIEWERS),
    st.tuples(st.just("unassign"), mostly(COORDINATORS), PICK, REVIEWERS),
    st.tuples(st.just("grade"), REVIEWERS, PICK, st.none() | st.integers(min_value=1, max_value=5)),
    st.tuples(st.just("round"), mostly(COORDINATORS), ROUND_CHANGES),
    st.tuples(
        st.just("window"),
        mostly(COORDINATORS),
        st.sampled_from(INSTRUMENTS[:3]),
        st.integers(min_value=0, max_value=16),
    ),
    st.tuples(st.just("quota"), mostly(COORDINATORS), QUOTAS),
    st.tuples(st.just("admissibility"), mostly(COORDINATORS), PICK, st.booleans()),
)


@dataclass
class World:
    client: Client
    round_id: int
    headers: dict[str, dict[str, str]]
    users: dict[str, int]
    proposals: list[int] = field(default_factory=list)
    instruments: dict[str, int] = field(default_factory=dict)
    owned: dict[str, list[int]] = field(default_factory=dict)
    assigned: dict[str, list[int]] = field(default_factory=dict)

    def proposal(self, pick: int, among: list[int] | None = None) -> int:
        """Of `among` when it has any, else of the round."""
        chosen = among or self.proposals
        return chosen[pick % len(chosen)]

    async def send(self, step: tuple[Any, ...]) -> Any:
        """One write as its actor sends it."""
        kind, actor, *rest = step
        headers = self.headers[actor]
        client = self.client
        if kind == "submit":
            response = await client.post(f"/rounds/{self.round_id}/proposals", json=rest[0], headers=headers)
            if response.status_code == 201:
                self.proposals.append(response.json()["id"])
                self.owned.setdefault(actor, []).append(response.json()["id"])
            return response
        if kind == "rewrite":
            proposal = self.proposal(rest[0], self.owned.get(actor))
            return await client.put(f"/proposals/{proposal}", json=rest[1], headers=headers)
        if kind == "withdraw":
            return await client.post(
                f"/proposals/{self.proposal(rest[0], self.owned.get(actor))}/withdraw", headers=headers
            )
        if kind == "phase":
            return await client.put(f"/rounds/{self.round_id}/phase", json={"phase": rest[0]}, headers=headers)
        if kind == "assign":
            proposal, body = self.proposal(rest[0]), {"user_id": self.users[rest[1]]}
            response = await client.post(f"/proposals/{proposal}/reviewers", json=body, headers=headers)
            if response.status_code == 201:
                self.assigned.setdefault(rest[1], []).append(proposal)
            return response
        if kind == "unassign":
            url = f"/proposals/{self.proposal(rest[0])}/reviewers/{self.users[rest[1]]}"
            return await client.delete(url, headers=headers)
        if kind == "grade":
            grade = rest[1]
            body = {"conflict": True} if grade is None else {"grade": float(grade)}
            proposal = self.proposal(rest[0], self.assigned.get(actor))
            return await client.put(f"/proposals/{proposal}/review", json=body, headers=headers)
        if kind == "round":
            return await client.patch(f"/rounds/{self.round_id}", json=rest[0], headers=headers)
        if kind == "window":
            instrument, day = rest
            window = {
                "start": f"2027-02-{1 + day % 28:02d}T08:00:00+03:00",
                "end": f"2027-02-{2 + day % 27:02d}T08:00:00+03:00",
                "kind": "maintenance",
            }
            return await client.post(
                f"/instruments/{self.instruments[instrument]}/windows", json=window, headers=headers
            )
        if kind == "quota":
            return await client.post(f"/rounds/{self.round_id}/quotas", json=rest[0], headers=headers)
        assert kind == "admissibility"
        body = {"admissible": rest[1], "reason": "out of the facility's programme"}
        return await client.put(f"/proposals/{self.proposal(rest[0])}/admissibility", json=body, headers=headers)

    async def round_file(self) -> RoundFile:
        exported = await self.client.get(f"/rounds/{self.round_id}/export", headers=self.headers["admin"])
        assert exported.status_code == 200, exported.text
        return RoundFile.model_validate_json(exported.text)


@pytest.fixture
async def world(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    """The example round, its call open; examples continue on it, each a longer sequence of writes."""
    async with api_client(database_url) as client:
        users = {"admin": await make_user(sessions, "admin", "admin@example.org")}
        admin = await login(client, "admin@example.org")
        imported = await client.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=admin)
        assert imported.status_code == 201, imported.text
        for name, (role, facilities) in ROLES.items():
            if name != "admin":
                users[name] = await make_user(sessions, role, f"{name}@example.org", facility_codes=facilities)
        headers = {name: await login(client, f"{name}@example.org") for name in ROLES}
        round_id = imported.json()["id"]
        listed = await client.get("/proposals", params={"round_id": round_id}, headers=headers["admin"])
        world = World(client, round_id, headers, users, [item["id"] for item in listed.json()["items"]])
        for facility in (await client.get("/facilities", headers=headers["admin"])).json()["items"]:
            instruments = await client.get(f"/facilities/{facility['id']}/instruments", headers=headers["admin"])
            world.instruments |= {item["code"]: item["id"] for item in instruments.json()["items"]}
        yield world


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEPS, min_size=4, max_size=8))
@example(steps=FINDINGS)
async def test_no_sequence_of_writes_makes_the_round_unsolvable(world: World, steps: list[tuple[Any, ...]]) -> None:
    for step in steps:
        response = await world.send(step)

        assert response.status_code < 500, (step, response.text)
        assert check_round(await world.round_file()) == [], step
        ranking = await world.client.get(f"/rounds/{world.round_id}/ranking", headers=world.headers["admin"])
        assert ranking.status_code == 200, (step, ranking.text)

    _, schedule = solve_round(await world.round_file(), Settings(time_limit=2, workers=1))
    assert schedule.status in ("optimal", "feasible")
