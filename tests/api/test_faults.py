"""Failure is cheap: a real server under concurrent readers, loopback only.

PostgreSQL ending the server's connections costs no client an error; after an
outage the service answers again within a second of the database being back; one
request failing with a database error slows the others by milliseconds, not seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from scheduler.accounts import credentials
from scheduler.schedules import calendar
from tests.api_helpers import PASSWORD, make_user, served

Sessions = async_sessionmaker[AsyncSession]
READERS = 8
BACK_WITHIN = 1.0
"""Seconds from the database being reachable again to the first 2xx (the issue's target)."""
ERROR_DELAYS_OTHERS_BY_AT_MOST = 0.05
"""Seconds the median read may slow down while another client's requests fail (the issue's target); the assertion
allows half the quiet median again for the neighbours' load on a shared 2-core machine, and benchmarks/faults.py
measures it. Before logging was configured, one database error held every request for seconds."""
TERMINATE = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid()"
)

on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture(autouse=True)
def _quiet_clients(caplog: pytest.LogCaptureFixture) -> None:
    """httpx logs every request at INFO: thousands of lines, and time taken from the readers."""
    caplog.set_level(logging.WARNING, logger="httpx")


@dataclass
class Answer:
    status: int
    sent: float
    answered: float
    detail: str = ""


@dataclass
class Readers:
    """Clients reading /facilities in a loop, each on its own connection, until stopped."""

    url: str
    headers: dict[str, str]
    answers: list[Answer] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _read(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=10) as client:
            while not self.stop.is_set():
                sent = time.perf_counter()
                answer = await client.get("/facilities")
                detail = "" if answer.is_success else answer.text
                self.answers.append(Answer(answer.status_code, sent, time.perf_counter(), detail))

    @asynccontextmanager
    async def running(self, count: int = READERS) -> AsyncIterator[Readers]:
        tasks = [asyncio.create_task(self._read()) for _ in range(count)]
        try:
            yield self
        finally:
            self.stop.set()
            await asyncio.gather(*tasks)

    def after(self, moment: float) -> list[Answer]:
        return [answer for answer in self.answers if answer.sent >= moment]


async def _bearer(url: str, email: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@on_postgresql
async def test_connections_the_database_ends_cost_no_client_an_error(database_url: str, sessions: Sessions) -> None:
    """Every request checks the account (no cache), so the authentication's reads meet the dead connections too."""
    await make_user(sessions, "admin", "admin@example.org")
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with served(database_url, account_cache_seconds=0) as url:
            readers = Readers(url, await _bearer(url, "admin@example.org"))
            async with readers.running():
                await asyncio.sleep(0.5)
                terminations = []
                for _ in range(3):
                    async with admin.connect() as connection:
                        ended = (await connection.execute(text(TERMINATE))).all()
                    assert ended, "the server's connections were there to end"
                    terminations.append(time.perf_counter())
                    await asyncio.sleep(0.5)
    finally:
        await admin.dispose()

    after = readers.after(terminations[0])
    assert len(after) > 3 * READERS, "the readers kept reading"
    failed = Counter((answer.status, answer.detail) for answer in readers.answers if answer.status != 200)
    assert not failed, failed
    answered = sorted(answer.answered for answer in after)
    longest_silence = max(later - earlier for earlier, later in itertools.pairwise(answered))
    assert longest_silence < BACK_WITHIN, f"no answer for {longest_silence:.2f} s"


class Outage:
    """A loopback proxy in front of PostgreSQL that can be taken down (its connections cut, new ones refused) and
    brought back on the same port: a database outage for one server, without touching the shared database."""

    def __init__(self, database_url: str) -> None:
        address = make_url(database_url)
        self.target = (address.host or "127.0.0.1", address.port or 5432)
        self.port = 0
        self.url = ""
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._database_url = address

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = self._database_url.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _pipe(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self.target)
        self._writers |= {client_writer, server_writer}

        async def copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except ConnectionError:
                pass
            finally:
                writer.transport.abort()

        await asyncio.gather(copy(client_reader, server_writer), copy(server_reader, client_writer))


@on_postgresql
async def test_after_an_outage_the_service_answers_within_a_second_of_the_database(
    database_url: str, sessions: Sessions
) -> None:
    await make_user(sessions, "admin", "admin@example.org")
    outage = Outage(database_url)
    await outage.up()
    async with served(outage.url, account_cache_seconds=0) as url:
        readers = Readers(url, await _bearer(url, "admin@example.org"))
        async with readers.running():
            await asyncio.sleep(0.5)
            await outage.down()
            went_down = time.perf_counter()
            await asyncio.sleep(1.5)
            await outage.up()
            came_back = time.perf_counter()
            await asyncio.sleep(BACK_WITHIN + 0.5)
        await outage.down()

    during = [answer for answer in readers.after(went_down) if answer.answered < came_back]
    assert during, "the readers read during the outage"
    assert {answer.status for answer in during} <= {200, 503}, "an outage is a 503 (Retry-After), not a 500"
    assert max(answer.answered - answer.sent for answer in during) < 2.0, "refused at once, not after a timeout"
    first_success = min(answer.answered for answer in readers.after(came_back) if answer.status == 200)
    assert first_success - came_back < BACK_WITHIN
    assert {answer.status for answer in readers.answers if answer.sent > first_success} == {200}


async def test_a_failing_request_slows_the_others_by_milliseconds(
    database_url: str, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error with a traceback to log, over and over, while others read; compared in one run."""

    async def fails(session: AsyncSession, user_id: int) -> Any:
        return (await session.execute(text("SELECT missing_column FROM no_such_table"))).all()

    monkeypatch.setattr(calendar, "my_proposals", fails)
    await make_user(sessions, "admin", "admin@example.org")
    await make_user(sessions, "proposer", "pi@example.org")
    async with served(database_url) as url:
        admin, proposer = await _bearer(url, "admin@example.org"), await _bearer(url, "pi@example.org")
        quiet = Readers(url, admin)
        async with quiet.running(2):
            await asyncio.sleep(1.0)
        failures: list[tuple[int, float]] = []
        busy = Readers(url, admin)
        async with busy.running(2), httpx.AsyncClient(base_url=url, headers=proposer) as failing:
            until = time.perf_counter() + 1.0
            while time.perf_counter() < until:
                started = time.perf_counter()
                answer = await failing.get("/me/proposals")
                failures.append((answer.status_code, time.perf_counter() - started))

    assert {status for status, _ in failures} == {500}
    assert len(failures) > 10
    quiet_median = statistics.median(answer.answered - answer.sent for answer in quiet.answers)
    busy_median = statistics.median(answer.answered - answer.sent for answer in busy.answers)
    assert busy_median - quiet_median < ERROR_DELAYS_OTHERS_BY_AT_MOST + quiet_median / 2, (
        f"reads {quiet_median * 1000:.1f} ms alone, {busy_median * 1000:.1f} ms beside the failures"
    )
    assert statistics.median(seconds for _, seconds in failures) < 0.1, "the error path answers in milliseconds"


@on_postgresql
async def test_a_read_whose_commit_meets_a_lost_connection_is_asked_again_and_a_write_is_answered(
    database_url: str, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection of the request is ended after its handler ran, before the commit: a read is asked again
    (nothing was kept, nothing is lost by asking), a write is answered 503 and not repeated (its commit may have
    been kept)."""
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    calls: Counter[str] = Counter()

    async def end_own_connection(session: AsyncSession, name: str) -> None:
        calls[name] += 1
        if calls[name] == 1:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            async with admin.connect() as connection:
                await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await asyncio.sleep(0.2)  # the connection learns it was ended

    async def read(session: AsyncSession, user_id: int) -> list[Any]:
        await end_own_connection(session, "read")
        return []

    async def write(session: AsyncSession, identities: Any, user_id: int) -> None:
        await end_own_connection(session, "write")

    monkeypatch.setattr(calendar, "my_proposals", read)
    monkeypatch.setattr(credentials, "sign_out", write)
    await make_user(sessions, "proposer", "pi@example.org")
    try:
        async with served(database_url) as url, httpx.AsyncClient(base_url=url) as client:
            proposer = await _bearer(url, "pi@example.org")
            answered_read = await client.get("/me/proposals", headers=proposer)
            answered_write = await client.post("/auth/logout", headers=proposer)
    finally:
        await admin.dispose()

    assert (answered_read.status_code, answered_read.json(), calls["read"]) == (200, [], 2)
    assert (answered_write.status_code, calls["write"]) == (503, 1), answered_write.text
    assert answered_write.headers["retry-after"] == "1"
