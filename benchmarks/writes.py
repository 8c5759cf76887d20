"""Write latency with 64 concurrent writers, on SQLite and on PostgreSQL, through the real API (issue 17).

For each database it builds a fresh one (SQLite: a file in a temporary folder; PostgreSQL: the
database of `--postgresql`, dropped and recreated), brings it to the newest schema, adds an admin,
a coordinator of SKIF and PIK and 16 proposers, serves the app (`api.app:create_app` under
uvicorn, as `benchmarks.api` serves it: one process for SQLite, `--postgresql-workers` for
PostgreSQL) on 127.0.0.1, imports the example round and then runs `--clients` writer clients for `--warm-up`
seconds and then `--seconds` more (loopback only, each client stopping by itself):

- three in four are proposers: submit a proposal, rewrite it twice (team and requests);
- one in eight is a coordinator editing windows (PATCH end) and quotas (PUT max_share);
- one in eight is a coordinator marking proposals' technical feasibility.

It reports, per database, the answers by write and status, the p50/p90/p99/max latency of each
write and of all of them, the load average before and after, the CPU time per write of the server
(and of PostgreSQL's backends), all of the writes sent after the warm-up; the warm-up's writes apart, in one line
(when all clients start at once, the server's first second runs on cold caches and connections: a start, not
the steady state the targets are about); and checks the end state, of every write: as many
proposals stored as submissions answered 201, every rewrite answered 200 kept whole, every window
ending after it starts and the round's export passing the round file's checks.

    python -m benchmarks.writes [--seconds 30] [--warm-up 5] [--clients 64] [--postgresql-workers 1 2] \
        [--postgresql postgresql+asyncpg://postgres@127.0.0.1:5432/beamtime_writes]

On PostgreSQL it also reports how long writes held the round's row locked (`benchmarks.round_lock`): one round's writes
take turns there, so one over the mean hold is the ceiling on their throughput.

Targets (issue 17): 0 x 5xx; p99 <= 1 s on SQLite, <= 500 ms on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from benchmarks import round_lock
from benchmarks.api import (
    _backend_pids,
    _cpu_seconds,
    _process_tree,
    async_url,
    free_port,
    recreate_database,
    serving,
    wait_until_up,
)
from fixtures import EXAMPLE_ROUND
from scheduler.accounts.service import create_user
from scheduler.accounts.tokens import issue_token
from scheduler.cli import settle_collector
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.roundfile.checks import check_round
from scheduler.roundfile.contract import RoundFile
from scheduler.settings import Settings

EXAMPLE = EXAMPLE_ROUND
PASSWORD = "a benchmark password, long enough"
PROPOSERS = 16
MOST_LOOPS = 10_000
"""A client's loop ends at the deadline, and at the latest after this many turns."""
TARGET_P99 = {"sqlite": 1.0, "postgresql": 0.5}
"""Seconds."""


def proposal(person: str, labels: tuple[str, ...]) -> dict[str, Any]:
    return {
        "title": f"Thin films by {person}",
        "type": "standard",
        "pi": {"name": "Ada Lovelace", "institution": "University of London", "country": "GB"},
        "team": [{"name": person, "country": "AM"}],
        "requests": [{"label": label, "instruments": ["SKIF-1-4", "PIK-SANS"], "shifts": 3} for label in labels],
        "links": [],
    }


@dataclass
class Tally:
    """What the clients sent and heard: latencies per write of the writes sent from `measured_from` on, and of the
    warm-up's apart; answers of every write, per write and status."""

    measured_from: float
    """`time.perf_counter()` at the warm-up's end."""
    latencies: dict[str, list[float]] = field(default_factory=dict)
    finished: list[float] = field(default_factory=list)
    """When each measured write was answered, on the same clock."""
    warm_up: list[float] = field(default_factory=list)
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    rewritten: dict[int, dict[str, Any]] = field(default_factory=dict)
    """The last rewrite answered 200 of each proposal."""

    async def send(
        self, kind: str, call: Callable[..., Awaitable[httpx.Response]], path: str, **options: Any
    ) -> httpx.Response:
        began = time.perf_counter()
        response = await call(path, **options)
        answered = time.perf_counter()
        latency = answered - began
        if began >= self.measured_from:
            self.latencies.setdefault(kind, []).append(latency)
            self.finished.append(answered)
        else:
            self.warm_up.append(latency)
        self.answers[kind, response.status_code] += 1
        return response


@dataclass(frozen=True)
class Round:
    round_id: int
    windows: list[dict[str, Any]]
    quotas: list[dict[str, Any]]
    proposal_ids: list[int]


async def proposer(
    client: httpx.AsyncClient, headers: dict[str, str], number: int, seeded: Round, tally: Tally, until: float
) -> None:
    for turn in range(MOST_LOOPS):
        if time.monotonic() >= until:
            return
        submission = proposal(f"Person {number}-{turn}", ("a",))
        path = f"/rounds/{seeded.round_id}/proposals"
        created = await tally.send("submit", client.post, path, json=submission, headers=headers)
        if created.status_code != 201:
            continue
        for version in range(2):
            content = proposal(f"Rewriter {number}-{turn}-{version}", ("x", "y")[: version + 1])
            rewritten = await tally.send(
                "rewrite", client.put, f"/proposals/{created.json()['id']}", json=content, headers=headers
            )
            if rewritten.status_code == 200:
                tally.rewritten[created.json()["id"]] = content


async def editor(
    client: httpx.AsyncClient, headers: dict[str, str], chance: random.Random, seeded: Round, tally: Tally, until: float
) -> None:
    """Window ends moved within a day of their start, quota shares moved between 0.3 and 0.7."""
    for _ in range(MOST_LOOPS):
        if time.monotonic() >= until:
            return
        if chance.random() < 0.5:
            window = chance.choice(seeded.windows)
            end = _add_hours(window["start"], chance.choice([8, 16, 24]))
            await tally.send("window", client.patch, f"/windows/{window['id']}", json={"end": end}, headers=headers)
        else:
            quota = chance.choice(seeded.quotas)
            body = {key: quota[key] for key in ("code", "scope", "category", "attribution", "soft", "penalty")}
            share = {"max_share": round(chance.uniform(0.3, 0.7), 2)} if quota["max_share"] is not None else {}
            body |= {"min_share": quota["min_share"], "max_share": quota["max_share"]} | share
            await tally.send("quota", client.put, f"/quotas/{quota['id']}", json=body, headers=headers)


async def judge(
    client: httpx.AsyncClient, headers: dict[str, str], chance: random.Random, seeded: Round, tally: Tally, until: float
) -> None:
    for _ in range(MOST_LOOPS):
        if time.monotonic() >= until:
            return
        path = f"/proposals/{chance.choice(seeded.proposal_ids)}/feasibility"
        mark = {"technically_feasible": chance.random() < 0.9}
        await tally.send("feasibility", client.put, path, json=mark, headers=headers)


def _add_hours(moment: str, hours: int) -> str:
    return (datetime.fromisoformat(moment) + timedelta(hours=hours)).isoformat()


async def _users(url: str) -> int:
    """The accounts; returns the admin's id."""
    engine = create_engine(url)
    async with session_maker(engine).begin() as session:
        admin = await create_user(session, "admin@example.org", "Admin", "admin", PASSWORD, ())
        for number in range(PROPOSERS):
            await create_user(session, f"proposer{number}@example.org", f"Proposer {number}", "proposer", PASSWORD, ())
    await engine.dispose()
    return admin.id


async def _coordinator(url: str) -> None:
    """Of the facilities the round file brings, so after the import."""
    engine = create_engine(url)
    async with session_maker(engine).begin() as session:
        await create_user(session, "coordinator@example.org", "Coordinator", "coordinator", PASSWORD, ("SKIF", "PIK"))
    await engine.dispose()


async def _sign_in(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _seed(client: httpx.AsyncClient, admin: dict[str, str]) -> Round:
    imported = await client.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=admin)
    imported.raise_for_status()
    round_id = imported.json()["id"]
    windows = []
    for facility in (await client.get("/facilities", headers=admin)).json()["items"]:
        instruments = (await client.get(f"/facilities/{facility['id']}/instruments", headers=admin)).json()["items"]
        for owner in [f"/facilities/{facility['id']}"] + [f"/instruments/{item['id']}" for item in instruments]:
            windows += (await client.get(f"{owner}/windows", headers=admin)).json()["items"]
    quotas = (await client.get(f"/rounds/{round_id}/quotas", headers=admin)).json()["items"]
    listed = (await client.get("/proposals", params={"round_id": round_id}, headers=admin)).json()["items"]
    capped = [quota for quota in quotas if quota["max_share"] is not None]
    return Round(round_id, windows, capped, [item["id"] for item in listed])


async def _end_state(client: httpx.AsyncClient, admin: dict[str, str], seeded: Round, tally: Tally) -> list[str]:
    """What is wrong with the stored state, in words; empty when it is what the answers said."""
    wrong = []
    listed = await client.get("/proposals", params={"round_id": seeded.round_id, "limit": 1}, headers=admin)
    stored = listed.json()["total"]
    expected = len(seeded.proposal_ids) + tally.answers["submit", 201]
    if stored != expected:
        wrong.append(f"{stored} proposals stored, {expected} expected")
    for proposal_id, content in tally.rewritten.items():
        kept = (await client.get(f"/proposals/{proposal_id}", headers=admin)).json()
        if [p["name"] for p in kept["team"]] != [p["name"] for p in content["team"]] or [
            r["label"] for r in kept["requests"]
        ] != [r["label"] for r in content["requests"]]:
            wrong.append(f"proposal {proposal_id} is not its last rewrite")
    for window in seeded.windows:
        now = (await client.get(f"/windows/{window['id']}", headers=admin)).json()
        if now["end"] <= now["start"]:
            wrong.append(f"window {window['id']} ends before it starts")
    exported = await client.get(f"/rounds/{seeded.round_id}/export", headers=admin)
    problems = check_round(RoundFile.model_validate_json(exported.text))
    wrong += [f"export: {problem.path}: {problem.message}" for problem in problems]
    return wrong


def _ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:,.0f}"


PACE_SECONDS = 0.5


def _pace(finished: list[float]) -> str:
    """Writes answered per second in each `PACE_SECONDS` of the run: with the clients waiting their turn in arrival
    order, a write's latency is about the clients ahead of it over this pace, so the p99 follows the slowest
    stretches, and their pace tells a slower machine from a slower write."""
    if not finished:
        return ""
    start = min(finished)
    stretches = Counter(int((moment - start) / PACE_SECONDS) for moment in finished)
    whole = sorted(stretches[index] / PACE_SECONDS for index in range(max(stretches)))  # the last one is cut short
    if not whole:
        return ""
    return (
        f"Writes answered per second, by {PACE_SECONDS:g} s stretch: slowest {whole[0]:,.0f}, "
        f"median {whole[len(whole) // 2]:,.0f}, fastest {whole[-1]:,.0f}."
    )


def report(
    database: str,
    served_by: str,
    clients: int,
    seconds: float,
    warm_up: float,
    tally: Tally,
    costs: Costs,
    wrong: list[str],
) -> str:
    every = [latency for values in tally.latencies.values() for latency in values]
    server_errors = sum(count for (_, status), count in tally.answers.items() if status >= 500)
    p99 = sorted(every)[min(len(every) - 1, int(0.99 * len(every)))]
    lines = [
        f"### {database} ({served_by}): {clients} writers for {seconds:g} s after {warm_up:g} s of warm-up, "
        f"load average {costs.load_before:.2f} before, {costs.load_after:.2f} after",
        "",
        "| write | requests | answers, warm-up included | p50 ms | p90 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, values in [*sorted(tally.latencies.items()), ("all", every)]:
        answers = ", ".join(
            f"{count} x {status}"
            for (named, status), count in sorted(tally.answers.items())
            if named == kind or kind == "all"
        )
        answers = answers if kind != "all" else f"{server_errors} x 5xx"
        quantiles = " | ".join(_ms(values, q) for q in (0.5, 0.9, 0.99))
        lines.append(f"| {kind} | {len(values):,} | {answers} | {quantiles} | {max(values) * 1000:,.0f} |")
    warmed = tally.warm_up
    lines += [
        "",
        (
            f"Warm-up: {len(warmed):,} writes, p50 {_ms(warmed, 0.5)} ms, p99 {_ms(warmed, 0.99)} ms, "
            f"max {max(warmed) * 1000:,.0f} ms. "
            if warmed
            else ""
        )
        + f"Throughput {len(every) / seconds:,.0f} writes/s; CPU per write: server "
        f"{costs.server_cpu_seconds / len(every) * 1000:.1f} ms"
        + (
            f", PostgreSQL {costs.database_cpu_seconds / len(every) * 1000:.1f} ms"
            if costs.database_cpu_seconds is not None
            else ""
        )
        + f". {_pace(tally.finished)} End state: {'; '.join(wrong) or 'as answered'}. "
        f"Target 0 x 5xx and p99 <= {TARGET_P99[database] * 1000:.0f} ms: "
        f"{'met' if server_errors == 0 and p99 <= TARGET_P99[database] and not wrong else 'NOT met'} "
        f"({server_errors} x 5xx, p99 {p99 * 1000:,.0f} ms).",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Costs:
    """The machine while the writers ran after the warm-up: it is shared, so latency alone says little."""

    load_before: float
    load_after: float
    server_cpu_seconds: float
    database_cpu_seconds: float | None
    """PostgreSQL's backends serving the benchmark database; None on SQLite (it runs in the server)."""


async def measure(
    url: str, port: int, server_pid: int, clients: int, seconds: float, warm_up: float
) -> tuple[Tally, Costs, list[str]]:
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout would close them under a request.
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits) as client:
        admin = await _sign_in(client, "admin@example.org")
        seeded = await _seed(client, admin)
        await _coordinator(url)
        coordinator = await _sign_in(client, "coordinator@example.org")
        proposers = [await _sign_in(client, f"proposer{n}@example.org") for n in range(PROPOSERS)]
        tally = Tally(measured_from=time.perf_counter() + warm_up)
        until = time.monotonic() + warm_up + seconds
        writers: list[Awaitable[None]] = []
        for number in range(clients):
            if number % 8 == 0:
                writers.append(editor(client, coordinator, random.Random(number), seeded, tally, until))
            elif number % 8 == 4:
                writers.append(judge(client, coordinator, random.Random(number), seeded, tally, until))
            else:
                writers.append(proposer(client, proposers[number % PROPOSERS], number, seeded, tally, until))
        postgresql = make_url(url).get_backend_name() == "postgresql"
        # This process's collector is off while the writers run. With Python's defaults, one full collection of its
        # requests and answers stopped its loop for 160-170 ms once a run, and the writes sent just after it took
        # 0.8-2.5 s (SQLite's p99 ~0.5 -> ~1.0-1.1 s); with `settle_collector`'s threshold, httpx's answers (about 50
        # objects in cycles each) still made it stop for 60-100 ms every ten seconds, which every write in flight was
        # measured slower by. Those are the load generator's pauses, not the server's; it frees them afterwards.
        settle_collector()

        async def warmed_up() -> tuple[float, float, list[int], float]:
            """The load, and the CPU the server and its database backends used so far. The backends are those
            serving the database now: the server's pool opens its connections during the warm-up."""
            await asyncio.sleep(warm_up)
            server = _cpu_seconds(_process_tree(server_pid))
            backends = await asyncio.to_thread(_backend_pids, make_url(url)) if postgresql else []
            return os.getloadavg()[0], server, backends, _cpu_seconds(backends)

        gc.disable()
        try:
            after_warm_up = asyncio.create_task(warmed_up())
            await asyncio.gather(*writers)
            load, server, backends, database = await after_warm_up
        finally:
            gc.enable()
        costs = Costs(
            load_before=load,
            load_after=os.getloadavg()[0],
            server_cpu_seconds=_cpu_seconds(_process_tree(server_pid)) - server,
            database_cpu_seconds=_cpu_seconds(backends) - database if postgresql else None,
        )
        return tally, costs, await _end_state(client, admin, seeded, tally)


def run(database: str, url: str, clients: int, seconds: float, warm_up: float, workers: int = 1) -> str:
    """On PostgreSQL the app is served noting how long writes hold the round's row locked (`round_lock`)."""
    upgrade_database(url)
    admin_id = asyncio.run(_users(url))
    settings = Settings(database_url=url, jwt_secret="a-benchmark-secret-that-is-long-enough-for-hs256")
    port = free_port()
    app = "benchmarks.round_lock:create_app" if database == "postgresql" else "api.app:create_app"
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as holds:
        os.environ[round_lock.HOLDS_FILE] = holds.name
        with serving(app, settings, workers, port) as server:
            asyncio.run(wait_until_up(port, "/facilities", issue_token(admin_id, 0, settings=settings)))
            tally, costs, wrong = asyncio.run(measure(url, port, server.pid, clients, seconds, warm_up))
        locks = round_lock.summary(holds.name, warm_up + seconds) if database == "postgresql" else ""
    processes = f"{workers} server process{'es' if workers > 1 else ''}"
    described = report(database, processes, clients, seconds, warm_up, tally, costs, wrong)
    return described + (f" {locks}" if locks else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured, after the warm-up")
    parser.add_argument(
        "--warm-up", type=float, default=5.0, help="seconds the clients write before the measured ones (reported apart)"
    )
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--postgresql", help="a PostgreSQL URL; its database is dropped and recreated")
    parser.add_argument(
        "--postgresql-workers",
        type=int,
        nargs="+",
        default=[1],
        help="uvicorn processes serving PostgreSQL, a run for each count (SQLite: always one, as its writes take "
        "turns within the process)",
    )
    args = parser.parse_args(argv)
    os.environ |= {"BEAMTIME_OPEN_PROPOSALS_PER_ACCOUNT": str(MOST_LOOPS), "BEAMTIME_LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryDirectory() as folder:
        sqlite = f"sqlite+aiosqlite:///{folder}/beamtime.db"
        print(run("sqlite", sqlite, args.clients, args.seconds, args.warm_up), flush=True)
    if args.postgresql:
        url = async_url(args.postgresql)
        for workers in args.postgresql_workers:
            asyncio.run(recreate_database(url))
            address = url.render_as_string(hide_password=False)
            print(run("postgresql", address, args.clients, args.seconds, args.warm_up, workers), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
