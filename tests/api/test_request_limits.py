"""Bounded requests, on SQLite and PostgreSQL: oversized bodies are refused at once while others keep being answered,
what anyone may call without signing in is rate-limited per client, and the dashboard's error pages and the API's
description load nothing from elsewhere.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.limits import FORM_BODY, PROPOSAL_BODY, ROUND_FILE_BODY
from api.web import pages
from api.web.session import CSRF_COOKIE, CSRF_HEADER
from scheduler.errors import Conflict, NotFound
from scheduler.roundfile.checks import InputError, InputProblem
from tests.api_helpers import PASSWORD, Client, api_client, login, make_user, served

Sessions = async_sessionmaker[AsyncSession]
TEN_MB = 10 * 1024 * 1024
REFUSED_WITHIN = 0.5
"""Seconds for a 413 on a loaded 2-core machine; a body that was read and parsed takes seconds."""
OTHERS_DELAYED_BY_AT_MOST = 0.1
"""Seconds the median read may slow down while oversized bodies arrive (the issue's target); the assertion allows
half the quiet median again for the neighbours' load, and benchmarks/faults.py measures it."""


def _json_of(size: int) -> bytes:
    """A JSON object of about `size` bytes: one long string."""
    return b'{"email": "a@example.org", "password": "' + b"x" * size + b'"}'


def _form_of(size: int) -> bytes:
    """The issue's form: `a=&` repeated, millions of fields for Litestar's form parser."""
    return b"a=&" * (size // 3)


async def _csrf(client: Client) -> dict[str, str]:
    if CSRF_COOKIE not in client.cookies:
        await client.get("/ui/login")
    return {CSRF_HEADER: client.cookies[CSRF_COOKIE]}


async def _read_while(
    http: httpx.AsyncClient, headers: dict[str, str], work: Awaitable[Any]
) -> tuple[Any, list[float]]:
    """Runs `work` while another connection reads /facilities in a loop; the work's result and each read's seconds."""
    done = asyncio.Event()
    latencies: list[float] = []

    async def read() -> None:
        async with httpx.AsyncClient(base_url=str(http.base_url), headers=headers) as reader:
            while not done.is_set() or len(latencies) < 5:
                started = time.perf_counter()
                answer = await reader.get("/facilities")
                latencies.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text

    async def run() -> Any:
        try:
            return await work
        finally:
            done.set()

    result, _ = await asyncio.gather(run(), read())
    return result, latencies


async def _timed(call: Callable[[], Awaitable[httpx.Response]]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    answer = await call()
    return answer, time.perf_counter() - started


def _assert_names_the_limit(answer: httpx.Response, limit: int) -> None:
    assert answer.status_code == 413, answer.text[:300]
    assert f"({limit} bytes)" in answer.text


async def _bearer(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    answer = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def test_oversized_bodies_are_refused_at_once_while_others_keep_reading(
    database_url: str, sessions: Sessions
) -> None:
    """A real server, so that the reads run while the bodies arrive (the test client answers one call at a time)."""
    await make_user(sessions, "proposer", "pi@example.org")
    await make_user(sessions, "admin", "admin@example.org")
    big_json, big_form = _json_of(TEN_MB), _form_of(TEN_MB)
    async with served(database_url) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        proposer = await _bearer(http, "pi@example.org")
        admin = await _bearer(http, "admin@example.org")
        await http.get("/ui/login")
        csrf = {CSRF_HEADER: http.cookies[CSRF_COOKIE]}

        async def oversized() -> list[tuple[str, httpx.Response, float]]:
            sent: list[tuple[str, Callable[[], Awaitable[httpx.Response]]]] = [
                ("/auth/login", lambda: http.post("/auth/login", content=big_json, headers=_json_type())),
                ("/ui/login", lambda: http.post("/ui/login", content=big_form, headers=csrf | _form_type())),
                (
                    "/rounds/1/proposals",
                    lambda: http.post("/rounds/1/proposals", content=big_json, headers=proposer | _json_type()),
                ),
                ("/auth/login streamed", lambda: http.post("/auth/login", content=_chunks(big_json))),
            ]
            answers = []
            for name, call in sent * 3:
                answer, seconds = await _timed(call)
                answers.append((name, answer, seconds))
            return answers

        _, quiet = await _read_while(http, admin, asyncio.sleep(0.5))
        answers, busy = await _read_while(http, admin, oversized())

    for name, answer, seconds in answers:
        limit = FORM_BODY if "login" in name else PROPOSAL_BODY
        _assert_names_the_limit(answer, limit)
        assert seconds < REFUSED_WITHIN, f"{name}: {seconds * 1000:.0f} ms"
        if name == "/ui/login":
            assert answer.headers["content-type"].startswith("text/html")
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        else:
            assert answer.headers["content-type"] == "application/problem+json"
    quiet_median, busy_median = statistics.median(quiet), statistics.median(busy)
    assert busy_median - quiet_median < OTHERS_DELAYED_BY_AT_MOST + quiet_median / 2, (
        f"reads {quiet_median * 1000:.1f} ms alone, {busy_median * 1000:.1f} ms beside the bodies"
    )


def _json_type() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def _form_type() -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded"}


async def _chunks(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """Sent without a Content-Length: the limit is kept on the bytes as they arrive."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_round_files_are_for_coordinators_and_bounded(database_url: str, sessions: Sessions) -> None:
    """A proposer's round file is refused before it is read; a coordinator's may be large, but not unbounded."""
    await make_user(sessions, "proposer", "pi@example.org")
    await make_user(sessions, "admin", "admin@example.org")
    async with api_client(database_url) as client:
        proposer = await login(client, "pi@example.org")
        admin = await login(client, "admin@example.org")
        five_mb, over_the_limit = _json_of(5 * 1024 * 1024), _json_of(ROUND_FILE_BODY)

        for method, path in (("POST", "/rounds/import"), ("PUT", "/rounds/1/import")):
            refused, seconds = await _timed(
                lambda: client.request(method, path, content=five_mb, headers=proposer | _json_type())  # noqa: B023
            )
            assert refused.status_code == 403, refused.text
            assert seconds < REFUSED_WITHIN

            read = await client.request(method, path, content=five_mb, headers=admin | _json_type())
            assert read.status_code == 422, "a coordinator's 5 MB file is read, and found not to be a round file"

            too_large, seconds = await _timed(
                lambda: client.request(method, path, content=over_the_limit, headers=admin | _json_type())  # noqa: B023
            )
            _assert_names_the_limit(too_large, ROUND_FILE_BODY)
            assert "16 MiB" in too_large.json()["detail"]
            assert seconds < REFUSED_WITHIN

        small_but_not_small_enough = await client.post(
            "/facilities", content=_json_of(100 * 1024), headers=admin | _json_type()
        )
        _assert_names_the_limit(small_but_not_small_enough, 64 * 1024)
        wrong_password = await client.post("/auth/login", content=_json_of(FORM_BODY // 2), headers=_json_type())
        assert wrong_password.status_code != 413, "a body within the limit is read"


async def test_what_anyone_may_ask_is_rate_limited_per_client(database_url: str, sessions: Sessions) -> None:
    await make_user(sessions, "admin", "admin@example.org")
    async with api_client(database_url, public_requests_per_minute=6) as client:
        admin = await login(client, "admin@example.org")
        public = ["/calendar/not-a-feed.ics", "/schema/openapi.json", "/ui/login"] * 2
        assert [(await client.get(path)).status_code for path in public] == [404, 200, 200] * 2

        refused = await client.get("/calendar/not-a-feed.ics")
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert (await client.get("/schema/openapi.json")).status_code == 429

        assert (await client.get("/facilities", headers=admin)).status_code == 200, "signed-in calls are not counted"
        spoofed = await client.get("/calendar/not-a-feed.ics", headers={"X-Forwarded-For": "192.0.2.1"})
        assert spoofed.status_code == 429, "the client address is the connection's, never a header"


# Pages and the API's description


async def _dashboard_proposer(client: Client, sessions: Sessions) -> None:
    await make_user(sessions, "proposer", "pi@example.org")
    signed_in = await client.post(
        "/ui/login",
        data={"email": "pi@example.org", "password": PASSWORD, "next": "/ui/me"},
        headers=await _csrf(client),
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("no such round"), 404),
        (Conflict("the round has schedules"), 409),
        (InputError([InputProblem("$.start", "start is after end")]), 422),
        (RuntimeError("a bug"), 500),
    ],
    ids=["404", "409", "422", "500"],
)
async def test_error_pages_carry_the_pages_security_headers(
    database_url: str, sessions: Sessions, monkeypatch: pytest.MonkeyPatch, error: Exception, status: int
) -> None:
    async with api_client(database_url) as client:
        await _dashboard_proposer(client, sessions)
        fine = await client.get("/ui/me")
        assert fine.status_code == 200

        async def fails(*_args: Any, **_kwargs: Any) -> None:
            raise error

        monkeypatch.setattr(pages, "proposer_page", fails)
        failed = await client.get("/ui/me")

    assert failed.status_code == status
    assert failed.headers["content-type"].startswith("text/html")
    for header in ("content-security-policy", "x-content-type-options", "referrer-policy", "cache-control"):
        assert failed.headers[header] == fine.headers[header], header
    assert "frame-ancestors 'none'" in failed.headers["content-security-policy"]
    assert failed.headers["cache-control"] == "no-store"


async def test_the_api_description_loads_no_scripts_unless_a_developer_asks(database_url: str) -> None:
    async with api_client(database_url) as client:
        document = await client.get("/schema/openapi.json")
        assert document.status_code == 200 and document.json()["info"]["title"] == "beamtime"
        root = await client.get("/schema")
        assert root.status_code == 200 and "<script" not in root.text
        for page in ("/schema/swagger", "/schema/redoc", "/schema/scalar", "/schema/elements", "/schema/rapidoc"):
            assert (await client.get(page)).status_code == 404, page

    async with api_client(database_url, api_docs_pages=True) as client:
        swagger = await client.get("/schema/swagger")
        assert swagger.status_code == 200 and "<script" in swagger.text
