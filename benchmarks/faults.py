"""What failure costs, on PostgreSQL, with a real server and its clients on this machine (loopback only).

- error path: the median and p99 of reads by 8 clients alone, then beside a client whose
  every request fails with a database error (logged with its traceback);
- terminated connections: `pg_terminate_backend` of every server connection, three times,
  under 8 readers: answers other than 200 and the longest time without an answer;
- outage: the database behind a loopback proxy taken down for `--outage` seconds:
  what the readers heard meanwhile and how long after it came back the first 200 came;
- `pool_pre_ping`: the slot-status read (`GET /proposals/{id}/slots`) by 16 clients for
  `--seconds`, with the shipped engine (closed connections found at checkout, no round
  trip) and with SQLAlchemy's ping before each checkout, alternated;
- oversized bodies: reads beside a client sending 10 MB bodies to sign-in, the dashboard's
  login form and a proposal.

    python -m benchmarks.faults --database postgresql+asyncpg://postgres@127.0.0.1:5432/beamtime_faults

The database is dropped and recreated. The server runs in a thread of this process, so
its clients share the interpreter with it: compare figures within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from unittest.mock import patch

import httpx
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel, col

from fixtures import EXAMPLE_ROUND
from scheduler.db import engine as engines
from scheduler.db import tables
from scheduler.roundfile.checks import load_round
from scheduler.rounds.importer import import_round
from tests.api.test_faults import TERMINATE, Outage
from tests.api_helpers import PASSWORD, make_user, served

EXAMPLE = EXAMPLE_ROUND
TEN_MB = 10 * 1024 * 1024
READERS = 8


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


async def _recreate(url: str) -> None:
    address = make_url(url)
    admin = create_async_engine(address.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{address.database}" WITH (FORCE)'))
        await connection.execute(text(f'CREATE DATABASE "{address.database}"'))
    await admin.dispose()
    engine = engines.create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    await engine.dispose()


async def _prepare(url: str) -> list[int]:
    """An admin, and a proposer owning the example round's proposals with a published schedule; their ids."""
    engine = engines.create_engine(url)
    sessions = engines.session_maker(engine)
    await make_user(sessions, "admin", "admin@example.org")
    proposer = await make_user(sessions, "proposer", "pi@example.org")
    async with sessions.begin() as session:
        round_id = await import_round(session, load_round(EXAMPLE), owner_id=proposer)
        found = await session.scalars(select(col(tables.Proposal.id)).where(col(tables.Proposal.round_id) == round_id))
        proposal_ids = [proposal_id for proposal_id in found if proposal_id is not None]
    await engine.dispose()
    return proposal_ids


async def _bearer(url: str, email: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


class Load:
    """Clients asking for paths in turn, each on its own connection, until stopped; (status, sent, answered)."""

    def __init__(self, url: str, headers: dict[str, str], paths: list[str]) -> None:
        self.url, self.headers, self.paths = url, headers, paths
        self.answers: list[tuple[int, float, float]] = []
        self._stop = asyncio.Event()

    async def _client(self, offset: int) -> None:
        async with httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=30) as client:
            for path in itertools.islice(itertools.cycle(self.paths), offset, None):
                if self._stop.is_set():
                    return
                sent = time.perf_counter()
                status = (await client.get(path)).status_code
                self.answers.append((status, sent, time.perf_counter()))

    @asynccontextmanager
    async def running(self, clients: int = READERS) -> AsyncIterator[Load]:
        tasks = [asyncio.create_task(self._client(offset)) for offset in range(clients)]
        try:
            yield self
        finally:
            self._stop.set()
            await asyncio.gather(*tasks)

    def latencies(self, since: float = 0.0) -> list[float]:
        return [answered - sent for status, sent, answered in self.answers if sent >= since]


async def error_path(url: str, seconds: float) -> str:
    from scheduler.schedules import calendar

    async def fails(session: Any, user_id: int) -> Any:
        return (await session.execute(text("SELECT missing_column FROM no_such_table"))).all()

    with patch.object(calendar, "my_proposals", fails):
        async with served(url) as base:
            admin, proposer = await _bearer(base, "admin@example.org"), await _bearer(base, "pi@example.org")
            quiet = Load(base, admin, ["/facilities"])
            async with quiet.running():
                await asyncio.sleep(seconds)
            busy = Load(base, admin, ["/facilities"])
            failures: list[float] = []
            async with busy.running(), httpx.AsyncClient(base_url=base, headers=proposer) as failing:
                until = time.perf_counter() + seconds
                while time.perf_counter() < until:
                    started = time.perf_counter()
                    assert (await failing.get("/me/proposals")).status_code == 500
                    failures.append(time.perf_counter() - started)
    alone, beside = quiet.latencies(), busy.latencies()
    return (
        f"error path: reads alone p50 {_ms(statistics.median(alone))} p99 {_ms(_p99(alone))}; beside "
        f"{len(failures)} failing requests p50 {_ms(statistics.median(beside))} p99 {_ms(_p99(beside))} "
        f"(delay p50 {_ms(statistics.median(beside) - statistics.median(alone))}); a failing request p50 "
        f"{_ms(statistics.median(failures))} p99 {_ms(_p99(failures))}"
    )


async def terminations(url: str) -> str:
    admin_engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with served(url, account_cache_seconds=0) as base:
        load = Load(base, await _bearer(base, "admin@example.org"), ["/facilities"])
        async with load.running():
            await asyncio.sleep(1.0)
            first = time.perf_counter()
            for _ in range(3):
                async with admin_engine.connect() as connection:
                    await connection.execute(text(TERMINATE))
                await asyncio.sleep(1.0)
    await admin_engine.dispose()
    after = sorted(answered for status, sent, answered in load.answers if sent >= first)
    silence = max(later - earlier for earlier, later in itertools.pairwise(after))
    others = Counter(status for status, _, _ in load.answers if status != 200)
    return (
        f"terminated connections (3 times, {READERS} readers): {len(load.answers)} answers, other than 200: "
        f"{dict(others) or 'none'}; longest time without an answer after the first: {_ms(silence)}"
    )


async def outage(url: str, seconds: float) -> str:
    proxy = Outage(url)
    await proxy.up()
    async with served(proxy.url, account_cache_seconds=0) as base:
        load = Load(base, await _bearer(base, "admin@example.org"), ["/facilities"])
        async with load.running():
            await asyncio.sleep(1.0)
            await proxy.down()
            down = time.perf_counter()
            await asyncio.sleep(seconds)
            await proxy.up()
            back = time.perf_counter()
            await asyncio.sleep(2.0)
        await proxy.down()
    during = [(status, answered - sent) for status, sent, answered in load.answers if down <= sent < back]
    first_ok = min(answered for status, sent, answered in load.answers if sent >= back and status == 200)
    return (
        f"outage of {seconds:.1f} s: {len(during)} answers meanwhile {dict(Counter(s for s, _ in during))}, "
        f"p99 {_ms(_p99([t for _, t in during]))}; first 200 {_ms(first_ok - back)} after the database was back"
    )


def _pinging_engine(url: str) -> AsyncEngine:
    engine = engines.create_engine(url)
    engine.pool._pre_ping = True
    return engine


async def checkout_cost(url: str, checkouts: int, rounds: int) -> str:
    """What a checkout costs in wall and CPU time, one at a time, with and without the ping: the ping's own price."""
    results: dict[str, list[tuple[float, float]]] = {"shipped": [], "pool_pre_ping": []}
    for _ in range(rounds):
        for name in results:
            engine = _pinging_engine(url) if name == "pool_pre_ping" else engines.create_engine(url)
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(checkouts):
                async with engine.connect():
                    pass
            results[name].append(((time.perf_counter() - wall) / checkouts, (time.process_time() - cpu) / checkouts))
            await engine.dispose()
    parts = [
        f"{name} {statistics.median(w for w, _ in runs) * 1e6:.0f} µs wall, "
        f"{statistics.median(c for _, c in runs) * 1e6:.0f} µs CPU"
        for name, runs in results.items()
    ]
    return f"one checkout and return ({checkouts} in a row, median of {rounds}): " + "; ".join(parts)


async def pre_ping(url: str, proposal_ids: list[int], seconds: float, rounds: int) -> str:
    paths = [f"/proposals/{proposal_id}/slots" for proposal_id in proposal_ids]
    results: dict[str, list[tuple[float, float]]] = {"shipped": [], "pool_pre_ping": []}
    for _ in range(rounds):
        for name in results:
            with patch("api.app.create_engine", _pinging_engine if name == "pool_pre_ping" else engines.create_engine):
                async with served(url) as base:
                    load = Load(base, await _bearer(base, "pi@example.org"), paths)
                    async with load.running(16):
                        await asyncio.sleep(1.0)
                        started = time.perf_counter()
                        await asyncio.sleep(seconds)
                    latencies = load.latencies(since=started)
                    assert {status for status, _, _ in load.answers} == {200}
                    results[name].append((len(latencies) / seconds, statistics.median(latencies)))
    lines = []
    for name, runs in results.items():
        rates = [rate for rate, _ in runs]
        lines.append(
            f"{name}: {statistics.median(rates):.0f} requests/s (runs {', '.join(f'{r:.0f}' for r in rates)}), "
            f"p50 {_ms(statistics.median(median for _, median in runs))}"
        )
    return "slot-status read, 16 clients: " + "; ".join(lines)


async def oversized(url: str) -> str:
    body = b'{"email": "a@example.org", "password": "' + b"x" * TEN_MB + b'"}'
    form = b"a=&" * (TEN_MB // 3)
    async with served(url) as base:
        admin, proposer = await _bearer(base, "admin@example.org"), await _bearer(base, "pi@example.org")
        quiet = Load(base, admin, ["/facilities"])
        async with quiet.running(2):
            await asyncio.sleep(2.0)
        busy = Load(base, admin, ["/facilities"])
        refusals: list[float] = []
        async with busy.running(2), httpx.AsyncClient(base_url=base, timeout=30) as sender:
            await sender.get("/ui/login")
            csrf = {"X-CSRF-Token": next(v for k, v in sender.cookies.items() if k.endswith("beamtime_csrf"))}
            calls: list[Callable[[], Awaitable[httpx.Response]]] = [
                lambda: sender.post("/auth/login", content=body, headers={"Content-Type": "application/json"}),
                lambda: sender.post(
                    "/ui/login", content=form, headers=csrf | {"Content-Type": "application/x-www-form-urlencoded"}
                ),
                lambda: sender.post("/rounds/1/proposals", content=body, headers=proposer),
            ]
            for call in calls * 5:
                started = time.perf_counter()
                assert (await call()).status_code == 413
                refusals.append(time.perf_counter() - started)
    alone, beside = quiet.latencies(), busy.latencies()
    return (
        f"10 MB bodies: {len(refusals)} refused (413) p50 {_ms(statistics.median(refusals))} max "
        f"{_ms(max(refusals))}; other reads alone p50 {_ms(statistics.median(alone))} max {_ms(max(alone))}, "
        f"meanwhile p50 {_ms(statistics.median(beside))} max {_ms(max(beside))}"
    )


async def run(args: argparse.Namespace) -> None:
    await _recreate(args.database)
    proposal_ids = await _prepare(args.database)
    print(await error_path(args.database, args.seconds), flush=True)
    print(await terminations(args.database), flush=True)
    print(await outage(args.database, args.outage), flush=True)
    print(await oversized(args.database), flush=True)
    print(await checkout_cost(args.database, 2000, args.rounds), flush=True)
    print(await pre_ping(args.database, proposal_ids, args.seconds, args.rounds), flush=True)


def main(argv: list[str] | None = None) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request, written by the clients
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="a postgresql+asyncpg URL; the database is recreated")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measured load")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds the database is unreachable")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the pool_pre_ping comparison")
    asyncio.run(run(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
