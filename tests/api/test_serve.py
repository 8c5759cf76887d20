"""`beamtime serve --demo`: the demo's set-up on a fresh SQLite database, then the real server on it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.db.tables import Proposal, Round, ScheduleVersion, SolveRun, User
from scheduler.demo import ACCOUNTS, PROPOSER, Demo, set_up_demo
from scheduler.schedules.calendar import my_proposals
from scheduler.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TIME_LIMIT = 2.0
START_SECONDS = 30.0


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Demo]]:
    """A database the demo set up once: migrated, imported, solved and published."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('demo') / 'beamtime.db'}"
    upgrade_database(url)
    yield url, asyncio.run(set_up_demo(Settings(database_url=url), time_limit=TIME_LIMIT))


async def test_the_demo_has_a_published_round_an_account_per_role_and_a_proposer_with_slots(
    demo_database: tuple[str, Demo],
) -> None:
    url, demo = demo_database
    engine = create_engine(url)
    try:
        async with session_maker(engine)() as session:
            round_ = (await session.execute(select(Round).where(col(Round.id) == demo.round_id))).scalar_one()
            proposals = await session.scalar(select(func.count()).where(col(Proposal.round_id) == demo.round_id))
            roles = dict((await session.execute(select(col(User.email), col(User.role)))).all())
            published = (
                await session.execute(select(ScheduleVersion).where(col(ScheduleVersion.status) == "published"))
            ).scalar_one()
            proposer_id = await session.scalar(select(col(User.id)).where(col(User.email) == PROPOSER.email))
            assert proposer_id is not None
            statuses = await my_proposals(session, proposer_id)

        assert (round_.code, round_.phase, proposals) == ("2027-I", "published", 218)
        assert roles == {account.email: account.role for account in ACCOUNTS}
        assert (published.id, published.source) == (demo.schedule_version_id, "solve")
        assert [status.proposal for status in statuses] == sorted(demo.proposer_proposals)
        assert len(statuses) == 4
        scheduled = [status for status in statuses if status.status == "scheduled"]
        assert scheduled and all(status.slots for status in scheduled)
        assert "not_scheduled" in {status.status for status in statuses}

        again = await set_up_demo(Settings(database_url=url), time_limit=TIME_LIMIT)
        async with session_maker(engine)() as session:
            runs = await session.scalar(select(func.count()).select_from(SolveRun))
        assert again == demo and runs == 2  # the round's solve, and its next round's under fair return
    finally:
        await engine.dispose()


def test_beamtime_serve_serves_the_schema_and_the_proposers_slots(demo_database: tuple[str, Demo]) -> None:
    url, demo = demo_database
    port = _free_port()
    environment = {name: value for name, value in os.environ.items() if not name.startswith("BEAMTIME_")}
    environment |= {"DATABASE_URL": url, "BEAMTIME_JWT_SECRET": "a-test-secret-that-is-long-enough"}
    command = [sys.executable, "-m", "scheduler.cli", "serve", "--demo", "--port", str(port)]
    server = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            schema = _when_up(client, server)
            assert "/me/proposals" in schema["paths"]
            assert client.get("/schema").status_code == 200

            login = client.post("/auth/login", json={"email": PROPOSER.email, "password": PROPOSER.password})
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            mine = client.get("/me/proposals", headers=headers)
            assert mine.status_code == 200, mine.text
            assert sorted(status["proposal"] for status in mine.json()) == sorted(demo.proposer_proposals)
            assert any(status["status"] == "scheduled" and status["slots"] for status in mine.json())
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=20)
    assert server.returncode == 0, output
    assert f"{base}/schema" in output and PROPOSER.password in output
    assert f"published schedule version {demo.schedule_version_id}" in output
    assert "Application shutdown complete" in output and "Traceback" not in output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _when_up(client: httpx.Client, server: subprocess.Popen[str]) -> dict[str, Any]:
    """The OpenAPI document, once the server answers."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        try:
            response = client.get("/schema/openapi.json")
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document
    raise AssertionError(f"the server did not answer within {START_SECONDS:g} s")
