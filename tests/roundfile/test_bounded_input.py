"""Absurd round files and bodies are refused at once, naming the field, and nobody else waits meanwhile.

Round files through the API (import and replace), the command line's solve, and a
proposal body share one set of bounds (`scheduler.fields`); on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from fixtures import EXAMPLE_ROUND
from scheduler.cli import main
from scheduler.roundfile.contract import MAX_PROPOSALS
from tests.api_helpers import PASSWORD, Client, api_client, api_settings, login, make_user

EXAMPLE_PATH = EXAMPLE_ROUND
EXAMPLE: dict[str, Any] = json.loads(EXAMPLE_PATH.read_text())
QUICKLY = 1.0
"""Seconds: an absurd file is refused in less."""
Document = dict[str, Any]
Mutation = Callable[[Document], None]


def _absurd(mutate: Mutation) -> Document:
    document = copy.deepcopy(EXAMPLE)
    mutate(document)
    return document


def _first_after_link(document: Document) -> tuple[int, int]:
    for p, proposal in enumerate(document["proposals"]):
        for k, link in enumerate(proposal.get("links", [])):
            if link["type"] == "after":
                return p, k
    raise AssertionError("the example round has an `after` link")


def _set(path: tuple[str | int, ...], value: object) -> Mutation:
    def mutate(document: Document) -> None:
        node: Any = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _round_span(start: str, end: str, shift_hours: int) -> Mutation:
    return lambda document: document["round"].update(start=start, end=end, shift_hours=shift_hours)


def _gap(value: int) -> Mutation:
    def mutate(document: Document) -> None:
        p, k = _first_after_link(document)
        document["proposals"][p]["links"][k]["min_gap_shifts"] = value

    return mutate


AFTER_LINK = _first_after_link(EXAMPLE)
ABSURD: list[tuple[str, Mutation, dict[str, str]]] = [
    (
        "shifts 1e30",
        _set(("proposals", 0, "requests", 0, "shifts"), 1e30),
        {"$.proposals[0].requests[0].shifts": "Input should be a valid integer, got 1e+30"},
    ),
    (
        "shifts 10**30",
        _set(("proposals", 0, "requests", 0, "shifts"), 10**30),
        {"$.proposals[0].requests[0].shifts": "Input should be less than or equal to 20000"},
    ),
    (
        "a round from year 1 to 9999 in 1-hour shifts",
        _round_span("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z", 1),
        {
            "$.round.start": "the year must be between 1900 and 2200",
            "$.round.end": "the year must be between 1900 and 2200",
        },
    ),
    (
        "three years of 1-hour shifts",
        _round_span("2027-01-01T00:00:00Z", "2030-01-01T00:00:00Z", 1),
        {"$.round.end": "the round has 26304 shifts of 1 h; at most 20000"},
    ),
    (
        "twelve years",
        _round_span("2027-01-01T00:00:00Z", "2039-01-01T00:00:00Z", 24),
        {"$.round.end": "the round lasts 4383 days; at most 1461"},
    ),
    ("shifts of 25 hours", _set(("round", "shift_hours"), 25), {"$.round.shift_hours": "less than or equal to 24"}),
    ("10**12 units", _set(("equipment", 0, "units"), 10**12), {"$.equipment[0].units": "less than or equal to 10000"}),
    (
        "a changeover of a million shifts",
        _set(("facilities", 0, "instruments", 0, "changeover_shifts"), 10**6),
        {"$.facilities[0].instruments[0].changeover_shifts": "less than or equal to 20000"},
    ),
    (
        "a gap of a billion shifts",
        _gap(10**9),
        {f"$.proposals[{AFTER_LINK[0]}].links[{AFTER_LINK[1]}].min_gap_shifts": "less than or equal to 20000"},
    ),
    (
        "a pinned block at shift 2**40",
        _set(
            ("previous_schedule",),
            [{"request": "P-001-a", "instrument": "SKIF-1-1", "start_shift": 2**40, "shifts": 1, "pinned": True}],
        ),
        {"$.previous_schedule[0].start_shift": "less than or equal to 20000"},
    ),
    (
        "a grade of 1e300",
        _set(("proposals", 0, "reviews"), [{"reviewer": "R-1", "grade": 1e300}]),
        {"$.proposals[0].reviews[0].grade": "less than or equal to 1000000"},
    ),
    (
        "a facility name of 100,000 characters",
        _set(("facilities", 0, "name"), "x" * 100_000),
        {"$.facilities[0].name": "String should have at most 200 characters"},
    ),
    (
        "a NUL in a window's reason",
        _set(
            ("facilities", 0, "maintenance"),
            [
                {
                    "start": "2027-02-03T08:00:00+03:00",
                    "end": "2027-02-04T08:00:00+03:00",
                    "kind": "other",
                    "reason": "\0",
                }
            ],
        ),
        {"$.facilities[0].maintenance[0].reason": "String should match pattern"},
    ),
    (
        "more proposals than a round may have",
        lambda document: document.update(
            proposals=[
                document["proposals"][0]
                | {"id": f"P-{n}", "requests": [{"id": f"R-{n}", "instruments": ["SKIF-1-1"], "shifts": 1}]}
                for n in range(MAX_PROPOSALS + 1)
            ]
        ),
        {"$.proposals": f"at most {MAX_PROPOSALS} items, got {MAX_PROPOSALS + 1}"},
    ),
    (
        "a team of 5,000",
        _set(("proposals", 0, "team"), [{"name": "Someone", "country": "DE"}] * 5_000),
        {"$.proposals[0].team": "at most 200 items, got 5000"},
    ),
]


def _problems(answer: Any) -> dict[str, str]:
    return {error["path"]: error["message"] for error in answer.json()["errors"]}


def _assert_names(problems: dict[str, str], expected: dict[str, str]) -> None:
    assert set(problems) == set(expected), problems
    for path, message in expected.items():
        assert message in problems[path], (path, problems[path])


async def _admin(client: Client, sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    email = f"admin-{time.monotonic_ns()}@example.org"
    await make_user(sessions, "admin", email)
    return await login(client, email)


@pytest.mark.parametrize(("mutate", "expected"), [case[1:] for case in ABSURD], ids=[case[0] for case in ABSURD])
async def test_an_absurd_round_file_is_refused_at_once_naming_the_field(
    database_url: str, sessions: async_sessionmaker[AsyncSession], mutate: Mutation, expected: dict[str, str]
) -> None:
    async with api_client(database_url) as client:
        admin = await _admin(client, sessions)
        started = time.monotonic()
        refused = await client.post("/rounds/import", json=_absurd(mutate), headers=admin)
        took = time.monotonic() - started

        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        _assert_names(_problems(refused), expected)
        assert took < QUICKLY
        assert (await client.get("/rounds", headers=admin)).json()["total"] == 0, "nothing was stored"


@contextmanager
def _served(database_url: str) -> Iterator[str]:
    """The app behind a real socket, its event loop in a thread of its own: the test's clients wait on it as
    any client would, so a request that held the server's loop would hold up the others."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(api_settings(database_url), start_worker=False, migrate=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="test-server")
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


async def test_the_server_keeps_answering_others_while_absurd_files_are_refused(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(sessions, "admin", "admin@example.org")
    with _served(database_url) as base:
        async with (
            httpx.AsyncClient(base_url=base, timeout=30) as importer,
            httpx.AsyncClient(base_url=base, timeout=30) as reader,
        ):
            signed_in = await importer.post("/auth/login", json={"email": "admin@example.org", "password": PASSWORD})
            admin = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
            files = [json.dumps(_absurd(mutate)).encode() for _, mutate, _ in ABSURD]
            stop = asyncio.Event()

            async def import_absurd_files() -> list[tuple[int, float]]:
                answers = []
                for body in files * 2:
                    started = time.monotonic()
                    answer = await importer.post(
                        "/rounds/import", content=body, headers=admin | {"Content-Type": "application/json"}
                    )
                    answers.append((answer.status_code, time.monotonic() - started))
                stop.set()
                return answers

            async def read_meanwhile() -> list[tuple[int, float]]:
                answers = []
                while not stop.is_set():
                    started = time.monotonic()
                    answer = await reader.get("/facilities", headers=admin)
                    answers.append((answer.status_code, time.monotonic() - started))
                return answers

            imports, reads = await asyncio.gather(import_absurd_files(), read_meanwhile())

    assert {status for status, _ in imports} == {422}
    assert max(seconds for _, seconds in imports) < QUICKLY
    assert len(reads) >= 3, "the reader was served while the files were refused"
    assert {status for status, _ in reads} == {200}
    assert max(seconds for _, seconds in reads) < QUICKLY


async def test_replacing_a_round_with_an_absurd_file_is_refused_and_keeps_the_round(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with api_client(database_url) as client:
        admin = await _admin(client, sessions)
        imported = await client.post("/rounds/import", json=EXAMPLE, headers=admin)
        assert imported.status_code == 201, imported.text
        round_url = f"/rounds/{imported.json()['id']}"
        before = (await client.get(round_url, headers=admin)).json()

        absurd = _absurd(_round_span("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z", 1))
        refused = await client.put(f"{round_url}/import", json=absurd, headers=admin)

        assert refused.status_code == 422, refused.text
        assert set(_problems(refused)) == {"$.round.start", "$.round.end"}
        assert (await client.get(round_url, headers=admin)).json() == before


async def test_a_proposal_body_has_the_round_files_bounds(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The same shift counts are refused in a body and in a file, and the largest one allowed is allowed in both."""
    async with api_client(database_url) as client:
        admin = await _admin(client, sessions)
        imported = await client.post("/rounds/import", json=EXAMPLE, headers=admin)
        assert imported.status_code == 201, imported.text
        await make_user(sessions, "proposer", "proposer@example.org")
        proposer = await login(client, "proposer@example.org")

        def body(shifts: int, gap: int) -> Document:
            return {
                "title": "Thin films",
                "type": "standard",
                "pi": {"name": "Ada Lovelace", "country": "GB"},
                "requests": [
                    {"label": "a", "instruments": ["SKIF-1-1"], "shifts": shifts, "min_shifts": 1},
                    {"label": "b", "instruments": ["SKIF-1-1"], "shifts": 1},
                ],
                "links": [{"type": "after", "first": "a", "then": "b", "min_gap_shifts": gap}],
            }

        url = f"/rounds/{imported.json()['id']}/proposals"
        too_many = await client.post(url, json=body(20_001, 20_001), headers=proposer)
        assert too_many.status_code == 422, too_many.text
        _assert_names(
            _problems(too_many),
            {
                "$.requests[0].shifts": "less than or equal to 20000",
                "$.links[0].min_gap_shifts": "less than or equal to 20000",
            },
        )
        assert (await client.post(url, json=body(20_000, 20_000), headers=proposer)).status_code == 201

        in_a_file = _absurd(_set(("proposals", 0, "requests", 0, "shifts"), 20_001))
        in_a_file["round"]["id"] = "2027-I-other"
        refused = await client.post("/rounds/import", json=in_a_file, headers=admin)
        assert refused.status_code == 422, refused.text
        assert set(_problems(refused)) == {"$.proposals[0].requests[0].shifts"}


def test_the_command_line_refuses_an_absurd_file_with_its_path_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    absurd = tmp_path / "absurd.json"
    absurd.write_text(json.dumps(_absurd(_round_span("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z", 1))))
    started = time.monotonic()

    assert main(["solve", str(absurd), "-o", str(tmp_path / "out.json")]) == 2

    assert time.monotonic() - started < QUICKLY
    err = capsys.readouterr().err
    assert "$.round.start: the year must be between 1900 and 2200" in err
    assert "$.round.end: the year must be between 1900 and 2200" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out.json").exists()
