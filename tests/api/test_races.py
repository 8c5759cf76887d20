"""Concurrent writes end as one serial order would, or one side is refused: each race of issue 17 through a barrier.

Each test runs the app under a real server (`served`) and sends the competing writes from concurrent clients,
released together by a barrier, on SQLite and on PostgreSQL; then it reads the end state back through the API.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar, post
from litestar.params import FromPath
from sqlalchemy import Engine, event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.database import DATABASE_ERRORS, TRIES_ON_CONFLICT, database_plugin
from api.params import Session
from fixtures import EXAMPLE_ROUND
from scheduler.db.engine import create_engine, is_sqlite, session_maker
from scheduler.db.tables import Facility
from tests.api_helpers import PASSWORD, make_user, served
from tests.proposals.test_api_proposals import CONTENT
from tests.schedules.test_api_schedules import _world

EXAMPLE = EXAMPLE_ROUND
KISI = {"code": "KISI", "name": "KISI", "country": "RU", "timezone": "UTC"}
"""A facility in no round."""
TRIES = 3
"""Races are repeated: one try may happen to run serially."""

Sessions = async_sessionmaker[AsyncSession]
Headers = dict[str, str]
Send = Callable[[], Awaitable[httpx.Response]]


async def together(*sends: Send) -> list[httpx.Response]:
    """The requests, each sent by its own task once all are ready."""
    barrier = asyncio.Barrier(len(sends))

    async def send(one: Send) -> httpx.Response:
        await barrier.wait()
        return await one()

    return list(await asyncio.gather(*(send(one) for one in sends)))


@dataclass
class Server:
    client: httpx.AsyncClient
    admin: Headers

    async def sign_in(self, email: str) -> Headers:
        response = await self.client.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def ok(self, method: str, path: str, expected: int = 200, **options: Any) -> Any:
        response = await self.client.request(method, path, headers=self.admin, **options)
        assert response.status_code == expected, response.text
        return response.json() if response.content else None

    async def example_round(self, code: str = "2027-I-example") -> int:
        """The example round, imported under `code`, in phase open."""
        content = json.loads(EXAMPLE.read_text())
        content["round"]["id"] = code
        round_id: int = (await self.ok("POST", "/rounds/import", 201, json=content))["id"]
        return round_id

    async def facility_id(self, code: str) -> int:
        facilities = (await self.ok("GET", "/facilities"))["items"]
        return next(item["id"] for item in facilities if item["code"] == code)


@pytest.fixture
async def server(database_url: str, sessions: Sessions) -> AsyncIterator[Server]:
    await make_user(sessions, "admin", "admin@example.org")
    async with served(database_url) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        response = await client.post("/auth/login", json={"email": "admin@example.org", "password": PASSWORD})
        assert response.status_code == 200, response.text
        yield Server(client, {"Authorization": f"Bearer {response.json()['access_token']}"})


def _at(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


async def test_two_edits_of_a_window_never_leave_it_ending_before_it_starts(server: Server) -> None:
    facility = await server.ok("POST", "/facilities", 201, json=KISI)
    start = datetime.fromisoformat("2027-03-01T00:00:00+00:00")
    for _ in range(TRIES):
        span = {"start": start.isoformat(), "end": (start + timedelta(hours=24)).isoformat(), "kind": "maintenance"}
        window = await server.ok("POST", f"/facilities/{facility['id']}/windows", 201, json=span)
        path = f"/windows/{window['id']}"
        later_start = {"start": (start + timedelta(hours=18)).isoformat()}
        earlier_end = {"end": (start + timedelta(hours=6)).isoformat()}

        answers = await together(
            partial(server.client.patch, path, json=later_start, headers=server.admin),
            partial(server.client.patch, path, json=earlier_end, headers=server.admin),
        )

        assert sorted(answer.status_code for answer in answers) == [200, 422], [a.text for a in answers]
        stored = await server.ok("GET", path)
        assert _at(stored["start"]) < _at(stored["end"])
        won = next(answer.json() for answer in answers if answer.status_code == 200)
        assert (stored["start"], stored["end"]) == (won["start"], won["end"])


async def test_two_edits_of_a_round_never_leave_it_ending_before_it_starts(server: Server) -> None:
    await server.ok("POST", "/facilities", 201, json=KISI)
    start = datetime.fromisoformat("2027-03-01T00:00:00+00:00")
    for number in range(TRIES):
        created = {
            "code": f"R-{number}",
            "name": f"Round {number}",
            "start": start.isoformat(),
            "end": (start + timedelta(days=28)).isoformat(),
            "facilities": ["KISI"],
        }
        path = f"/rounds/{(await server.ok('POST', '/rounds', 201, json=created))['id']}"
        later_start = {"start": (start + timedelta(days=21)).isoformat()}
        earlier_end = {"end": (start + timedelta(days=7)).isoformat()}

        answers = await together(
            partial(server.client.patch, path, json=later_start, headers=server.admin),
            partial(server.client.patch, path, json=earlier_end, headers=server.admin),
        )

        assert sorted(answer.status_code for answer in answers) == [200, 422], [a.text for a in answers]
        stored = await server.ok("GET", path)
        assert _at(stored["start"]) < _at(stored["end"])


def _content(person: str, labels: tuple[str, str]) -> dict[str, Any]:
    requests = [{"label": label, "instruments": ["SKIF-1-4"], "shifts": 3} for label in labels]
    return CONTENT | {"team": [{"name": person, "country": "GB"}], "requests": requests, "links": []}


def _kept(proposal: dict[str, Any]) -> tuple[list[str], list[str]]:
    return [person["name"] for person in proposal["team"]], [request["label"] for request in proposal["requests"]]


async def test_two_rewrites_of_a_proposal_keep_one_of_them_whole(server: Server, sessions: Sessions) -> None:
    round_id = await server.example_round()
    await make_user(sessions, "proposer", "owner@example.org")
    owner = await server.sign_in("owner@example.org")
    alice, bob = _content("Alice", ("x1", "x2")), _content("Bob", ("y1", "y2"))
    for _ in range(TRIES):
        created = await server.client.post(f"/rounds/{round_id}/proposals", json=CONTENT, headers=owner)
        assert created.status_code == 201, created.text
        path = f"/proposals/{created.json()['id']}"

        answers = await together(
            partial(server.client.put, path, json=alice, headers=owner),
            partial(server.client.put, path, json=bob, headers=owner),
        )

        codes = sorted(answer.status_code for answer in answers)
        assert codes in ([200, 200], [200, 409]), [answer.text for answer in answers]
        stored = (await server.client.get(path, headers=owner)).json()
        saved = [_kept(answer.json()) for answer in answers if answer.status_code == 200]
        assert _kept(stored) in saved
        assert _kept(stored) in ((["Alice"], ["x1", "x2"]), (["Bob"], ["y1", "y2"]))


async def test_an_instrument_is_deleted_or_asked_for_never_both(server: Server, sessions: Sessions) -> None:
    round_id = await server.example_round()
    skif = await server.facility_id("SKIF")
    await make_user(sessions, "proposer", "owner@example.org")
    owner = await server.sign_in("owner@example.org")
    for number in range(TRIES):
        code = f"SKIF-new-{number}"
        instrument = await server.ok("POST", f"/facilities/{skif}/instruments", 201, json={"code": code, "name": code})
        asking = CONTENT | {"requests": [{"label": "a", "instruments": [code], "shifts": 3}], "links": []}
        submit = partial(server.client.post, f"/rounds/{round_id}/proposals", json=asking, headers=owner)

        *submitted, deleted = await together(
            submit,
            submit,
            submit,
            submit,
            partial(server.client.delete, f"/instruments/{instrument['id']}", headers=server.admin),
        )

        codes = [answer.status_code for answer in submitted]
        asked = [answer for answer in submitted if answer.status_code == 201]
        if deleted.status_code == 204:
            assert not asked and set(codes) <= {409, 422}, [answer.text for answer in submitted]
        else:
            assert deleted.status_code == 409, deleted.text
            assert codes.count(201) == len(asked)
        exported = await server.ok("GET", f"/rounds/{round_id}/export")
        naming = [r for p in exported["proposals"] for r in p["requests"] if code in r["instruments"]]
        offered = [i["id"] for f in exported["facilities"] for i in f["instruments"]]
        assert len(naming) == len(asked)
        assert (code in offered) == (deleted.status_code == 409)


@contextmanager
def commit_log() -> Iterator[list[str]]:
    """What each committed transaction of any engine did, in the order they committed: 'proposal' for one that
    inserted a proposal, 'phase' for one that changed a round's phase."""
    log: list[str] = []

    def after_execute(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO proposal "):
            connection.info["did"] = "proposal"
        elif statement.startswith("UPDATE round SET") and "phase=" in statement:
            connection.info["did"] = "phase"

    def commit(connection: Any) -> None:
        if did := connection.info.pop("did", None):
            log.append(did)

    def rollback(connection: Any) -> None:
        connection.info.pop("did", None)

    listeners = (("after_cursor_execute", after_execute), ("commit", commit), ("rollback", rollback))
    for name, listener in listeners:
        event.listen(Engine, name, listener)
    try:
        yield log
    finally:
        for name, listener in listeners:
            event.remove(Engine, name, listener)


async def test_no_submission_commits_after_the_call_closes(server: Server, sessions: Sessions) -> None:
    await make_user(sessions, "proposer", "owner@example.org")
    owner = await server.sign_in("owner@example.org")
    for number in range(TRIES):
        round_id = await server.example_round(f"R-{number}")
        submit = partial(server.client.post, f"/rounds/{round_id}/proposals", json=CONTENT, headers=owner)
        close = partial(server.client.put, f"/rounds/{round_id}/phase", json={"phase": "review"}, headers=server.admin)

        with commit_log() as committed:
            answers = await together(*[submit] * 10, close, *[submit] * 10)
        closed, submitted = answers[10], answers[:10] + answers[11:]

        assert closed.status_code == 200, closed.text
        codes = [answer.status_code for answer in submitted]
        assert set(codes) <= {201, 409}, [answer.text for answer in submitted]
        assert committed.count("phase") == 1
        assert "proposal" not in committed[committed.index("phase") :]
        assert committed.count("proposal") == codes.count(201)


async def test_a_draft_published_from_two_revisions_at_once_is_published_once(
    database_url: str, sessions: Sessions
) -> None:
    world = await _world(sessions)
    async with served(database_url) as url, httpx.AsyncClient(base_url=url, timeout=60) as client:
        server = Server(client, {})
        server.admin = await server.sign_in(world.coordinator)
        move = {"request": "P-001-a", "instrument": "SKIF-1-1", "start_shift": 24, "shifts": 9}
        draft = (await server.ok("POST", f"/schedules/{world.published}/moves", 201, json=move))["id"]
        revision = (await server.ok("GET", f"/rounds/{world.round_id}/schedules"))["revision"]
        path = f"/schedules/{draft}/publish"
        publish = [
            partial(client.post, path, json={"expected_revision": expected}, headers=server.admin)
            for expected in (revision, revision + 1)
        ]

        answers = await together(*publish * 15)

        codes = [answer.status_code for answer in answers]
        assert codes.count(200) == 1 and set(codes) == {200, 409}, [answer.text for answer in answers]
        versions = (await server.ok("GET", f"/rounds/{world.round_id}/schedules"))["items"]
        assert [v["id"] for v in versions if v["status"] == "published"] == [draft]
        assert next(v["status"] for v in versions if v["id"] == world.published) == "superseded"


@asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """`app` under uvicorn on a loopback port, in a thread of its own, and a client of it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 20)


def _conflicting_app(database_url: str, tries: Counter[str]) -> Litestar:
    """Routes on the real database plugin whose transactions the database aborts: `/deadlock/{a}/{b}` locks two
    facility rows in that order, meeting its twin `/deadlock/{b}/{a}` half way on its first try; `/aborted/{n}` is
    aborted for a serialization failure on its first `n` tries."""
    halfway = asyncio.Barrier(2)

    @post("/deadlock/{first:int}/{second:int}", status_code=200)
    async def deadlock(first: FromPath[int], second: FromPath[int], db_session: Session) -> int:
        tries[f"deadlock {first}"] += 1
        await db_session.execute(text("SELECT id FROM facility WHERE id = :id FOR UPDATE"), {"id": first})
        if tries[f"deadlock {first}"] == 1:
            await halfway.wait()
        await db_session.execute(text("SELECT id FROM facility WHERE id = :id FOR UPDATE"), {"id": second})
        return first

    @post("/aborted/{times:int}", status_code=200)
    async def aborted(times: FromPath[int], db_session: Session) -> int:
        tries["aborted"] += 1
        if tries["aborted"] <= times:
            await db_session.execute(text("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END $$"))
        return tries["aborted"]

    engine = create_engine(database_url)
    return Litestar(
        [deadlock, aborted],
        plugins=[database_plugin(engine, session_maker(engine), writes_at_once=2)],
        exception_handlers={**DATABASE_ERRORS},
    )


async def test_a_deadlock_or_serialization_failure_is_tried_again_never_a_500(
    database_url: str, sessions: Sessions
) -> None:
    if is_sqlite(database_url):
        pytest.skip("SQLite's write requests take turns: no deadlock forms there")
    async with sessions.begin() as session:
        for code in ("A", "B"):
            session.add(Facility(code=code, name=code, country="RU", timezone="UTC"))
    tries: Counter[str] = Counter()
    async with serving(_conflicting_app(database_url, tries)) as client:
        one, other = await together(partial(client.post, "/deadlock/1/2"), partial(client.post, "/deadlock/2/1"))

        assert (one.status_code, other.status_code) == (200, 200), (one.text, other.text)
        assert sorted(tries.values()) == [1, 2], "the deadlock's victim was tried again, once"

        tries.clear()
        recovered = await client.post(f"/aborted/{TRIES_ON_CONFLICT - 1}")
        assert (recovered.status_code, recovered.json()) == (200, TRIES_ON_CONFLICT)

        tries.clear()
        busy = await client.post(f"/aborted/{TRIES_ON_CONFLICT}")
        assert busy.status_code == 503, busy.text
        assert busy.headers["retry-after"] == "1"
        assert busy.headers["content-type"] == "application/problem+json"
        assert busy.json()["detail"] == "the database was busy with conflicting changes: try again"
        assert tries["aborted"] == TRIES_ON_CONFLICT
