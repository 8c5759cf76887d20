"""Signing in, tokens, sessions, CSRF, rate limits, the caller's account, user administration, the audit log,
one transaction per request, and `beamtime user create`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from litestar import Litestar, Response, post
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from api.database import database_plugin
from api.params import Session
from api.problems import LOGGED_ERRORS, PROBLEM_DETAILS
from api.web.session import COOKIE, CSRF_COOKIE, CSRF_HEADER
from scheduler.accounts.cli import add_user_command
from scheduler.accounts.tokens import TOKEN_ALGORITHM, issue_token
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.tables import User
from scheduler.roundfile.checks import InputError
from scheduler.settings import get_settings
from tests.api_helpers import PASSWORD, Client, api_client, api_settings, login, make_user

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Client]:
    async with api_client(database_url) as client:
        yield client


async def test_a_user_signs_in_and_reads_their_own_account(
    client: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    user_id = await make_user(sessions, "reviewer", "Grace.Hopper@Example.org", name="Grace Hopper")

    headers = await login(client, "  grace.hopper@example.org ")
    response = await client.get("/me", headers=headers)

    assert response.status_code == 200
    me = response.json()
    assert {key: me[key] for key in ("id", "email", "name", "role", "active", "facilities")} == {
        "id": user_id,
        "email": "grace.hopper@example.org",
        "name": "Grace Hopper",
        "role": "reviewer",
        "active": True,
        "facilities": [],
    }
    assert me["calendar_feed"] is False, "no feed address until the user makes one"
    assert not any("calendar_token" in key for key in me), "the feed's secret is not part of the account"
    assert "password" not in response.text


async def test_a_wrong_password_and_an_unknown_e_mail_are_refused_alike(
    client: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(sessions, "proposer", "ada@example.org")

    wrong_password = await client.post("/auth/login", json={"email": "ada@example.org", "password": "not it at all"})
    unknown = await client.post("/auth/login", json={"email": "nobody@example.org", "password": PASSWORD})

    for response in (wrong_password, unknown):
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["detail"] == "wrong e-mail or password"


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic YWRhOnB3", "Bearer", "Bearer not-a-token", "bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"],
)
async def test_requests_without_a_valid_token_are_unauthorised(client: Client, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = await client.get("/me", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == PROBLEM_JSON
    assert {key: response.json()[key] for key in ("type", "title", "status", "instance")} == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "instance": "/me",
    }


async def test_a_token_signed_with_another_secret_or_expired_is_refused(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    user_id = await make_user(sessions, "admin", "root@example.org")
    other_secret = api_settings(database_url, jwt_secret="another-secret-entirely-and-long-enough-too")
    forged = issue_token(user_id, 0, settings=other_secret)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    expired = jwt.encode(
        {"sub": str(user_id), "ver": 0, "iat": an_hour_ago, "exp": an_hour_ago + timedelta(minutes=1)},
        api_settings(database_url).jwt_secret,
        algorithm=TOKEN_ALGORITHM,
    )

    async with api_client(database_url) as client:
        for token in (forged, expired):
            response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, token


async def test_a_token_accepted_before_is_refused_once_it_expires(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A process keeps the tokens whose signature it checked; one it has let in still ends at its `exp`."""
    user_id = await make_user(sessions, "admin", "root@example.org")
    now = datetime.now(UTC)
    short = jwt.encode(
        {"sub": str(user_id), "ver": 0, "iat": now, "exp": now + timedelta(seconds=2)},
        api_settings(database_url).jwt_secret,
        algorithm=TOKEN_ALGORITHM,
    )
    headers = {"Authorization": f"Bearer {short}"}

    async with api_client(database_url) as client:
        assert (await client.get("/me", headers=headers)).status_code == 200
        await asyncio.sleep(max(0.0, (now + timedelta(seconds=2.1) - datetime.now(UTC)).total_seconds()))
        refused = await client.get("/me", headers=headers)

    assert refused.status_code == 401


async def test_admins_create_and_list_users(client: Client, sessions: async_sessionmaker[AsyncSession]) -> None:
    await make_user(sessions, "admin", "root@example.org")
    admin = await login(client, "root@example.org")
    facility = {"code": "SKIF", "name": "SKIF", "country": "RU", "timezone": "Asia/Novosibirsk"}
    assert (await client.post("/facilities", json=facility, headers=admin)).status_code == 201

    created = await client.post(
        "/users",
        json={
            "email": "Kate@Example.org",
            "name": "Kate",
            "role": "coordinator",
            "password": "long enough password",
            "facilities": ["SKIF"],
        },
        headers=admin,
    )

    assert created.status_code == 201, created.text
    kate = created.json()
    assert (kate["email"], kate["role"], kate["facilities"]) == ("kate@example.org", "coordinator", ["SKIF"])
    assert "calendar_token" not in kate
    kate_headers = await login(client, "kate@example.org", "long enough password")
    assert (await client.get("/me", headers=kate_headers)).json()["facilities"] == ["SKIF"]
    listed = await client.get("/users", params={"role": "coordinator"}, headers=admin)
    assert [user["email"] for user in listed.json()["items"]] == ["kate@example.org"]
    assert (listed.json()["total"], listed.json()["limit"], listed.json()["offset"]) == (1, 100, 0)
    assert (await client.get(f"/users/{kate['id']}", headers=admin)).json() == kate
    assert (await client.get("/users/999999", headers=admin)).status_code == 404


async def test_user_creation_is_refused_with_every_problem_named(
    client: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(sessions, "admin", "root@example.org")
    admin = await login(client, "root@example.org")

    bad_fields = await client.post(
        "/users",
        json={"email": "not-an-address", "name": "", "role": "boss", "password": "short", "shoe_size": 44},
        headers=admin,
    )
    unknown_facility = await client.post(
        "/users",
        json={"email": "c@example.org", "name": "C", "role": "coordinator", "password": PASSWORD, "facilities": ["X"]},
        headers=admin,
    )
    facilities_of_a_proposer = await client.post(
        "/users",
        json={"email": "p@example.org", "name": "P", "role": "proposer", "password": PASSWORD, "facilities": ["X"]},
        headers=admin,
    )
    taken = await client.post(
        "/users",
        json={"email": "ROOT@example.org", "name": "Again", "role": "admin", "password": PASSWORD},
        headers=admin,
    )

    assert bad_fields.status_code == 422
    assert bad_fields.headers["content-type"] == PROBLEM_JSON
    assert {error["path"] for error in bad_fields.json()["errors"]} == {
        "$.email",
        "$.name",
        "$.role",
        "$.password",
        "$.shoe_size",
    }
    assert [error["path"] for error in unknown_facility.json()["errors"]] == ["$.facilities[0]"]
    assert [error["path"] for error in facilities_of_a_proposer.json()["errors"]] == ["$.facilities"]
    assert taken.status_code == 409
    assert (await client.get("/users", headers=admin)).json()["total"] == 1


async def test_only_admins_administer_users(client: Client, sessions: async_sessionmaker[AsyncSession]) -> None:
    await make_user(sessions, "coordinator", "kate@example.org")
    coordinator = await login(client, "kate@example.org")

    listing = await client.get("/users", headers=coordinator)
    creation = await client.post(
        "/users",
        json={"email": "x@example.org", "name": "X", "role": "admin", "password": PASSWORD},
        headers=coordinator,
    )

    assert (listing.status_code, creation.status_code) == (403, 403)
    assert (await client.get("/users")).status_code == 401


def _user_command(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="beamtime")
    add_user_command(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return int(args.run(args))


@pytest.fixture
def fresh_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty SQLite database as DATABASE_URL: the command migrates it itself."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'beamtime.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_user_create_bootstraps_a_fresh_database(fresh_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = _user_command(
        "user", "create", "--email", "Root@Example.org", "--name", "Root", "--role", "admin", "--password", PASSWORD
    )

    assert status == 0
    assert "root@example.org (admin)" in capsys.readouterr().out

    async def signs_in() -> int:
        async with api_client(fresh_database) as client:
            headers = await login(client, "root@example.org")
            return (await client.get("/me", headers=headers)).status_code

    assert asyncio.run(signs_in()) == 200


def test_user_create_asks_for_the_password_twice(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([PASSWORD, "something else", PASSWORD, PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    command = ("user", "create", "--email", "a@example.org", "--name", "A", "--role", "reviewer")

    assert _user_command(*command) == 2
    assert "the passwords differ" in capsys.readouterr().err
    assert _user_command(*command) == 0


def test_user_create_refuses_a_taken_e_mail_and_bad_input(
    fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ("user", "create", "--name", "Kate", "--password", PASSWORD)
    assert _user_command(*command, "--email", "kate@example.org", "--role", "proposer") == 0

    assert _user_command(*command, "--email", "KATE@example.org", "--role", "proposer") == 2
    assert "exists already" in capsys.readouterr().err
    with pytest.raises(InputError, match=r"\$\.facilities\[0\]: no facility with code 'SKIF'"):
        _user_command(*command, "--email", "k2@example.org", "--role", "coordinator", "--facility", "SKIF")


async def test_the_audit_log_answers_a_page_newest_first_with_the_total(
    client: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(sessions, "admin", "root@example.org")
    admin = await login(client, "root@example.org")
    for n in range(3):
        body = {"email": f"u{n}@example.org", "name": "U", "role": "proposer", "password": PASSWORD}
        assert (await client.post("/users", json=body, headers=admin)).status_code == 201

    first = (await client.get("/audit", params={"limit": 2}, headers=admin)).json()
    past_the_end = (await client.get("/audit", params={"offset": 10}, headers=admin)).json()

    assert (first["total"], first["limit"], first["offset"]) == (4, 2, 0), "the three and the admin's own"
    assert [entry["detail"]["email"] for entry in first["items"]] == ["u2@example.org", "u1@example.org"]
    assert past_the_end == {"items": [], "limit": 100, "offset": 10, "total": 4}


async def test_the_api_reads_only_the_bearer_token_and_the_dashboard_only_its_cookie(
    client: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(sessions, "admin", "root@example.org")
    bearer = await login(client, "root@example.org")
    token = bearer["Authorization"].removeprefix("Bearer ")

    with_a_cookie = await client.get("/me", cookies={COOKIE: token})
    page_with_a_bearer = await client.get("/ui/me", headers=bearer, follow_redirects=False)

    assert (with_a_cookie.status_code, with_a_cookie.headers["www-authenticate"]) == (401, "Bearer")
    assert with_a_cookie.json()["detail"].startswith("sign in first")
    assert page_with_a_bearer.status_code == 303
    assert page_with_a_bearer.headers["location"].startswith("/ui/login")
    assert (await client.get("/calendar/not-a-feed.ics")).status_code != 401
    assert (await client.get("/schema/openapi.json")).status_code == 200


async def test_dashboard_posts_without_the_csrf_token_are_refused(
    client: Client, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(sessions, "proposer", "ada@example.org")
    assert (await client.get("/ui/login")).status_code == 200
    csrf = client.cookies[CSRF_COOKIE]

    signed_in = await client.post(
        "/ui/login",
        data={"email": "ada@example.org", "password": PASSWORD, "_csrf_token": csrf},
        follow_redirects=False,
    )
    forged_logout = await client.post("/ui/logout", follow_redirects=False)
    logout = await client.post("/ui/logout", headers={CSRF_HEADER: csrf}, follow_redirects=False)

    assert signed_in.status_code == 303 and COOKIE in signed_in.cookies
    assert forged_logout.status_code == 403
    assert (logout.status_code, logout.headers["location"]) == (303, "/ui/login")
    bearer = await login(client, "ada@example.org")
    assert (await client.get("/me", headers=bearer)).status_code == 200, "bearer calls need no CSRF token"


async def test_sign_in_attempts_are_limited_per_client(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(sessions, "proposer", "ada@example.org")
    async with api_client(database_url, login_attempts_per_minute=2) as client:
        attempts = [
            await client.post("/auth/login", json={"email": "ada@example.org", "password": "guess"}),
            await client.post("/ui/login", data={"email": "ada@example.org", "password": "guess"}),
            await client.post("/auth/login", json={"email": "ada@example.org", "password": PASSWORD}),
        ]
        other_endpoints = await client.get("/schema/openapi.json")

    assert [attempt.status_code for attempt in attempts][::2] == [401, 429]
    refused = attempts[-1]
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert (refused.json()["status"], refused.json()["instance"]) == (429, "/auth/login")
    assert other_endpoints.status_code == 200


def _transaction_app(database_url: str) -> Litestar:
    """An app with the API's database plugin and problem details, and handlers that write a user, then answer."""

    def user(email: str) -> User:
        return User(email=email, name="N", role="proposer", password_hash="x")

    @post("/created", status_code=201)
    async def created(db_session: Session) -> None:
        db_session.add(user("created@example.org"))

    @post("/raised")
    async def raised(db_session: Session) -> None:
        db_session.add(user("raised@example.org"))
        await db_session.flush()
        raise RuntimeError("a bug, with a secret local value")

    @post("/fails-at-commit", status_code=201)
    async def fails_at_commit(db_session: Session) -> None:
        db_session.add_all([user("twice@example.org"), user("twice@example.org")])

    @post("/refused")
    async def refused(db_session: Session) -> Response[None]:
        db_session.add(user("refused@example.org"))
        await db_session.flush()
        return Response(None, status_code=409)

    engine = create_engine(database_url)
    return Litestar(
        route_handlers=[created, raised, fails_at_commit, refused],
        plugins=[PROBLEM_DETAILS, database_plugin(engine, session_maker(engine), writes_at_once=2)],
        exception_handlers=LOGGED_ERRORS,
    )


async def test_a_request_commits_only_when_it_succeeds_and_errors_show_no_internals(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with AsyncTestClient(app=_transaction_app(database_url), raise_server_exceptions=False) as client:
        answers = [await client.post(path) for path in ("/created", "/raised", "/fails-at-commit", "/refused")]

    assert [answer.status_code for answer in answers] == [201, 500, 500, 409], "a failed commit is no success"
    assert answers[1].json()["detail"] == "an internal error; it has been logged"
    assert "secret" not in answers[1].text and "Traceback" not in answers[1].text
    async with sessions() as session:
        stored = (await session.execute(select(col(User.email)))).scalars().all()
    assert stored == ["created@example.org"]
