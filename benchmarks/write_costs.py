"""The server's CPU time per write, by kind, one request at a time through the real app (issue 17).

`benchmarks.writes` measures 64 concurrent writers; on a shared machine their latency says more about the
neighbours than about the code. This measures what a write costs the process: the app (`api.app:create_app`)
runs in this process, on a fresh SQLite file or a recreated PostgreSQL database, with the example round
imported, and each kind of write of the concurrent mix is sent `--count` times in a row through an in-process
HTTP client (after three to warm up). It reports, per kind, the process CPU time and wall time per request
(the client's share included, which is small).

    python -m benchmarks.write_costs [--count 50] [--postgresql postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import httpx
from litestar import Litestar

from api.app import create_app
from benchmarks.api import async_url, recreate_database
from benchmarks.writes import PASSWORD, _add_hours, proposal
from fixtures import EXAMPLE_ROUND
from scheduler.accounts.service import create_user
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.settings import Settings

KINDS = ("submit", "rewrite", "window", "quota", "feasibility")
WARM_UP = 3


async def _accounts(url: str) -> None:
    engine = create_engine(url)
    async with session_maker(engine).begin() as session:
        await create_user(session, "admin@example.org", "Admin", "admin", PASSWORD, ())
        await create_user(session, "proposer@example.org", "Proposer", "proposer", PASSWORD, ())
    await engine.dispose()


async def _bearer(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    signed_in = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    signed_in.raise_for_status()
    return {"Authorization": f"Bearer {signed_in.json()['access_token']}"}


async def _writes(client: httpx.AsyncClient) -> dict[str, Callable[[int], Awaitable[None]]]:
    """Each kind of write of `benchmarks.writes`' mix, as a call taking a turn number."""
    admin, proposer = await _bearer(client, "admin@example.org"), await _bearer(client, "proposer@example.org")
    imported = await client.post("/rounds/import", json=json.loads(EXAMPLE_ROUND.read_text()), headers=admin)
    imported.raise_for_status()
    round_id = imported.json()["id"]
    windows: list[dict[str, Any]] = []
    for facility in (await client.get("/facilities", headers=admin)).json()["items"]:
        instruments = (await client.get(f"/facilities/{facility['id']}/instruments", headers=admin)).json()["items"]
        for owner in [f"/facilities/{facility['id']}"] + [f"/instruments/{item['id']}" for item in instruments]:
            windows += (await client.get(f"{owner}/windows", headers=admin)).json()["items"]
    quotas = [
        q for q in (await client.get(f"/rounds/{round_id}/quotas", headers=admin)).json()["items"] if q["max_share"]
    ]
    listed = (await client.get("/proposals", params={"round_id": round_id}, headers=admin)).json()["items"]
    submitted: list[int] = []

    async def sent(answer: Awaitable[httpx.Response], expected: int = 200) -> httpx.Response:
        response = await answer
        assert response.status_code == expected, response.text
        return response

    async def submit(turn: int) -> None:
        created = await sent(
            client.post(f"/rounds/{round_id}/proposals", json=proposal(f"P {turn}", ("a",)), headers=proposer), 201
        )
        submitted.append(created.json()["id"])

    async def rewrite(turn: int) -> None:
        content = proposal(f"R {turn}", ("x", "y")[: turn % 2 + 1])
        await sent(client.put(f"/proposals/{submitted[turn % len(submitted)]}", json=content, headers=proposer))

    async def window(turn: int) -> None:
        chosen = windows[turn % len(windows)]
        end = _add_hours(chosen["start"], (8, 16, 24)[turn % 3])
        await sent(client.patch(f"/windows/{chosen['id']}", json={"end": end}, headers=admin))

    async def quota(turn: int) -> None:
        chosen = quotas[turn % len(quotas)]
        body = {key: chosen[key] for key in ("code", "scope", "category", "attribution", "soft", "penalty")}
        body |= {"min_share": chosen["min_share"], "max_share": round(0.3 + (turn % 5) / 10, 2)}
        await sent(client.put(f"/quotas/{chosen['id']}", json=body, headers=admin))

    async def feasibility(turn: int) -> None:
        path = f"/proposals/{listed[turn % len(listed)]['id']}/feasibility"
        await sent(client.put(path, json={"technically_feasible": turn % 2 == 0}, headers=admin))

    return {"submit": submit, "rewrite": rewrite, "window": window, "quota": quota, "feasibility": feasibility}


def in_process_client(url: str) -> tuple[Litestar, httpx.AsyncClient]:
    """The app on `url`, with no background work, and a client that calls it in this process."""
    settings = Settings(
        database_url=url,
        jwt_secret="a-benchmark-secret-that-is-long-enough-for-hs256",
        run_worker_in_api=False,
        run_nightly_in_api=False,
    )
    app = create_app(settings, start_worker=False, migrate=False)
    transport = httpx.ASGITransport(app=cast(Any, app))
    return app, httpx.AsyncClient(transport=transport, base_url="http://benchmark")


async def measure(url: str, count: int) -> str:
    await _accounts(url)
    app, client = in_process_client(url)
    lines = ["| write | requests | CPU ms per request | wall ms per request |", "| --- | --- | --- | --- |"]
    async with app.lifespan(), client:
        writes = await _writes(client)
        for kind in KINDS:
            for turn in range(WARM_UP):
                await writes[kind](turn)
            began, cpu = time.perf_counter(), time.process_time()
            for turn in range(WARM_UP, WARM_UP + count):
                await writes[kind](turn)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - began
            lines.append(f"| {kind} | {count} | {cpu / count * 1000:.1f} | {wall / count * 1000:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=50, help="requests of each kind measured")
    parser.add_argument("--postgresql", help="a PostgreSQL URL; its database is dropped and recreated")
    args = parser.parse_args(argv)
    os.environ |= {"BEAMTIME_OPEN_PROPOSALS_PER_ACCOUNT": "100000", "BEAMTIME_LOG_LEVEL": "WARNING"}
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/beamtime.db"
        upgrade_database(url)
        print("### SQLite\n\n" + asyncio.run(measure(url, args.count)), flush=True)
    if args.postgresql:
        address = async_url(args.postgresql)
        asyncio.run(recreate_database(address))
        url = address.render_as_string(hide_password=False)
        upgrade_database(url)
        print("\n### PostgreSQL\n\n" + asyncio.run(measure(url, args.count)), flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
