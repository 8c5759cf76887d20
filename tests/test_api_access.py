"""The access matrix: every role, every endpoint of the core API, own and other people's resources.

One world per database; each row is requested by every actor, and a row that
changes or deletes something gets a fresh target per actor, so rows do not
depend on each other. Anyone who may not see a resource gets 404 (its existence
does not leak); anyone who sees it but may not act gets 403; no token, 401.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api_helpers import Client, api_client, login, make_user

ACTORS = (
    "admin",
    "coordinator",
    "other_coordinator",
    "reviewer",
    "other_reviewer",
    "owner",
    "other_proposer",
    "anonymous",
)
"""`coordinator` coordinates SKIF, whose rounds these are; `other_coordinator` coordinates KISI.
`reviewer` is assigned to the proposals, `owner` wrote them."""

SKIF = {"code": "SKIF", "name": "SKIF synchrotron", "country": "RU", "timezone": "Asia/Novosibirsk"}
INSTRUMENT = {"code": "SKIF-1-1", "name": "Microfocus MX", "techniques": ["mx"]}
WINDOW = {"start": "2027-02-03T08:00:00+07:00", "end": "2027-02-04T08:00:00+07:00", "kind": "maintenance"}
SCORING = {"grade_best": 1.0, "grade_worst": 5.0, "min_reviews": 1}
PROPOSAL = {
    "title": "Ligand binding",
    "type": "standard",
    "pi": {"name": "A. Ivanova", "country": "RU"},
    "requests": [{"label": "a", "instruments": ["SKIF-1-1"], "shifts": 3}],
}
_numbers = count(1)


def _round(code: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": "A round",
        "start": "2027-02-01T08:00:00+07:00",
        "end": "2027-03-01T08:00:00+07:00",
        "facilities": ["SKIF"],
        "scoring": SCORING,
    }


def _round_file(code: str) -> dict[str, Any]:
    return {
        "format": "beamtime-round/1",
        "round": {
            "id": code,
            "name": "A round",
            "start": "2027-02-01T08:00:00+07:00",
            "end": "2027-03-01T08:00:00+07:00",
        },
        "facilities": [
            {
                "id": "SKIF",
                "name": "SKIF synchrotron",
                "country": "RU",
                "timezone": "Asia/Novosibirsk",
                "instruments": [{"id": "SKIF-1-1", "name": "Microfocus MX", "techniques": ["mx"]}],
            }
        ],
    }


@dataclass
class World:
    client: Client
    ids: dict[str, int]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    async def post(self, path: str, body: dict[str, Any], actor: str = "admin") -> Any:
        response = await self.client.post(path.format(**self.ids), json=body, headers=self.headers[actor])
        assert response.status_code == 201, response.text
        return response.json()

    async def create(self, path: str, body: dict[str, Any], actor: str = "admin") -> int:
        identifier: int = (await self.post(path, body, actor))["id"]
        return identifier

    async def fresh(self, kind: str) -> int:
        """A new thing of `kind` for one request to change or delete."""
        n = next(_numbers)
        if kind == "facility":
            return await self.create("/facilities", SKIF | {"code": f"F{n}"})
        if kind == "instrument":
            return await self.create("/facilities/{skif}/instruments", INSTRUMENT | {"code": f"I{n}"})
        if kind == "window":
            return await self.create("/instruments/{instrument}/windows", WINDOW)
        if kind == "equipment":
            return await self.create("/equipment", {"code": f"E{n}", "name": "Cryostat"})
        if kind == "round":
            return await self.create("/rounds", _round(f"R{n}"))
        if kind == "quota":
            return await self.create(
                "/rounds/{open_round}/quotas", {"code": f"Q{n}", "category": {"foreign": True}, "min_share": 0.1}
            )
        assert kind == "proposal"
        proposal = await self.create("/rounds/{open_round}/proposals", PROPOSAL, actor="owner")
        await self.post(f"/proposals/{proposal}/reviewers", {"user_id": self.ids["reviewer"]})
        return proposal


@pytest.fixture
async def world(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    async with api_client(database_url) as client:
        world = World(client, {})
        world.ids["admin"] = await make_user(sessions, "admin", "admin@example.org")
        world.headers["admin"] = await login(client, "admin@example.org")
        world.ids["skif"] = await world.create("/facilities", SKIF)
        world.ids["kisi"] = await world.create("/facilities", SKIF | {"code": "KISI", "timezone": "Europe/Moscow"})
        roles = {
            "coordinator": ("coordinator", ["SKIF"]),
            "other_coordinator": ("coordinator", ["KISI"]),
            "reviewer": ("reviewer", []),
            "other_reviewer": ("reviewer", []),
            "owner": ("proposer", []),
            "other_proposer": ("proposer", []),
        }
        for actor, (role, facilities) in roles.items():
            world.ids[actor] = await make_user(sessions, role, f"{actor}@example.org", facility_codes=facilities)
            world.headers[actor] = await login(client, f"{actor}@example.org")
        world.headers["anonymous"] = {}
        world.ids["instrument"] = await world.create("/facilities/{skif}/instruments", INSTRUMENT)
        world.ids["window"] = await world.create("/instruments/{instrument}/windows", WINDOW)
        world.ids["equipment"] = await world.create("/equipment", {"code": "cryo", "name": "Cryostat"})
        world.ids["open_round"] = await world.create("/rounds", _round("R-open"))
        world.ids["quota"] = await world.fresh("quota")
        world.ids["proposal"] = await world.fresh("proposal")
        world.ids["review_round"] = await world.create("/rounds", _round("R-review"))
        world.ids["reviewed"] = await world.create("/rounds/{review_round}/proposals", PROPOSAL, actor="owner")
        await world.post("/proposals/{reviewed}/reviewers", {"user_id": world.ids["reviewer"]})
        phase = await client.put(
            "/rounds/{review_round}/phase".format(**world.ids), json={"phase": "review"}, headers=world.headers["admin"]
        )
        assert phase.status_code == 200
        yield world


def expect(default: int, **statuses: int) -> dict[str, int]:
    """The status each actor gets: `default` unless named; always 401 without a token."""
    assert set(statuses) <= set(ACTORS)
    return {actor: statuses.get(actor, default) for actor in ACTORS} | {"anonymous": 401}


EVERYONE = expect(200)
ADMIN = expect(403, admin=200)
COORDINATORS = expect(403, admin=200, coordinator=200)
ANY_COORDINATOR = expect(403, admin=200, coordinator=200, other_coordinator=200)
HIDDEN = {"other_coordinator": 404, "other_reviewer": 404, "other_proposer": 404}
"""Those who may not see the proposal."""


def created(statuses: dict[str, int]) -> dict[str, int]:
    return {actor: 201 if status == 200 else status for actor, status in statuses.items()}


def deleted(statuses: dict[str, int]) -> dict[str, int]:
    return {actor: 204 if status == 200 else status for actor, status in statuses.items()}


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    """A template over the world's ids and `fresh`."""
    expected: dict[str, int]
    body: Callable[[dict[str, int], int], Any] | None = None
    """A body from the world's ids and a number unique to the request."""
    fresh: str | None = None


CASES = [
    Case("GET", "/me", EVERYONE),
    Case(
        "POST",
        "/users",
        created(ADMIN),
        lambda ids, n: {"email": f"u{n}@example.org", "name": "U", "role": "proposer", "password": "long enough"},
    ),
    Case("GET", "/users", ADMIN),
    Case("GET", "/users/{owner}", ADMIN),
    Case("GET", "/audit", ADMIN),
    Case("GET", "/facilities", EVERYONE),
    Case("POST", "/facilities", created(ADMIN), lambda ids, n: SKIF | {"code": f"NF{n}"}),
    Case("GET", "/facilities/{skif}", EVERYONE),
    Case("PATCH", "/facilities/{skif}", COORDINATORS, lambda ids, n: {"name": "SKIF synchrotron"}),
    Case("DELETE", "/facilities/{fresh}", deleted(ADMIN), fresh="facility"),
    Case("GET", "/facilities/{skif}/instruments", EVERYONE),
    Case(
        "POST", "/facilities/{skif}/instruments", created(COORDINATORS), lambda ids, n: INSTRUMENT | {"code": f"NI{n}"}
    ),
    Case("GET", "/facilities/{skif}/windows", EVERYONE),
    Case("POST", "/facilities/{skif}/windows", created(COORDINATORS), lambda ids, n: WINDOW),
    Case("GET", "/instruments/{instrument}", EVERYONE),
    Case("PATCH", "/instruments/{instrument}", COORDINATORS, lambda ids, n: {"name": "Microfocus MX"}),
    Case("DELETE", "/instruments/{fresh}", deleted(COORDINATORS), fresh="instrument"),
    Case("GET", "/instruments/{instrument}/windows", EVERYONE),
    Case("POST", "/instruments/{instrument}/windows", created(COORDINATORS), lambda ids, n: WINDOW),
    Case("GET", "/windows/{window}", EVERYONE),
    Case("PATCH", "/windows/{window}", COORDINATORS, lambda ids, n: {"reason": "service"}),
    Case("DELETE", "/windows/{fresh}", deleted(COORDINATORS), fresh="window"),
    Case("GET", "/equipment", EVERYONE),
    Case("POST", "/equipment", created(ANY_COORDINATOR), lambda ids, n: {"code": f"NE{n}", "name": "Cryostat"}),
    Case("GET", "/equipment/{equipment}", EVERYONE),
    Case("PATCH", "/equipment/{equipment}", ANY_COORDINATOR, lambda ids, n: {"units": 1}),
    Case("DELETE", "/equipment/{fresh}", deleted(ANY_COORDINATOR), fresh="equipment"),
    Case("GET", "/rounds", EVERYONE),
    Case("POST", "/rounds", created(COORDINATORS), lambda ids, n: _round(f"NR{n}")),
    Case("GET", "/rounds/{open_round}", EVERYONE),
    Case("PATCH", "/rounds/{open_round}", COORDINATORS, lambda ids, n: {"name": "A round"}),
    Case("DELETE", "/rounds/{fresh}", deleted(COORDINATORS), fresh="round"),
    Case("PUT", "/rounds/{fresh}/phase", COORDINATORS, lambda ids, n: {"phase": "review"}, fresh="round"),
    Case("GET", "/rounds/{open_round}/quotas", EVERYONE),
    Case(
        "POST",
        "/rounds/{open_round}/quotas",
        created(COORDINATORS),
        lambda ids, n: {"code": f"NQ{n}", "category": {"domestic": True}, "max_share": 0.9},
    ),
    Case("POST", "/rounds/import", created(COORDINATORS), lambda ids, n: _round_file(f"IR{n}")),
    Case("PUT", "/rounds/{fresh}/import", COORDINATORS, lambda ids, n: _round_file(f"IR{n}"), fresh="round"),
    Case("GET", "/rounds/{open_round}/export", COORDINATORS),
    Case("GET", "/rounds/{open_round}/ranking", COORDINATORS),
    Case(
        "POST",
        "/rounds/{open_round}/proposals",
        expect(403, admin=201, owner=201, other_proposer=201),
        lambda ids, n: PROPOSAL,
    ),
    Case("GET", "/quotas/{quota}", EVERYONE),
    Case(
        "PUT",
        "/quotas/{quota}",
        COORDINATORS,
        lambda ids, n: {"code": "foreign-min", "category": {"foreign": True}, "min_share": 0.1},
    ),
    Case("DELETE", "/quotas/{fresh}", deleted(COORDINATORS), fresh="quota"),
    Case("GET", "/proposals", EVERYONE),
    Case("GET", "/proposals/{proposal}", expect(200, **HIDDEN)),
    Case("PUT", "/proposals/{proposal}", expect(403, admin=200, owner=200, **HIDDEN), lambda ids, n: PROPOSAL),
    Case("POST", "/proposals/{fresh}/withdraw", expect(403, admin=200, owner=200, **HIDDEN), fresh="proposal"),
    Case(
        "PUT",
        "/proposals/{proposal}/feasibility",
        expect(403, admin=200, coordinator=200, **HIDDEN),
        lambda ids, n: {"technically_feasible": True},
    ),
    Case("GET", "/proposals/{proposal}/reviewers", expect(403, admin=200, coordinator=200, **HIDDEN)),
    Case(
        "POST",
        "/proposals/{fresh}/reviewers",
        expect(403, admin=201, coordinator=201, **HIDDEN),
        lambda ids, n: {"user_id": ids["other_reviewer"]},
        fresh="proposal",
    ),
    Case(
        "DELETE",
        "/proposals/{fresh}/reviewers/{reviewer}",
        expect(403, admin=204, coordinator=204, **HIDDEN),
        fresh="proposal",
    ),
    Case("GET", "/proposals/{reviewed}/reviews", expect(403, admin=200, coordinator=200, reviewer=200, **HIDDEN)),
    Case("PUT", "/proposals/{reviewed}/review", expect(403, reviewer=200, **HIDDEN), lambda ids, n: {"grade": 2.0}),
]


async def test_every_role_gets_what_its_access_allows(world: World) -> None:
    wrong = []
    for case in CASES:
        for actor in ACTORS:
            target = await world.fresh(case.fresh) if case.fresh else None
            path = case.path.format(**world.ids, fresh=target)
            body = case.body(world.ids, next(_numbers)) if case.body else None
            response = await world.client.request(case.method, path, json=body, headers=world.headers[actor])
            if response.status_code != case.expected[actor]:
                wrong.append(
                    f"{case.method} {case.path} as {actor}: {response.status_code}, "
                    f"expected {case.expected[actor]}: {response.text[:160]}"
                )
    assert not wrong, "\n".join(wrong)

    listings = {
        actor: {
            item["id"] for item in (await world.client.get("/proposals", headers=world.headers[actor])).json()["items"]
        }
        for actor in ACTORS
        if actor != "anonymous"
    }
    sees_the_proposal = {actor for actor, ids in listings.items() if world.ids["proposal"] in ids}
    assert sees_the_proposal == {"admin", "coordinator", "reviewer", "owner"}
