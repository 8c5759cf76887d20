"""Hygiene: calendar secrets kept hashed and out of logs, logs without local values, a private data folder,
Secure `__Host-` cookies off localhost, migrations that replicas may start together."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import socket
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from alembic import command
from alembic.script import ScriptDirectory
from icalendar import Calendar
from litestar.testing import AsyncTestClient
from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col

from api.app import create_app
from api.web.session import COOKIE, CSRF_COOKIE, CSRF_HEADER
from scheduler import cli, settings
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import alembic_config, upgrade_database
from scheduler.db.tables import AuditEntry, User
from scheduler.logs import formatter
from scheduler.schedules import calendar
from tests.api_helpers import PASSWORD, api_client, api_settings, login, make_user
from tests.db.databases import run_sync

Sessions = async_sessionmaker[Any]
SECRET_HEADER = "a-header-value-that-must-never-be-logged"
PUBLIC_HTTPS = "https://beamtime.example.org"
MIGRATION_SECONDS = 60.0


def _token(address: str) -> str:
    return address.rsplit("/calendar/", 1)[1].removesuffix(".ics")


# Calendar addresses


async def test_a_calendar_address_is_shown_once_kept_hashed_and_a_new_one_ends_the_old(
    database_url: str, sessions: Sessions
) -> None:
    proposer = await make_user(sessions, "proposer", "pi@example.org")
    async with api_client(database_url) as client:
        headers = await login(client, "pi@example.org")
        assert (await client.get("/me", headers=headers)).json()["calendar_feed"] is False
        first = (await client.post("/me/calendar-url", headers=headers)).json()["url"]
        second = (await client.post("/me/calendar-url", headers=headers)).json()["url"]
        me = await client.get("/me", headers=headers)
        state = await client.get("/me/calendar-url", headers=headers)
        old_feed = await client.get(f"/calendar/{_token(first)}.ics")
        new_feed = await client.get(f"/calendar/{_token(second)}.ics")

    assert first != second
    assert me.json()["calendar_feed"] is True and _token(second) not in me.text
    assert state.json() == {"exists": True} and _token(second) not in state.text
    assert old_feed.status_code == 404, "a new address ends the one before"
    assert new_feed.status_code == 200 and Calendar.from_ical(new_feed.content).walk("VEVENT") == []
    async with sessions() as session:
        row = (await session.execute(select(User).where(col(User.id) == proposer))).scalar_one()
        made = (
            await session.execute(select(AuditEntry).where(col(AuditEntry.action) == "calendar.new_address"))
        ).scalars()
        assert [entry.user_id for entry in made] == [proposer, proposer]
    assert row.calendar_token_hash == hashlib.sha256(_token(second).encode()).hexdigest()
    assert _token(second) not in json.dumps(row.model_dump(mode="json")), "only the hash is stored"


async def test_the_proposer_page_makes_a_calendar_link_and_shows_it_once_over_https_cookies(
    database_url: str, sessions: Sessions
) -> None:
    """Served at an https address: the session and CSRF cookies are `__Host-` cookies, Secure, path /, no Domain,
    and the dashboard works with them."""
    await make_user(sessions, "proposer", "pi@example.org")
    app = create_app(api_settings(database_url, public_url=PUBLIC_HTTPS), start_worker=False, migrate=False)
    async with AsyncTestClient(app=app, base_url=PUBLIC_HTTPS) as client:
        form = await client.get("/ui/login")
        csrf_cookie = _set_cookie(form, f"__Host-{CSRF_COOKIE}")
        csrf = {CSRF_HEADER: client.cookies[f"__Host-{CSRF_COOKIE}"]}
        signed_in = await client.post(
            "/ui/login",
            data={"email": "pi@example.org", "password": PASSWORD, "next": "/ui/me"},
            headers=csrf,
            follow_redirects=False,
        )
        session_cookie = _set_cookie(signed_in, f"__Host-{COOKIE}")
        before = await client.get("/ui/me")
        made = await client.post("/ui/me/calendar-url", data={}, headers=csrf)
        after = await client.get("/ui/me")
        address = re.findall(r'value="([^"]*/calendar/[^"]*)"', made.text)[0]
        feed = await client.get(httpx.URL(address).path)

    for cookie in (csrf_cookie, session_cookie):
        attributes = _attributes(cookie)
        assert attributes.get("path") == "/" and "secure" in attributes and "domain" not in attributes, cookie
    assert "httponly" in _attributes(session_cookie)
    assert before.status_code == 200 and "Make my calendar link" in before.text and "/calendar/" not in before.text
    assert made.status_code == 200, made.text
    assert address.startswith(f"{PUBLIC_HTTPS}/calendar/") and address.endswith(".ics")
    assert feed.status_code == 200
    assert "/calendar/" not in after.text and "Make a new calendar link" in after.text, "shown once"


def _attributes(cookie: str) -> dict[str, str]:
    pairs = (part.strip().partition("=") for part in cookie.split(";")[1:])
    return {name.lower(): value for name, _, value in pairs}


def _set_cookie(response: httpx.Response, name: str) -> str:
    matching = [value for value in response.headers.get_list("set-cookie") if value.startswith(f"{name}=")]
    assert len(matching) == 1, response.headers.get_list("set-cookie")
    return matching[0]


async def test_on_plain_http_localhost_cookies_keep_their_plain_names_and_are_not_secure(
    database_url: str, sessions: Sessions
) -> None:
    await make_user(sessions, "proposer", "pi@example.org")
    async with api_client(database_url, public_url="http://localhost:8000") as client:
        form = await client.get("/ui/login")
        signed_in = await client.post(
            "/ui/login",
            data={"email": "pi@example.org", "password": PASSWORD, "next": "/ui/me"},
            headers={CSRF_HEADER: client.cookies[CSRF_COOKIE]},
            follow_redirects=False,
        )

    for cookie in (_set_cookie(form, CSRF_COOKIE), _set_cookie(signed_in, COOKIE)):
        assert "secure" not in _attributes(cookie), cookie


# Logs


async def test_an_unhandled_errors_log_line_has_no_local_values_and_renders_in_milliseconds(
    database_url: str,
    sessions: Sessions,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails(session: Any, user_id: int) -> None:
        raise RuntimeError("the proposals could not be read")

    monkeypatch.setattr(calendar, "my_proposals", fails)
    await make_user(sessions, "proposer", "pi@example.org")
    async with api_client(database_url, log_format="json") as client:
        headers = await login(client, "pi@example.org")
        capsys.readouterr()
        answer = await client.get("/me/proposals", headers=headers | {"X-Private": SECRET_HEADER})
    written = capsys.readouterr().err

    assert answer.status_code == 500 and SECRET_HEADER not in answer.text
    lines = [json.loads(line) for line in written.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line["event"] == "unhandled error"]
    assert len(errors) == 1, written
    assert errors[0]["level"] == "error" and errors[0]["path"] == "/me/proposals"
    assert "RuntimeError: the proposals could not be read" in errors[0]["exception"]
    assert "Traceback (most recent call last)" in errors[0]["exception"]
    assert SECRET_HEADER not in written and headers["Authorization"].split()[1] not in written

    record = next(r for r in caplog.records if isinstance(r.msg, dict) and r.msg["event"] == "unhandled error")
    for format_ in ("json", "console"):
        started = time.perf_counter()
        rendered = formatter(format_).format(record)
        elapsed = time.perf_counter() - started
        assert SECRET_HEADER not in rendered and "RuntimeError" in rendered
        assert elapsed < 0.05, f"{format_} took {elapsed * 1000:.1f} ms"


def test_the_access_log_never_shows_a_calendar_token(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A real uvicorn server, configured as `beamtime serve` does (its own logging first, then the app factory)."""
    token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        lambda: create_app(api_settings(database_url, log_format="json"), start_worker=False, migrate=False),
        factory=True,
        host="127.0.0.1",
        port=port,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            time.sleep(0.05)
        answer = httpx.get(f"http://127.0.0.1:{port}/calendar/{token}.ics")
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    written = capsys.readouterr().err

    assert answer.status_code == 404
    access = [line for line in written.splitlines() if '"uvicorn.access"' in line]
    assert len(access) == 1 and "/calendar/[secret].ics" in access[0] and " 404" in access[0], written
    assert token not in written


# The data folder


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """DATA_DIR in a fresh place, as an older version left it: 0755 with a 0644 file; the usual umask 022."""
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    (folder / "left-over").write_text("readable by all")
    (folder / "left-over").chmod(0o644)
    monkeypatch.setattr(settings, "DATA_DIR", folder)
    monkeypatch.delenv("BEAMTIME_JWT_SECRET", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    previous = os.umask(0o022)
    yield folder
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_is_0700_and_its_files_0600(data_dir: Path) -> None:
    url = f"sqlite+aiosqlite:///{data_dir / 'beamtime.db'}"
    assert settings.Settings(database_url=url).jwt_secret
    upgrade_database(url)

    async def write() -> None:
        engine = create_engine(url)
        async with session_maker(engine).begin() as session:
            session.add(User(email="a@example.org", name="A", role="admin", password_hash="-"))
        await engine.dispose()

    asyncio.run(write())

    assert _mode(data_dir) == 0o700
    files = {path.name: _mode(path) for path in data_dir.iterdir()}
    assert {"jwt-secret", "beamtime.db", "left-over"} <= files.keys()
    assert files == dict.fromkeys(files, 0o600)


def test_an_sqlite_database_elsewhere_gets_a_private_folder_and_file(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        database = tmp_path / "new" / "beamtime.db"
        upgrade_database(f"sqlite+aiosqlite:///{database}")
    finally:
        os.umask(previous)
    assert (_mode(database.parent), _mode(database)) == (0o700, 0o600)


# Migrations


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_replicas_starting_together_migrate_an_empty_postgresql_database_once(empty_postgres: str) -> None:
    replicas = 4
    together = threading.Barrier(replicas)
    failures: list[BaseException] = []

    def start() -> None:
        together.wait()
        try:
            upgrade_database(empty_postgres)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=start, daemon=True) for _ in range(replicas)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + MIGRATION_SECONDS
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        run_sync(empty_postgres, _end_other_connections)  # so that the fixture can empty the database
    assert (stuck, failures) == (0, []), "concurrent migrations blocked each other or failed"

    versions = run_sync(empty_postgres, lambda c: c.execute(text("SELECT version_num FROM alembic_version")).all())
    assert versions == [(_head(),)]
    assert "user" in run_sync(empty_postgres, lambda c: inspect(c).get_table_names())


def _end_other_connections(connection: Connection) -> None:
    connection.execute(
        text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'beamtime.db'}"
    else:
        yield request.getfixturevalue("empty_postgres")


def test_migration_0003_hashes_existing_calendar_tokens_so_their_addresses_keep_working(empty_database: str) -> None:
    token = "an-address-a-calendar-app-holds-already"
    command.upgrade(alembic_config(empty_database), "0002")
    run_sync(
        empty_database,
        lambda c: c.execute(
            text(
                'INSERT INTO "user" (email, name, role, password_hash, active, calendar_token, created_at, '
                "token_version) VALUES ('pi@example.org', 'PI', 'proposer', '-', true, :token, :now, 0)"
            ),
            {"token": token, "now": datetime(2026, 12, 1, tzinfo=UTC)},
        ),
    )
    upgrade_database(empty_database)

    stored = run_sync(empty_database, lambda c: c.execute(text('SELECT calendar_token_hash FROM "user"')).scalar_one())
    assert stored == hashlib.sha256(token.encode()).hexdigest()

    async def feed() -> bytes:
        engine = create_engine(empty_database)
        try:
            async with session_maker(engine)() as session:
                return await calendar.calendar_feed(session, token)
        finally:
            await engine.dispose()

    assert b"BEGIN:VCALENDAR" in asyncio.run(feed())


def test_beamtime_migrate_brings_a_database_to_the_newest_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "beamtime.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("BEAMTIME_JWT_SECRET", "a-test-secret-that-is-long-enough-for-hs256")
    settings.get_settings.cache_clear()
    try:
        assert cli.main(["migrate"]) == 0
    finally:
        settings.get_settings.cache_clear()
    url = f"sqlite+aiosqlite:///{database}"
    assert run_sync(url, lambda c: c.execute(text("SELECT version_num FROM alembic_version")).scalar_one()) == _head()
