"""Write latency under concurrent writers: submissions and rewrites of proposals through the real API.

Builds a fresh database (SQLite in a temporary folder by default, or an empty PostgreSQL database given by
`--database`), imports the example round, serves the API as a subprocess (`beamtime serve`, one uvicorn
worker) and runs `--clients` concurrent clients for `--seconds`: each submits a proposal and rewrites it,
over and over. Reports the answers by status and the latency of each kind (p50, p90, p99, max).

    python -m benchmarks.writes [--clients 64] [--seconds 30] [--database postgresql+asyncpg://…/empty]

The target (issue 17): no 5xx, p99 <= 1 s on SQLite and <= 500 ms on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from scheduler.accounts.service import create_user
from scheduler.db.engine import create_engine, session_maker

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "fixtures" / "example-round.json"
PASSWORD = "a benchmark password, long enough"
CONTENT: dict[str, Any] = {
    "title": "Concurrent writes",
    "type": "standard",
    "pi": {"name": "Ada Lovelace", "institution": "University of London", "country": "GB"},
    "team": [{"name": "C. Babbage", "country": "GB"}],
    "requests": [{"label": "a", "instruments": ["SKIF-1-4"], "shifts": 3}],
    "links": [],
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _users(database_url: str) -> None:
    engine = create_engine(database_url)
    async with session_maker(engine).begin() as session:
        await create_user(session, "admin@example.org", "Admin", "admin", PASSWORD, ())
        await create_user(session, "proposer@example.org", "Proposer", "proposer", PASSWORD, ())
    await engine.dispose()


async def _token(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _writer(
    client: httpx.AsyncClient, headers: dict[str, str], round_id: int, until: float, timings: dict[str, list[float]]
) -> Counter[str]:
    statuses: Counter[str] = Counter()
    while time.monotonic() < until:
        began = time.monotonic()
        created = await client.post(f"/rounds/{round_id}/proposals", json=CONTENT, headers=headers)
        timings["submit"].append(time.monotonic() - began)
        statuses[f"submit {created.status_code}"] += 1
        if created.status_code != 201:
            continue
        began = time.monotonic()
        rewritten = await client.put(
            f"/proposals/{created.json()['id']}", json=CONTENT | {"title": "Rewritten"}, headers=headers
        )
        timings["rewrite"].append(time.monotonic() - began)
        statuses[f"rewrite {rewritten.status_code}"] += 1
    return statuses


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(base_url: str, clients: int, seconds: float) -> None:
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        admin = await _token(client, "admin@example.org")
        imported = await client.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=admin)
        imported.raise_for_status()
        proposer = await _token(client, "proposer@example.org")
        timings: dict[str, list[float]] = {"submit": [], "rewrite": []}
        until = time.monotonic() + seconds
        counts = await asyncio.gather(
            *(_writer(client, proposer, imported.json()["id"], until, timings) for _ in range(clients))
        )
    statuses = sum(counts, Counter())
    print(f"{clients} writers for {seconds:.0f} s; answers: {dict(sorted(statuses.items()))}")
    print("| write | count | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for kind, values in timings.items():
        shown = [f"{_quantile(values, q) * 1000:,.0f}" for q in (0.5, 0.9, 0.99)] + [f"{max(values) * 1000:,.0f}"]
        print(f"| {kind} | {len(values):,} | {' | '.join(shown)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--database", help="an empty PostgreSQL database (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database_url = args.database or f"sqlite+aiosqlite:///{folder}/data/beamtime.db"
        port = _free_port()
        env = os.environ | {
            "DATABASE_URL": database_url,
            "BEAMTIME_JWT_SECRET": "a-benchmark-secret-that-is-long-enough",
            "BEAMTIME_RUN_WORKER_IN_API": "false",
            "BEAMTIME_RUN_NIGHTLY_IN_API": "false",
            "BEAMTIME_OPEN_PROPOSALS_PER_ACCOUNT": "1000000",
            "BEAMTIME_LOG_LEVEL": "WARNING",
        }
        beamtime = str(Path(sys.executable).with_name("beamtime"))
        subprocess.run([beamtime, "migrate"], env=env, check=True)
        asyncio.run(_users(database_url))
        server = subprocess.Popen([beamtime, "serve", "--port", str(port)], env=env)
        try:
            deadline = time.monotonic() + 30
            while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.1)
            asyncio.run(_measure(f"http://127.0.0.1:{port}", args.clients, args.seconds))
        finally:
            server.terminate()
            server.wait(20)


if __name__ == "__main__":
    main()
