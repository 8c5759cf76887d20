"""A large body (a round file of up to 16 MiB) is parsed and checked in a worker thread, never on the event loop,
where every other request would wait for it; it answers as a small one does, problems and all."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import problems
from fixtures import EXAMPLE_ROUND
from scheduler.roundfile.checks import load_round
from tests.api_helpers import api_client, login, make_user

Sessions = async_sessionmaker[AsyncSession]


def _padded(document: dict[str, Any]) -> bytes:
    """The document as JSON past the size from which bodies are decoded in a thread (whitespace is JSON too)."""
    text = json.dumps(document).encode()
    return text + b" " * (problems.DECODED_IN_A_THREAD_FROM - len(text))


@pytest.fixture
def loops_that_checked(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each round file the API checked: whether an event loop was running in the thread that checked it."""
    seen: list[bool] = []

    def checking(source: Any) -> Any:
        try:
            asyncio.get_running_loop()
            seen.append(True)
        except RuntimeError:
            seen.append(False)
        return load_round(source)

    monkeypatch.setattr(problems, "load_round", checking)
    return seen


async def test_a_large_round_file_is_checked_off_the_event_loop(
    database_url: str, sessions: Sessions, loops_that_checked: list[bool]
) -> None:
    await make_user(sessions, "admin", "admin@example.org")
    document = json.loads(EXAMPLE_ROUND.read_text())
    small = {**document, "round": {**document["round"], "id": "2027-I-small"}}
    async with api_client(database_url) as client:
        admin = await login(client, "admin@example.org")
        large = await client.post(
            "/rounds/import", content=_padded(document), headers=admin | {"Content-Type": "application/json"}
        )
        on_the_loop = await client.post("/rounds/import", json=small, headers=admin)

    assert large.status_code == 201, large.text
    assert (large.json()["code"], on_the_loop.status_code) == (document["round"]["id"], 201)
    assert loops_that_checked == [False, True], "the large body in a worker thread, the small one on the loop"


async def test_a_large_body_with_problems_answers_as_a_small_one(
    database_url: str, sessions: Sessions, loops_that_checked: list[bool]
) -> None:
    await make_user(sessions, "admin", "admin@example.org")
    document = json.loads(EXAMPLE_ROUND.read_text())
    document["proposals"][0]["requests"][0]["shifts"] = 0
    json_headers = {"Content-Type": "application/json"}
    async with api_client(database_url) as client:
        admin = await login(client, "admin@example.org")
        large = await client.post("/rounds/import", content=_padded(document), headers=admin | json_headers)
        small = await client.post("/rounds/import", json=document, headers=admin)
        broken = await client.post("/rounds/import", content=_padded(document)[1:], headers=admin | json_headers)

    assert (large.status_code, small.status_code) == (422, 422), large.text
    assert large.json()["errors"] == small.json()["errors"]
    assert any(error["path"] == "$.proposals[0].requests[0].shifts" for error in large.json()["errors"])
    assert broken.status_code == 400, broken.text
    assert loops_that_checked == [False, True]
