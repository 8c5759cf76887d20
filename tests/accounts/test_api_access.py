"""The access matrix: every operation of the policy (`scheduler.access.POLICY`), through every endpoint and
dashboard action that does it, as every kind of actor; plus the policy's SQL form held against the rule.

One world per database; each row is requested by every actor, and a row that changes or deletes something
gets a fresh target per actor, so rows do not depend on each other. Anyone who may not know a thing exists
gets 404; anyone who sees it but may not act gets 403; no token, 401 (the dashboard's pages send an anonymous
visitor to sign in, 303). A meta-test fails when an operation of the policy has no row here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from api.web.session import CSRF_COOKIE, CSRF_HEADER
from scheduler import access
from scheduler.access import POLICY, Operation, visible_to
from scheduler.accounts.schemas import Claims, as_role
from scheduler.db.tables import CoordinatorFacility, Equipment, Proposal, User
from scheduler.proposals.service import proposal_facts
from tests.api_helpers import PASSWORD, Client, api_client, login, make_user

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
KISI = SKIF | {"code": "KISI", "name": "KISI", "timezone": "Europe/Moscow"}
INSTRUMENT = {"code": "SKIF-1-1", "name": "Microfocus MX", "techniques": ["mx"]}
WINDOW = {"start": "2027-02-03T08:00:00+07:00", "end": "2027-02-04T08:00:00+07:00", "kind": "maintenance"}
SCORING = {"grade_best": 1.0, "grade_worst": 5.0, "min_reviews": 1}
PROPOSAL = {
    "title": "Ligand binding",
    "type": "standard",
    "pi": {"name": "A. Ivanova", "country": "RU"},
    "requests": [{"label": "a", "instruments": ["SKIF-1-1"], "shifts": 3}],
}
SCHEDULED = "P-1-a"
"""The scheduled round's one request: 3 shifts on SKIF-1-1, published at shift 0."""
ON_SKIF, ON_KISI = ("S-1-a", "SKIF-1-1"), ("S-2-a", "KISI-1-1")
"""The shared scheduled round's requests (3 shifts each, published at shift 0) and their instruments."""
_numbers = count(1)


def _round(code: str, facilities: tuple[str, ...] = ("SKIF",)) -> dict[str, Any]:
    return {
        "code": code,
        "name": "A round",
        "start": "2027-02-01T08:00:00+07:00",
        "end": "2027-03-01T08:00:00+07:00",
        "facilities": list(facilities),
        "scoring": SCORING,
    }


def _fair_return_policy(ids: dict[str, int], n: int) -> dict[str, Any]:
    """A consortium's fair-return policy: India owed 30 % of the time (no round uses it until attached)."""
    return {"name": f"Consortium {n}", "targets": [{"id": "india", "category": {"country": "IN"}, "share": 0.3}]}


def _round_file(code: str, *, scheduled: bool = False) -> dict[str, Any]:
    """SKIF with its instrument and window as the world has them (a file is the truth about its windows),
    and, when `scheduled`, one proposal with a priority, published at shift 0."""
    document: dict[str, Any] = {
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
                "name": SKIF["name"],
                "country": "RU",
                "timezone": SKIF["timezone"],
                "instruments": [
                    {
                        "id": "SKIF-1-1",
                        "name": INSTRUMENT["name"],
                        "techniques": ["mx"],
                        "maintenance": [WINDOW],
                    }
                ],
            }
        ],
    }
    if scheduled:
        document["proposals"] = [
            {
                "id": "P-1",
                "title": "Imported",
                "type": "standard",
                "pi": {"name": "B. Petrov", "country": "RU"},
                "priority": 2.0,
                "requests": [{"id": SCHEDULED, "instruments": ["SKIF-1-1"], "shifts": 3}],
            }
        ]
        document["previous_schedule"] = [
            {"request": SCHEDULED, "instrument": "SKIF-1-1", "start_shift": 0, "shifts": 3}
        ]
    return document


def _shared_round_file(code: str) -> dict[str, Any]:
    """SKIF and KISI, one proposal on an instrument of each, both published at shift 0."""
    document = _round_file(code)
    document["facilities"].append(
        {
            "id": "KISI",
            "name": KISI["name"],
            "country": "RU",
            "timezone": KISI["timezone"],
            "instruments": [{"id": "KISI-1-1", "name": "SAXS", "techniques": ["saxs"]}],
        }
    )
    document["proposals"] = [
        {
            "id": request.removesuffix("-a"),
            "title": "Shared",
            "type": "standard",
            "pi": {"name": "B. Petrov", "country": "RU"},
            "priority": 2.0,
            "requests": [{"id": request, "instruments": [instrument], "shifts": 3}],
        }
        for request, instrument in (ON_SKIF, ON_KISI)
    ]
    document["previous_schedule"] = [
        {"request": request, "instrument": instrument, "start_shift": 0, "shifts": 3}
        for request, instrument in (ON_SKIF, ON_KISI)
    ]
    return document


@dataclass
class World:
    client: Client
    sessions: async_sessionmaker[AsyncSession]
    ids: dict[str, int]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    jars: dict[str, dict[str, str]] = field(default_factory=dict)
    """Each actor's dashboard cookies (session and CSRF)."""

    async def post(self, path: str, body: Any, actor: str = "admin", status: int = 201) -> Any:
        response = await self.client.post(path.format(**self.ids), json=body, headers=self.headers[actor])
        assert response.status_code == status, response.text
        return response.json()

    async def create(self, path: str, body: dict[str, Any], actor: str = "admin") -> int:
        identifier: int = (await self.post(path, body, actor))["id"]
        return identifier

    async def get(self, path: str) -> Any:
        response = await self.client.get(path.format(**self.ids), headers=self.headers["admin"])
        assert response.status_code == 200, response.text
        return response.json()

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
            return await self.create("/equipment", {"code": f"E{n}", "name": "Cryostat", "facility": "SKIF"})
        if kind == "round":
            return await self.create("/rounds", _round(f"R{n}"))
        if kind == "shared_round":
            return await self.create("/rounds", _round(f"S{n}", ("SKIF", "KISI")))
        if kind == "quota":
            return await self.create(
                "/rounds/{open_round}/quotas", {"code": f"Q{n}", "category": {"foreign": True}, "min_share": 0.1}
            )
        if kind == "draft":
            return await self.draft()
        if kind == "shared_draft":
            return await self.shared_draft(ON_SKIF, ON_KISI)
        if kind == "skif_draft":
            return await self.shared_draft(ON_SKIF)
        if kind == "signed_draft":
            draft = await self.shared_draft(ON_SKIF, ON_KISI)
            await self.post(f"/schedules/{draft}/sign-off", None, "coordinator", 200)
            return draft
        if kind in ("skif_quota", "shared_quota"):
            scope = {"facilities": ["SKIF"]} if kind == "skif_quota" else {}
            body = {"code": f"Q{n}", "scope": scope, "category": {"foreign": True}, "max_share": 0.9}
            return await self.create("/rounds/{shared_round}/quotas", body)
        if kind == "policy":
            policy = await self.create("/fair-return-policies", _fair_return_policy(self.ids, n))
            attach = f"/fair-return-policies/{policy}/rounds/{self.ids['open_round']}"
            assert (await self.client.put(attach, headers=self.headers["admin"])).status_code == 200
            return policy
        if kind == "solve":
            round_id = await self.fresh("round")
            run: int = (await self.post(f"/rounds/{round_id}/solves", {}, status=202))["id"]
            return run
        assert kind == "proposal"
        proposal = await self.create("/rounds/{open_round}/proposals", PROPOSAL, actor="owner")
        await self.post(f"/proposals/{proposal}/reviewers", {"user_id": self.ids["reviewer"]})
        return proposal

    async def draft(self) -> int:
        """A draft of the scheduled round, moved from the version in force; notes the round's revision."""
        listing = await self.get("/rounds/{scheduled}/schedules")
        self.ids["revision"] = listing["revision"]
        (in_force,) = [version["id"] for version in listing["items"] if version["status"] == "published"]
        move = {"request": SCHEDULED, "instrument": "SKIF-1-1", "start_shift": 12 + next(_numbers) % 6, "shifts": 3}
        draft: int = (await self.post(f"/schedules/{in_force}/moves", move))["id"]
        return draft

    async def shared_draft(self, *moved: tuple[str, str]) -> int:
        """A draft of the shared scheduled round moving each of `moved` from where the version in force has it,
        so that it changes those instruments' facilities; notes the round's revision."""
        listing = await self.get("/rounds/{shared_scheduled}/schedules")
        self.ids["shared_revision"] = listing["revision"]
        (version,) = [version["id"] for version in listing["items"] if version["status"] == "published"]
        placed = {a["request"]: a["start_shift"] for a in (await self.get(f"/schedules/{version}"))["allocations"]}
        for request, instrument in moved:
            start = 12 if placed[request] != 12 else 18
            move = {"request": request, "instrument": instrument, "start_shift": start, "shifts": 3}
            version = (await self.post(f"/schedules/{version}/moves", move))["id"]
        return version


async def _sign_in_to_the_dashboard(client: Client, email: str | None) -> dict[str, str]:
    client.cookies.clear()
    await client.get("/ui/login")
    if email is not None:
        response = await client.post(
            "/ui/login",
            data={"email": email, "password": PASSWORD, "next": "/ui/"},
            headers={CSRF_HEADER: client.cookies[CSRF_COOKIE]},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
    jar = dict(client.cookies.items())
    client.cookies.clear()
    return jar


@pytest.fixture
async def world(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[World]:
    # Many solves are queued and many proposals submitted by one owner here: the per-user caps are not what this
    # test is about.
    async with api_client(database_url, solve_runs_per_user=1000, open_proposals_per_account=1000) as client:
        world = World(client, sessions, {})
        world.ids["admin"] = await make_user(sessions, "admin", "admin@example.org")
        world.headers["admin"] = await login(client, "admin@example.org")
        world.ids["skif"] = await world.create("/facilities", SKIF)
        world.ids["kisi"] = await world.create("/facilities", KISI)
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
        for actor in ACTORS:
            world.jars[actor] = await _sign_in_to_the_dashboard(
                client, None if actor == "anonymous" else f"{actor}@example.org"
            )

        world.ids["scheduled"] = (await world.post("/rounds/import", _round_file("R-scheduled", scheduled=True)))["id"]
        (instrument,) = (await world.get("/facilities/{skif}/instruments"))["items"]
        world.ids["instrument"] = instrument["id"]
        (window,) = (await world.get("/instruments/{instrument}/windows"))["items"]
        world.ids["window"] = window["id"]
        (world.ids["published"],) = [v["id"] for v in (await world.get("/rounds/{scheduled}/schedules"))["items"]]
        world.ids["draft"] = await world.draft()
        world.ids["solve"] = await world.fresh("solve")
        (imported,) = (await world.get("/proposals?round_id={scheduled}"))["items"]
        world.ids["imported"] = imported["id"]
        await world.post("/proposals/{imported}/reviewers", {"user_id": world.ids["reviewer"]})

        world.ids["equipment"] = await world.fresh("equipment")
        async with sessions.begin() as session:
            legacy = Equipment(code="legacy", name="Shared before equipment had a facility")
            session.add(legacy)
            await session.flush()
            assert legacy.id is not None
            world.ids["legacy_equipment"] = legacy.id
            await session.execute(
                update(Proposal).where(col(Proposal.id) == imported["id"]).values(owner_id=world.ids["owner"])
            )
        world.ids["open_round"] = await world.create("/rounds", _round("R-open"))
        world.ids["shared_round"] = await world.fresh("shared_round")
        world.ids["skif_quota"] = await world.fresh("skif_quota")
        world.ids["shared_scheduled"] = (await world.post("/rounds/import", _shared_round_file("R-shared")))["id"]
        (shared_published,) = (await world.get("/rounds/{shared_scheduled}/schedules"))["items"]
        world.ids["shared_published"] = shared_published["id"]
        world.ids["shared_draft"] = await world.fresh("shared_draft")
        world.ids["quota"] = await world.fresh("quota")
        world.ids["proposal"] = await world.fresh("proposal")
        world.ids["review_round"] = await world.create("/rounds", _round("R-review"))
        world.ids["reviewed"] = await world.create("/rounds/{review_round}/proposals", PROPOSAL, actor="owner")
        await world.post("/proposals/{reviewed}/reviewers", {"user_id": world.ids["reviewer"]})
        await world.client.put(
            "/rounds/{review_round}/phase".format(**world.ids), json={"phase": "review"}, headers=world.headers["admin"]
        )
        yield world


def expect(default: int, **statuses: int) -> dict[str, int]:
    """The status each actor gets: `default` unless named; 401 without a token unless named."""
    assert set(statuses) <= set(ACTORS)
    return {actor: statuses.get(actor, default) for actor in ACTORS} | {"anonymous": statuses.get("anonymous", 401)}


EVERYONE = expect(200)
ADMIN = expect(403, admin=200)
COORDINATORS = expect(403, admin=200, coordinator=200)
"""Admins and the coordinators of the thing's facility."""
HIDDEN = {"other_coordinator": 404, "other_reviewer": 404, "other_proposer": 404}
"""Those who may not know the proposal exists."""
NOT_JUDGES = {"other_coordinator": 404}
"""Judging a proposal: reviewers and proposers may judge none at all (403 for any id, which tells nothing);
a coordinator of another facility may judge, but not know of this proposal."""
NOT_REVIEWERS = {"other_reviewer": 404}
"""Reviewing: only reviewers review at all; another reviewer may not know of this proposal."""
SCHEDULE_READERS = COORDINATORS
"""A published version: known to exist, read by the round's coordinators only (priorities and reasons)."""
DRAFT_READERS = expect(404, admin=200, coordinator=200)
"""A draft: to anyone but the round's coordinators it does not exist."""
DRAFT_PUBLISHERS = expect(403, admin=200, coordinator=200, other_coordinator=404)
SHARED_READERS = expect(403, admin=200, coordinator=200, other_coordinator=200)
"""A published version of the round of SKIF and KISI: its coordinators read it (panel results of their own)."""
SHARED_DRAFT_READERS = expect(404, admin=200, coordinator=200, other_coordinator=200)
SIGNERS = expect(403, coordinator=200, other_coordinator=200)
"""Signing off a draft changing both facilities: their coordinators; admins publish without and give none."""
"""Publishing a draft: a coordinator of another facility may publish but not know of this draft; proposers and
reviewers may publish nothing at all (403 for any id before the body is read, which tells nothing)."""
RUNS = expect(403, admin=200, coordinator=200, other_coordinator=404)
"""A solve run by the API: hidden from other facilities' coordinators; others may not touch solves at all."""
DASHBOARD_RUNS = expect(404, admin=200, coordinator=200)
"""A solve run by the dashboard's action: to anyone but the round's coordinators it does not exist."""
PAGE = expect(404, admin=200, coordinator=200, anonymous=303)
"""A round's dashboard page shows drafts and priorities: to anyone else it does not exist."""


def created(statuses: dict[str, int], status: int = 201) -> dict[str, int]:
    return {actor: status if code == 200 else code for actor, code in statuses.items()}


def deleted(statuses: dict[str, int]) -> dict[str, int]:
    return created(statuses, 204)


@dataclass(frozen=True)
class Case:
    operation: Operation
    method: str
    path: str
    """A template over the world's ids and `fresh`."""
    expected: dict[str, int]
    body: Callable[[dict[str, int], int], Any] | None = None
    """A body from the world's ids and a number unique to the request."""
    fresh: str | None = None
    dashboard: bool = False
    """Signed in by the dashboard's cookie (and CSRF header) instead of a bearer token."""


CASES = [
    Case(Operation.READ_OWN_ACCOUNT, "GET", "/me", EVERYONE),
    Case(
        Operation.MANAGE_USERS,
        "POST",
        "/users",
        created(ADMIN),
        lambda ids, n: {"email": f"u{n}@example.org", "name": "U", "role": "proposer", "password": "long enough"},
    ),
    Case(Operation.MANAGE_USERS, "GET", "/users", ADMIN),
    Case(Operation.MANAGE_USERS, "GET", "/users/{owner}", ADMIN),
    Case(Operation.MANAGE_USERS, "GET", "/audit", ADMIN),
    Case(Operation.READ_OWN_ACCOUNT, "PATCH", "/me", EVERYONE, lambda ids, n: {"institution": f"Institute {n}"}),
    Case(
        Operation.CONFIRM_ACCOUNT_FACTS,
        "PUT",
        "/users/{owner}/facts",
        expect(403, admin=200, coordinator=200, other_coordinator=404),
        lambda ids, n: {"country": "RU"},
    ),
    # The catalogue
    Case(Operation.READ_CATALOGUE, "GET", "/facilities", EVERYONE),
    Case(Operation.READ_CATALOGUE, "GET", "/facilities/{skif}", EVERYONE),
    Case(Operation.READ_CATALOGUE, "GET", "/facilities/{skif}/instruments", EVERYONE),
    Case(Operation.READ_CATALOGUE, "GET", "/facilities/{skif}/windows", EVERYONE),
    Case(Operation.READ_CATALOGUE, "GET", "/instruments/{instrument}", EVERYONE),
    Case(Operation.READ_CATALOGUE, "GET", "/instruments/{instrument}/windows", EVERYONE),
    Case(Operation.READ_CATALOGUE, "GET", "/windows/{window}", EVERYONE),
    Case(Operation.READ_CATALOGUE, "GET", "/equipment", EVERYONE),
    Case(Operation.READ_CATALOGUE, "GET", "/equipment/{equipment}", EVERYONE),
    Case(Operation.CREATE_FACILITY, "POST", "/facilities", created(ADMIN), lambda ids, n: SKIF | {"code": f"NF{n}"}),
    Case(Operation.CHANGE_FACILITY, "PATCH", "/facilities/{skif}", COORDINATORS, lambda ids, n: {"name": SKIF["name"]}),
    Case(Operation.DELETE_FACILITY, "DELETE", "/facilities/{fresh}", deleted(ADMIN), fresh="facility"),
    Case(
        Operation.CHANGE_FACILITY_ITEM,
        "POST",
        "/facilities/{skif}/instruments",
        created(COORDINATORS),
        lambda ids, n: INSTRUMENT | {"code": f"NI{n}"},
    ),
    Case(
        Operation.CHANGE_FACILITY_ITEM,
        "POST",
        "/facilities/{skif}/windows",
        created(COORDINATORS),
        lambda ids, n: WINDOW | {"start": "2027-06-03T08:00:00+07:00", "end": "2027-06-04T08:00:00+07:00"},
    ),
    Case(
        Operation.CHANGE_FACILITY_ITEM,
        "PATCH",
        "/instruments/{instrument}",
        COORDINATORS,
        lambda ids, n: {"name": INSTRUMENT["name"]},
    ),
    Case(Operation.CHANGE_FACILITY_ITEM, "DELETE", "/instruments/{fresh}", deleted(COORDINATORS), fresh="instrument"),
    Case(
        Operation.CHANGE_FACILITY_ITEM,
        "POST",
        "/instruments/{instrument}/windows",
        created(COORDINATORS),
        lambda ids, n: WINDOW | {"start": "2027-06-03T08:00:00+07:00", "end": "2027-06-04T08:00:00+07:00"},
    ),
    Case(
        Operation.CHANGE_FACILITY_ITEM,
        "PATCH",
        "/windows/{fresh}",
        COORDINATORS,
        lambda ids, n: {"reason": "x"},
        "window",
    ),
    Case(Operation.CHANGE_FACILITY_ITEM, "DELETE", "/windows/{fresh}", deleted(COORDINATORS), fresh="window"),
    Case(
        Operation.CHANGE_FACILITY_ITEM,
        "POST",
        "/equipment",
        created(COORDINATORS),
        lambda ids, n: {"code": f"NE{n}", "name": "Cryostat", "facility": "SKIF"},
    ),
    Case(Operation.CHANGE_FACILITY_ITEM, "PATCH", "/equipment/{equipment}", COORDINATORS, lambda ids, n: {"units": 1}),
    Case(Operation.CHANGE_FACILITY_ITEM, "PATCH", "/equipment/{legacy_equipment}", ADMIN, lambda ids, n: {"units": 1}),
    Case(Operation.CHANGE_FACILITY_ITEM, "DELETE", "/equipment/{fresh}", deleted(COORDINATORS), fresh="equipment"),
    # Rounds
    Case(Operation.READ_ROUND, "GET", "/rounds", EVERYONE),
    Case(Operation.READ_ROUND, "GET", "/rounds/{open_round}", EVERYONE),
    Case(Operation.READ_ROUND, "GET", "/rounds/{open_round}/quotas", EVERYONE),
    Case(Operation.READ_ROUND, "GET", "/quotas/{quota}", EVERYONE),
    Case(Operation.CHANGE_ROUND, "POST", "/rounds", created(COORDINATORS), lambda ids, n: _round(f"NR{n}")),
    Case(
        Operation.CHANGE_ROUND,
        "POST",
        "/rounds",
        created(ADMIN),
        lambda ids, n: _round(f"NS{n}", ("SKIF", "KISI")),
    ),
    Case(Operation.CHANGE_ROUND, "PATCH", "/rounds/{open_round}", COORDINATORS, lambda ids, n: {"name": "A round"}),
    Case(Operation.CHANGE_ROUND, "PATCH", "/rounds/{shared_round}", ADMIN, lambda ids, n: {"name": "A round"}),
    # A shared round's own settings are every facility's: one facility's coordinator changes none of them.
    Case(Operation.CHANGE_ROUND, "PATCH", "/rounds/{shared_round}", ADMIN, lambda ids, n: {"equipment": []}),
    Case(
        Operation.CHANGE_ROUND,
        "PATCH",
        "/rounds/{shared_round}",
        ADMIN,
        lambda ids, n: {"country_groups": {"CIS": ["RU", "AM"]}},
    ),
    Case(Operation.CHANGE_ROUND, "PATCH", "/rounds/{shared_round}", ADMIN, lambda ids, n: {"scoring": SCORING}),
    Case(
        Operation.CHANGE_ROUND,
        "PATCH",
        "/rounds/{shared_round}",
        ADMIN,
        lambda ids, n: {"end": "2027-03-01T08:00:00+07:00"},
    ),
    Case(
        Operation.CHANGE_ROUND,
        "PUT",
        "/rounds/{fresh}/phase",
        ADMIN,
        lambda ids, n: {"phase": "review"},
        "shared_round",
    ),
    Case(
        Operation.CHANGE_ROUND,
        "POST",
        "/rounds/{shared_round}/quotas",
        created(ADMIN),
        lambda ids, n: {"code": f"SQ{n}", "category": {"foreign": True}, "max_share": 0.9},
    ),
    Case(
        Operation.CHANGE_ROUND,
        "POST",
        "/rounds/{shared_round}/quotas",
        created(COORDINATORS),
        lambda ids, n: {
            "code": f"FQ{n}",
            "scope": {"facilities": ["SKIF"]},
            "category": {"foreign": True},
            "max_share": 0.9,
        },
    ),
    Case(
        Operation.CHANGE_ROUND,
        "PUT",
        "/quotas/{skif_quota}",
        COORDINATORS,
        lambda ids, n: {
            "code": "skif",
            "scope": {"instruments": ["SKIF-1-1"]},
            "category": {"foreign": True},
            "max_share": 0.9,
        },
    ),
    Case(
        Operation.CHANGE_ROUND,
        "PUT",
        "/quotas/{skif_quota}",
        ADMIN,
        lambda ids, n: {
            "code": "skif",
            "scope": {"facilities": ["SKIF", "KISI"]},
            "category": {"foreign": True},
            "max_share": 0.9,
        },
    ),
    Case(Operation.CHANGE_ROUND, "DELETE", "/quotas/{fresh}", deleted(COORDINATORS), fresh="skif_quota"),
    Case(Operation.CHANGE_ROUND, "DELETE", "/quotas/{fresh}", deleted(ADMIN), fresh="shared_quota"),
    Case(
        Operation.CHANGE_ROUND,
        "PATCH",
        "/rounds/{fresh}",
        ADMIN,
        lambda ids, n: {"facilities": ["SKIF", "KISI"]},
        fresh="round",
    ),
    Case(Operation.CHANGE_ROUND, "DELETE", "/rounds/{fresh}", deleted(COORDINATORS), fresh="round"),
    Case(Operation.CHANGE_ROUND, "DELETE", "/rounds/{fresh}", deleted(ADMIN), fresh="shared_round"),
    Case(
        Operation.CHANGE_ROUND,
        "PUT",
        "/rounds/{fresh}/phase",
        COORDINATORS,
        lambda ids, n: {"phase": "review"},
        "round",
    ),
    Case(
        Operation.CHANGE_ROUND,
        "POST",
        "/rounds/{open_round}/quotas",
        created(COORDINATORS),
        lambda ids, n: {"code": f"NQ{n}", "category": {"domestic": True}, "max_share": 0.9},
    ),
    Case(
        Operation.CHANGE_ROUND,
        "PUT",
        "/quotas/{quota}",
        COORDINATORS,
        lambda ids, n: {"code": "foreign-min", "category": {"foreign": True}, "min_share": 0.1},
    ),
    Case(Operation.CHANGE_ROUND, "DELETE", "/quotas/{fresh}", deleted(COORDINATORS), fresh="quota"),
    Case(Operation.CHANGE_ROUND, "POST", "/rounds/import", created(COORDINATORS), lambda ids, n: _round_file(f"IR{n}")),
    Case(
        Operation.CHANGE_ROUND,
        "PUT",
        "/rounds/{fresh}/import",
        COORDINATORS,
        lambda ids, n: _round_file(f"IR{n}"),
        "round",
    ),
    Case(
        Operation.CHANGE_ROUND,
        "PUT",
        "/rounds/{fresh}/import",
        ADMIN,
        lambda ids, n: _round_file(f"IS{n}"),
        fresh="shared_round",
    ),
    Case(
        Operation.FORCE_REPLACE_ROUND,
        "PUT",
        "/rounds/{fresh}/import?force=true",
        ADMIN,
        lambda ids, n: _round_file(f"IF{n}"),
        fresh="round",
    ),
    Case(Operation.EXPORT_ROUND, "GET", "/rounds/{open_round}/export", COORDINATORS),
    Case(
        Operation.EXPORT_ROUND,
        "GET",
        "/rounds/{shared_round}/export",
        expect(403, admin=200, coordinator=200, other_coordinator=200),
    ),
    Case(Operation.READ_RANKING, "GET", "/rounds/{open_round}/ranking", COORDINATORS),
    Case(
        Operation.CHANGE_FAIR_RETURN,
        "POST",
        "/fair-return-policies",
        created(expect(403, admin=200, coordinator=200, other_coordinator=200)),
        _fair_return_policy,
    ),
    Case(
        Operation.CHANGE_FAIR_RETURN,
        "PATCH",
        "/fair-return-policies/{fresh}",
        COORDINATORS,
        lambda ids, n: {"price_per_shift": 2.0},
        fresh="policy",
    ),
    Case(
        Operation.CHANGE_FAIR_RETURN,
        "PUT",
        "/fair-return-policies/{fresh}/rounds/{open_round}",
        COORDINATORS,
        fresh="policy",
    ),
    Case(Operation.READ_USAGE, "GET", "/rounds/{scheduled}/reports/usage", COORDINATORS),
    Case(Operation.READ_USAGE, "GET", "/rounds/{scheduled}/reports/usage?format=xlsx", COORDINATORS),
    Case(Operation.READ_USAGE, "GET", "/rounds/{shared_scheduled}/reports/usage", SHARED_READERS),
    Case(Operation.READ_USAGE, "GET", "/reports/usage?rounds={scheduled}", COORDINATORS),
    Case(Operation.READ_USAGE, "GET", "/reports/usage?rounds={shared_scheduled}", SHARED_READERS),
    Case(
        Operation.READ_USAGE,
        "GET",
        "/ui/rounds/{scheduled}/usage",
        expect(403, admin=200, coordinator=200, anonymous=303),
        dashboard=True,
    ),
    # Proposals
    Case(
        Operation.SUBMIT_PROPOSAL,
        "POST",
        "/rounds/{open_round}/proposals",
        expect(403, admin=201, owner=201, other_proposer=201),
        lambda ids, n: PROPOSAL,
    ),
    Case(Operation.READ_PROPOSAL, "GET", "/proposals", EVERYONE),
    Case(Operation.READ_PROPOSAL, "GET", "/proposals/{proposal}", expect(200, **HIDDEN)),
    Case(Operation.READ_PROPOSAL, "GET", "/proposals/{imported}/slots", expect(200, **HIDDEN)),
    Case(
        Operation.CHANGE_PROPOSAL,
        "PUT",
        "/proposals/{proposal}",
        expect(403, admin=200, owner=200, **HIDDEN),
        lambda ids, n: PROPOSAL,
    ),
    Case(
        Operation.CHANGE_PROPOSAL,
        "POST",
        "/proposals/{fresh}/withdraw",
        expect(403, admin=200, owner=200, **HIDDEN),
        fresh="proposal",
    ),
    Case(
        Operation.READ_CONFIDENTIAL,
        "GET",
        "/proposals/{reviewed}/reviews",
        expect(403, admin=200, coordinator=200, reviewer=200, **HIDDEN),
    ),
    Case(
        Operation.JUDGE_PROPOSAL,
        "PUT",
        "/proposals/{proposal}/feasibility",
        expect(403, admin=200, coordinator=200, **NOT_JUDGES),
        lambda ids, n: {"technically_feasible": True},
    ),
    Case(
        Operation.JUDGE_PROPOSAL,
        "GET",
        "/proposals/{proposal}/reviewers",
        expect(403, admin=200, coordinator=200, **HIDDEN),
    ),
    Case(
        Operation.JUDGE_PROPOSAL,
        "POST",
        "/proposals/{fresh}/reviewers",
        expect(403, admin=201, coordinator=201, **NOT_JUDGES),
        lambda ids, n: {"user_id": ids["other_reviewer"]},
        fresh="proposal",
    ),
    Case(
        Operation.JUDGE_PROPOSAL,
        "DELETE",
        "/proposals/{fresh}/reviewers/{reviewer}",
        expect(403, admin=204, coordinator=204, **HIDDEN),
        fresh="proposal",
    ),
    Case(
        Operation.REVIEW_PROPOSAL,
        "PUT",
        "/proposals/{reviewed}/review",
        expect(403, reviewer=200, **NOT_REVIEWERS),
        lambda ids, n: {"grade": 2.0},
    ),
    # Schedules: versions, exports and diffs carry every proposal's priority and reasons.
    Case(Operation.READ_SCHEDULE, "GET", "/rounds/{scheduled}/schedules", SCHEDULE_READERS),
    Case(Operation.READ_SCHEDULE, "GET", "/schedules/{published}", SCHEDULE_READERS),
    Case(Operation.READ_SCHEDULE, "GET", "/schedules/{published}/export", SCHEDULE_READERS),
    Case(Operation.READ_SCHEDULE, "GET", "/schedules/{published}/export?format=csv", SCHEDULE_READERS),
    Case(Operation.READ_SCHEDULE, "GET", "/schedules/{draft}", DRAFT_READERS),
    Case(Operation.READ_SCHEDULE, "GET", "/schedules/{draft}/export", DRAFT_READERS),
    Case(Operation.READ_SCHEDULE, "GET", "/schedules/{published}/diff/{draft}", DRAFT_READERS),
    Case(Operation.READ_SCHEDULE, "GET", "/ui/rounds/{scheduled}", PAGE, dashboard=True),
    Case(
        Operation.READ_SCHEDULE,
        "GET",
        "/ui/rounds/{scheduled}/compare?before={published}&after={draft}",
        PAGE,
        dashboard=True,
    ),
    Case(
        Operation.CHANGE_SCHEDULE,
        "POST",
        "/schedules/{published}/moves",
        created(expect(403, admin=200, coordinator=200)),
        lambda ids, n: {"request": SCHEDULED, "instrument": "SKIF-1-1", "start_shift": 15, "shifts": 3},
    ),
    Case(
        Operation.CHANGE_SCHEDULE,
        "POST",
        "/schedules/{published}/edits",
        created(expect(403, admin=200, coordinator=200)),
        lambda ids, n: {"moves": [{"request": SCHEDULED, "instrument": "SKIF-1-1", "start_shift": 18, "shifts": 3}]},
    ),
    Case(
        Operation.CHANGE_SCHEDULE,
        "POST",
        "/schedules/{published}/edits/check",
        expect(403, admin=200, coordinator=200),
        lambda ids, n: {"moves": [{"request": SCHEDULED, "instrument": "SKIF-1-1", "start_shift": 18, "shifts": 3}]},
    ),
    Case(
        Operation.CHANGE_SCHEDULE,
        "POST",
        "/schedules/{shared_published}/edits/check",
        expect(403, admin=200, other_coordinator=200),
        lambda ids, n: {"moves": [{"request": ON_KISI[0], "instrument": ON_KISI[1], "start_shift": 24, "shifts": 3}]},
    ),
    Case(Operation.READ_SCHEDULE, "GET", "/schedules/{shared_published}/export", SHARED_READERS),
    Case(Operation.READ_SCHEDULE, "GET", "/schedules/{shared_published}/diff/{shared_draft}", SHARED_DRAFT_READERS),
    Case(Operation.READ_SCHEDULE, "GET", "/schedules/{shared_draft}/sign-offs", SHARED_DRAFT_READERS),
    Case(
        Operation.READ_SCHEDULE,
        "GET",
        "/ui/rounds/{shared_scheduled}",
        expect(404, admin=200, coordinator=200, other_coordinator=200, anonymous=303),
        dashboard=True,
    ),
    Case(
        Operation.CHANGE_SCHEDULE,
        "POST",
        "/schedules/{shared_published}/moves",
        created(expect(403, admin=200, coordinator=200)),
        lambda ids, n: {"request": ON_SKIF[0], "instrument": ON_SKIF[1], "start_shift": 24, "shifts": 3},
    ),
    Case(
        Operation.CHANGE_SCHEDULE,
        "POST",
        "/schedules/{shared_published}/moves",
        created(expect(403, admin=200, other_coordinator=200)),
        lambda ids, n: {"request": ON_KISI[0], "instrument": ON_KISI[1], "start_shift": 24, "shifts": 3},
    ),
    Case(
        Operation.CHANGE_SCHEDULE,
        "POST",
        f"/schedules/{{shared_draft}}/allocations/{ON_KISI[0]}/pin",
        expect(404, admin=200, coordinator=403, other_coordinator=200),
    ),
    Case(Operation.CHANGE_SCHEDULE, "POST", f"/schedules/{{draft}}/allocations/{SCHEDULED}/pin", DRAFT_READERS),
    Case(Operation.CHANGE_SCHEDULE, "DELETE", f"/schedules/{{draft}}/allocations/{SCHEDULED}/pin", DRAFT_READERS),
    Case(
        Operation.PUBLISH_SCHEDULE,
        "POST",
        "/schedules/{fresh}/publish",
        DRAFT_PUBLISHERS,
        lambda ids, n: {"expected_revision": ids["revision"]},
        fresh="draft",
    ),
    Case(
        Operation.PUBLISH_SCHEDULE,
        "POST",
        "/ui/schedules/{fresh}/publish",
        DRAFT_PUBLISHERS,
        lambda ids, n: {"expected_revision": ids["revision"]},
        fresh="draft",
        dashboard=True,
    ),
    # A shared round's draft: published once each facility it changes signed off (409 naming those awaited).
    Case(
        Operation.PUBLISH_SCHEDULE,
        "POST",
        "/schedules/{fresh}/publish",
        expect(403, admin=200, coordinator=409, other_coordinator=409),
        lambda ids, n: {"expected_revision": ids["shared_revision"]},
        fresh="shared_draft",
    ),
    Case(
        Operation.PUBLISH_SCHEDULE,
        "POST",
        "/schedules/{fresh}/publish",
        expect(403, admin=200, coordinator=200, other_coordinator=409),
        lambda ids, n: {"expected_revision": ids["shared_revision"]},
        fresh="skif_draft",
    ),
    Case(
        Operation.PUBLISH_SCHEDULE,
        "POST",
        "/schedules/{fresh}/publish",
        expect(403, admin=200, coordinator=409, other_coordinator=200),
        lambda ids, n: {"expected_revision": ids["shared_revision"]},
        fresh="signed_draft",
    ),
    Case(Operation.SIGN_OFF_SCHEDULE, "POST", "/schedules/{fresh}/sign-off", SIGNERS, fresh="shared_draft"),
    Case(
        Operation.SIGN_OFF_SCHEDULE,
        "POST",
        "/schedules/{fresh}/sign-off",
        expect(403, coordinator=200),
        fresh="skif_draft",
    ),
    Case(
        Operation.SIGN_OFF_SCHEDULE,
        "POST",
        "/ui/schedules/{fresh}/sign-off",
        SIGNERS,
        fresh="shared_draft",
        dashboard=True,
    ),
    Case(
        Operation.SIGN_OFF_SCHEDULE,
        "DELETE",
        "/schedules/{fresh}/sign-off",
        expect(403, coordinator=204, other_coordinator=404),
        fresh="signed_draft",
    ),
    # Solves
    Case(Operation.RUN_SOLVE, "POST", "/rounds/{fresh}/solves", created(COORDINATORS, 202), lambda ids, n: {}, "round"),
    Case(Operation.RUN_SOLVE, "GET", "/rounds/{scheduled}/solves", COORDINATORS),
    Case(Operation.RUN_SOLVE, "GET", "/rounds/{scheduled}/nightly", COORDINATORS),
    Case(
        Operation.RUN_SOLVE,
        "POST",
        "/ui/rounds/{fresh}/solves",
        created(COORDINATORS, 202),
        lambda ids, n: {},
        fresh="round",
        dashboard=True,
    ),
    Case(Operation.WATCH_SOLVE, "GET", "/solves/{solve}", RUNS),
    Case(
        Operation.WATCH_SOLVE,
        "GET",
        "/solves/{solve}/input",
        expect(403, admin=404, coordinator=404, other_coordinator=404),
    ),
    Case(Operation.WATCH_SOLVE, "DELETE", "/solves/{fresh}", created(RUNS, 202), fresh="solve"),
    Case(Operation.WATCH_SOLVE, "GET", "/ui/solves/{solve}", DASHBOARD_RUNS, dashboard=True),
]


def test_every_operation_of_the_policy_has_rows() -> None:
    assert {case.operation for case in CASES} == set(POLICY)


async def test_every_role_gets_what_the_policy_allows(world: World) -> None:
    wrong = []
    client = world.client
    for case in CASES:
        for actor in ACTORS:
            target = await world.fresh(case.fresh) if case.fresh else None
            path = case.path.format(**world.ids, fresh=target)
            body = case.body(world.ids, next(_numbers)) if case.body else None
            if case.dashboard:
                client.cookies.update(world.jars[actor])
                headers = {CSRF_HEADER: world.jars[actor][CSRF_COOKIE]}
            else:
                headers = world.headers[actor]
            response = await client.request(case.method, path, json=body, headers=headers, follow_redirects=False)
            client.cookies.clear()
            if response.status_code != case.expected[actor]:
                wrong.append(
                    f"{case.operation} {case.method} {case.path} as {actor}: {response.status_code}, "
                    f"expected {case.expected[actor]}: {response.text[:160]}"
                )
    assert not wrong, "\n".join(wrong)


async def _claims(session: AsyncSession, user_id: int) -> Claims:
    user = await session.get(User, user_id)
    assert user is not None
    coordinated = await session.execute(
        select(col(CoordinatorFacility.facility_id)).where(col(CoordinatorFacility.user_id) == user_id)
    )
    return Claims(user_id=user_id, role=as_role(user.role), facilities=frozenset(coordinated.scalars()))


async def test_the_policy_and_its_sql_form_agree_on_who_sees_a_proposal(world: World) -> None:
    """`visible_to` (lists, the slots hot path) against `READ_PROPOSAL` on each proposal's facts, for everyone."""
    theirs = await world.create("/rounds/{open_round}/proposals", PROPOSAL, actor="other_proposer")
    async with world.sessions() as session:
        proposals = list((await session.execute(select(Proposal))).scalars())
        facts = await proposal_facts(session, proposals)
        seen = {}
        for actor in ACTORS[:-1]:
            claims = await _claims(session, world.ids[actor])
            by_rule = {p.id for p in proposals if access.may(claims, Operation.READ_PROPOSAL, facts[p.id or 0])}
            by_sql = set(
                (
                    await session.execute(select(col(Proposal.id)).where(visible_to(claims.role, claims.user_id)))
                ).scalars()
            )
            assert by_rule == by_sql, actor
            seen[actor] = by_rule
    shared = {p.id for p in proposals if p.round_id == world.ids["shared_scheduled"]}
    assert seen["admin"] == seen["coordinator"] == {p.id for p in proposals}
    assert seen["other_coordinator"] == shared and len(shared) == 2
    assert seen["other_reviewer"] == set()
    assert seen["other_proposer"] == {theirs}
    assert seen["reviewer"] == seen["owner"] == seen["admin"] - {theirs} - shared


async def test_a_reviewer_sees_what_their_assignment_needs(world: World) -> None:
    """Not the priority the panel's grades gave, nor whose proposal it is, nor other reviewers' grades."""
    client, path = world.client, "/proposals/{imported}".format(**world.ids)
    as_reviewer = (await client.get(path, headers=world.headers["reviewer"])).json()
    as_owner = (await client.get(path, headers=world.headers["owner"])).json()
    as_coordinator = (await client.get(path, headers=world.headers["coordinator"])).json()
    listed = (await client.get("/proposals", headers=world.headers["reviewer"])).json()["items"]

    assert (as_reviewer["title"], as_reviewer["requests"][0]["code"]) == ("Imported", SCHEDULED)
    assert (as_reviewer["priority"], as_reviewer["owner_id"]) == (None, None)
    assert {item["owner_id"] for item in listed} == {None}
    assert (as_owner["priority"], as_owner["owner_id"]) == (None, world.ids["owner"])
    assert (as_coordinator["priority"], as_coordinator["owner_id"]) == (2.0, world.ids["owner"])
