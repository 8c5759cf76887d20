"""The API under test: a real app on the test database, a real HTTP client, users and their tokens."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import httpx
import uvicorn
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.util import await_only

from api.app import create_app
from scheduler.accounts.service import create_user
from scheduler.settings import Settings

PASSWORD = "correct horse battery staple"
_numbers = count(1)

Client = AsyncTestClient[Litestar]


def api_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test app: the test database, no solve worker unless asked for, no nightly jobs."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "jwt_secret": "a-test-secret-that-is-long-enough-for-hs256",
        "run_worker_in_api": False,
        "run_nightly_in_api": False,
    }
    return Settings(**(values | overrides))


@asynccontextmanager
async def api_client(database_url: str, *, start_worker: bool = False, **settings: Any) -> AsyncIterator[Client]:
    """A client of an app whose start-up and shutdown run, on a database the `database_url` fixture built."""
    app = create_app(api_settings(database_url, **settings), start_worker=start_worker, migrate=False)
    async with AsyncTestClient(app=app) as client:
        yield client


@asynccontextmanager
async def served(database_url: str, **settings: Any) -> AsyncIterator[str]:
    """The app under uvicorn on a loopback port, in a thread of its own; yields its base URL.

    The test client runs the app in a thread too, but each call blocks its caller until
    answered; clients of a real server run concurrently with it and with each other,
    which is what a test of one request slowing down others needs. The caller's event
    loop keeps running while the server starts and stops."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(api_settings(database_url, **settings), start_worker=False, migrate=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 20)


@dataclass
class Paused:
    """A served write paused at one of its statements while other writes ran (`posted_meanwhile`)."""

    connection: Any = None
    answers: list[int] = field(default_factory=list)
    """The statuses of the writes that ran meanwhile."""
    statements: list[str] = field(default_factory=list)
    """The statements the paused write ran after it went on."""


@contextmanager
def posted_meanwhile(
    base_url: str, pause_at: Callable[[str], bool], path: str, body: dict[str, Any], headers: dict[str, str], times: int
) -> Iterator[Paused]:
    """While inside, the first statement of the app `served` at `base_url` for which `pause_at` holds waits until
    `body` has been posted to `path` `times` times, one after the other, on the server's event loop (so they commit
    before the paused write goes on)."""
    paused = Paused()

    async def post() -> list[int]:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as other:
            return [(await other.post(path, json=body, headers=headers)).status_code for _ in range(times)]

    def after_statement(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if paused.connection is None and pause_at(statement):
            paused.connection = connection
            paused.answers.extend(await_only(post()))
        elif connection is paused.connection:
            paused.statements.append(statement)

    event.listen(Engine, "after_cursor_execute", after_statement)
    try:
        yield paused
    finally:
        event.remove(Engine, "after_cursor_execute", after_statement)


async def make_user(
    sessions: async_sessionmaker[AsyncSession],
    role: str,
    email: str | None = None,
    password: str = PASSWORD,
    facility_codes: Iterable[str] = (),
    *,
    name: str | None = None,
) -> int:
    """A user committed to the database; returns the id."""
    number = next(_numbers)
    async with sessions.begin() as session:
        user = await create_user(
            session,
            email or f"{role}{number}@example.org",
            name or f"{role.title()} {number}",
            role,
            password,
            facility_codes,
        )
    return user.id


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    """Headers that authenticate as this user."""
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
