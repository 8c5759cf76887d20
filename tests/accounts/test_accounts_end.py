"""Accounts that can be ended: deactivation, a new role or facilities, a new password and signing out end the
account's tokens; failed sign-ins are audited and lock an e-mail address after too many."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.web.session import COOKIE, CSRF_COOKIE, CSRF_HEADER
from tests.api_helpers import PASSWORD, Client, api_client, login, make_user

Sessions = async_sessionmaker[AsyncSession]
PROBLEM_JSON = "application/problem+json"
NEW_PASSWORD = "a new and better passphrase"


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[Client]:
    async with api_client(database_url) as client:
        yield client


async def _admin(client: Client, sessions: Sessions) -> dict[str, str]:
    await make_user(sessions, "admin", "root@example.org")
    return await login(client, "root@example.org")


async def _audit(client: Client, admin: dict[str, str], **filters: Any) -> list[dict[str, Any]]:
    response = await client.get("/audit", params=filters, headers=admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _error_paths(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    return [error["path"] for error in response.json()["errors"]]


async def test_a_deactivated_users_token_answers_401_at_once(client: Client, sessions: Sessions) -> None:
    admin = await _admin(client, sessions)
    ada_id = await make_user(sessions, "proposer", "ada@example.org")
    ada = await login(client, "ada@example.org")
    assert (await client.get("/me", headers=ada)).status_code == 200

    ended = await client.patch(f"/users/{ada_id}", json={"active": False}, headers=admin)

    assert ended.status_code == 200, ended.text
    assert ended.json()["active"] is False
    assert (await client.get("/me", headers=ada)).status_code == 401
    signing_in = await client.post("/auth/login", json={"email": "ada@example.org", "password": PASSWORD})
    assert signing_in.status_code == 401
    assert (await client.patch(f"/users/{ada_id}", json={"active": True}, headers=admin)).status_code == 200
    assert (await client.get("/me", headers=ada)).status_code == 401, "a reactivated account's old tokens stay ended"
    assert (await client.get("/me", headers=await login(client, "ada@example.org"))).status_code == 200
    [reactivation, deactivation, *_] = await _audit(client, admin, entity="user", entity_id=str(ada_id))
    assert (deactivation["action"], deactivation["detail"]) == (
        "user.update",
        {"before": {"active": True}, "after": {"active": False}},
    )
    assert reactivation["detail"] == {"before": {"active": False}, "after": {"active": True}}


async def test_another_process_ends_the_token_within_the_account_cache_time(
    database_url: str, sessions: Sessions
) -> None:
    cache_seconds = 0.5
    ada_id = await make_user(sessions, "proposer", "ada@example.org")
    await make_user(sessions, "admin", "root@example.org")
    async with (
        api_client(database_url, account_cache_seconds=cache_seconds) as first,
        api_client(database_url, account_cache_seconds=cache_seconds) as second,
    ):
        ada = await login(second, "ada@example.org")
        assert (await second.get("/me", headers=ada)).status_code == 200, "the second process now caches the account"

        admin = await login(first, "root@example.org")
        assert (await first.patch(f"/users/{ada_id}", json={"active": False}, headers=admin)).status_code == 200
        await asyncio.sleep(cache_seconds + 0.1)

        assert (await second.get("/me", headers=ada)).status_code == 401


async def test_an_admin_demoted_to_proposer_loses_the_admin_endpoints(client: Client, sessions: Sessions) -> None:
    root = await _admin(client, sessions)
    grace_id = await make_user(sessions, "admin", "grace@example.org")
    grace = await login(client, "grace@example.org")
    assert (await client.get("/users", headers=grace)).status_code == 200

    demoted = await client.patch(f"/users/{grace_id}", json={"role": "proposer"}, headers=root)

    assert (demoted.status_code, demoted.json()["role"]) == (200, "proposer")
    assert (await client.get("/users", headers=grace)).status_code == 401, "the admin's token ended"
    grace = await login(client, "grace@example.org")
    assert (await client.get("/users", headers=grace)).status_code == 403
    assert (await client.get("/audit", headers=grace)).status_code == 403
    assert (await client.get("/me", headers=grace)).json()["role"] == "proposer"
    [entry, *_] = await _audit(client, root, entity="user", entity_id=str(grace_id))
    assert entry["detail"] == {"before": {"role": "admin"}, "after": {"role": "proposer"}}


async def test_the_last_active_admin_cannot_be_ended(client: Client, sessions: Sessions) -> None:
    root = await _admin(client, sessions)
    root_id = (await client.get("/me", headers=root)).json()["id"]

    for change in ({"active": False}, {"role": "coordinator"}):
        refused = await client.patch(f"/users/{root_id}", json=change, headers=root)
        assert refused.status_code == 409, change
        assert "last active admin" in refused.json()["detail"]
    assert (await client.get("/users", headers=root)).status_code == 200
    await make_user(sessions, "admin", "grace@example.org")
    assert (await client.patch(f"/users/{root_id}", json={"active": False}, headers=root)).status_code == 200


async def test_a_coordinators_facilities_change_and_end_their_tokens(client: Client, sessions: Sessions) -> None:
    admin = await _admin(client, sessions)
    for code in ("SKIF", "NICA"):
        facility = {"code": code, "name": code, "country": "RU", "timezone": "Europe/Moscow"}
        assert (await client.post("/facilities", json=facility, headers=admin)).status_code == 201
    kate_id = await make_user(sessions, "coordinator", "kate@example.org", facility_codes=["SKIF"])
    kate = await login(client, "kate@example.org")

    widened = await client.patch(f"/users/{kate_id}", json={"facilities": ["SKIF", "NICA", "NICA"]}, headers=admin)

    assert widened.json()["facilities"] == ["NICA", "SKIF"]
    assert (await client.get("/me", headers=kate)).status_code == 401, "claims carry the facilities: the token ended"
    kate = await login(client, "kate@example.org")
    assert (await client.get("/me", headers=kate)).json()["facilities"] == ["NICA", "SKIF"]
    unchanged = await client.patch(f"/users/{kate_id}", json={"role": "coordinator"}, headers=admin)
    assert unchanged.status_code == 200
    assert (await client.get("/me", headers=kate)).status_code == 200, "a change that changes nothing ends nothing"
    demoted = await client.patch(f"/users/{kate_id}", json={"role": "reviewer"}, headers=admin)
    assert (demoted.json()["role"], demoted.json()["facilities"]) == ("reviewer", [])
    [entry, *_] = await _audit(client, admin, entity="user", entity_id=str(kate_id))
    assert entry["detail"] == {
        "before": {"role": "coordinator", "facilities": ["NICA", "SKIF"]},
        "after": {"role": "reviewer", "facilities": []},
    }


async def test_user_changes_are_refused_with_the_field_named(client: Client, sessions: Sessions) -> None:
    admin = await _admin(client, sessions)
    ada_id = await make_user(sessions, "proposer", "ada@example.org")
    ada = await login(client, "ada@example.org")

    assert _error_paths(await client.patch(f"/users/{ada_id}", json={"facilities": ["NOPE"]}, headers=admin)) == [
        "$.facilities"
    ]
    coordinator = {"role": "coordinator", "facilities": ["NOPE"]}
    assert _error_paths(await client.patch(f"/users/{ada_id}", json=coordinator, headers=admin)) == ["$.facilities[0]"]
    bad = {"active": None, "role": "boss", "email": "x@example.org"}
    assert sorted(_error_paths(await client.patch(f"/users/{ada_id}", json=bad, headers=admin))) == [
        "$.active",
        "$.email",
        "$.role",
    ]
    assert (await client.patch("/users/999999", json={"active": False}, headers=admin)).status_code == 404
    assert (await client.patch(f"/users/{ada_id}", json={"active": False}, headers=ada)).status_code == 403
    assert (
        await client.post(f"/users/{ada_id}/password", json={"password": NEW_PASSWORD}, headers=ada)
    ).status_code == 403
    assert (await client.get("/me", headers=ada)).status_code == 200, "nothing refused ended anything"


async def test_signing_out_ends_every_token_of_the_account(client: Client, sessions: Sessions) -> None:
    admin = await _admin(client, sessions)
    ada_id = await make_user(sessions, "proposer", "ada@example.org")
    laptop, phone = await login(client, "ada@example.org"), await login(client, "ada@example.org")

    signed_out = await client.post("/auth/logout", headers=laptop)

    assert signed_out.status_code == 204
    assert (await client.get("/me", headers=laptop)).status_code == 401
    assert (await client.get("/me", headers=phone)).status_code == 401
    assert (await client.post("/auth/logout", headers=laptop)).status_code == 401
    assert (await client.post("/auth/logout")).status_code == 401
    assert (await client.get("/me", headers=await login(client, "ada@example.org"))).status_code == 200
    [entry] = await _audit(client, admin, entity="user", entity_id=str(ada_id), user_id=ada_id)
    assert entry["action"] == "auth.logout"


async def test_signing_out_of_the_dashboard_ends_the_sessions_token(client: Client, sessions: Sessions) -> None:
    await make_user(sessions, "proposer", "ada@example.org")
    await client.get("/ui/login")
    csrf = client.cookies[CSRF_COOKIE]
    signed_in = await client.post(
        "/ui/login",
        data={"email": "ada@example.org", "password": PASSWORD, "_csrf_token": csrf},
        follow_redirects=False,
    )
    token = signed_in.cookies[COOKIE]
    assert (await client.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200

    signed_out = await client.post("/ui/logout", headers={CSRF_HEADER: csrf}, follow_redirects=False)

    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/ui/login")
    assert (await client.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    client.cookies.set(COOKIE, token)
    kept_cookie = await client.get("/ui/me", follow_redirects=False)
    assert (kept_cookie.status_code, kept_cookie.headers["location"]) == (303, "/ui/login?next=/ui/me")


async def test_a_password_change_ends_the_other_tokens_and_answers_a_new_one(
    client: Client, sessions: Sessions
) -> None:
    admin = await _admin(client, sessions)
    ada_id = await make_user(sessions, "proposer", "ada@example.org")
    laptop, phone = await login(client, "ada@example.org"), await login(client, "ada@example.org")

    changed = await client.post(
        "/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=laptop
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["expires_in"] == 3600
    fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert (await client.get("/me", headers=fresh)).status_code == 200
    assert (await client.get("/me", headers=laptop)).status_code == 401
    assert (await client.get("/me", headers=phone)).status_code == 401
    old = await client.post("/auth/login", json={"email": "ada@example.org", "password": PASSWORD})
    assert old.status_code == 401
    assert (await client.get("/me", headers=await login(client, "ada@example.org", NEW_PASSWORD))).status_code == 200
    [entry] = await _audit(client, admin, entity="user", user_id=ada_id)
    assert entry["action"] == "user.password_change"
    assert NEW_PASSWORD not in str(entry) and PASSWORD not in str(entry)


async def test_a_password_change_refuses_a_wrong_current_password_and_a_weak_new_one(
    client: Client, sessions: Sessions
) -> None:
    admin = await _admin(client, sessions)
    await make_user(sessions, "proposer", "ada@example.org")
    ada = await login(client, "ada@example.org")

    def change(current: str, new: str) -> dict[str, str]:
        return {"current_password": current, "new_password": new}

    wrong = await client.post("/me/password", json=change("not my password", NEW_PASSWORD), headers=ada)
    assert _error_paths(wrong) == ["$.current_password"]
    for weak in ("short", "          ", "  Ada@Example.org "):
        assert _error_paths(await client.post("/me/password", json=change(PASSWORD, weak), headers=ada)) == [
            "$.new_password"
        ], weak
    assert (await client.get("/me", headers=ada)).status_code == 200, "a refused change ends nothing"
    [failure] = await _audit(client, admin, entity="login", entity_id="ada@example.org")
    assert (failure["action"], failure["detail"]["email"]) == ("auth.login_failed", "ada@example.org")


async def test_an_admin_resets_a_password_and_the_users_tokens_end(client: Client, sessions: Sessions) -> None:
    admin = await _admin(client, sessions)
    ada_id = await make_user(sessions, "proposer", "ada@example.org")
    ada = await login(client, "ada@example.org")

    reset = await client.post(f"/users/{ada_id}/password", json={"password": NEW_PASSWORD}, headers=admin)

    assert reset.status_code == 204, reset.text
    assert (await client.get("/me", headers=ada)).status_code == 401
    assert (await client.get("/me", headers=await login(client, "ada@example.org", NEW_PASSWORD))).status_code == 200
    as_email = await client.post(f"/users/{ada_id}/password", json={"password": "ada@example.org"}, headers=admin)
    assert _error_paths(as_email) == ["$.password"]
    assert as_email.json()["errors"][0]["message"] == "a password may not be the account's e-mail address"
    assert (
        await client.post("/users/999999/password", json={"password": NEW_PASSWORD}, headers=admin)
    ).status_code == 404
    [entry, *_] = await _audit(client, admin, entity="user", entity_id=str(ada_id))
    assert (entry["action"], entry["detail"]) == ("user.password_reset", {})


async def test_a_new_users_password_is_not_blank_nor_the_e_mail(client: Client, sessions: Sessions) -> None:
    admin = await _admin(client, sessions)

    for password in ("kate@example.org", "         "):
        body = {"email": "Kate@Example.org", "name": "Kate", "role": "proposer", "password": password}
        assert _error_paths(await client.post("/users", json=body, headers=admin)) == ["$.password"], password


@pytest.mark.parametrize("has_an_account", [True, False])
async def test_eleven_wrong_passwords_lock_the_e_mail_address(
    client: Client, sessions: Sessions, has_an_account: bool
) -> None:
    admin = await _admin(client, sessions)
    if has_an_account:
        await make_user(sessions, "proposer", "ada@example.org")
    guesses = [
        await client.post("/auth/login", json={"email": "Ada@Example.org", "password": f"guess {n}"}) for n in range(10)
    ]

    locked = await client.post("/auth/login", json={"email": "ada@example.org", "password": PASSWORD})
    await client.get("/ui/login")
    on_the_dashboard = await client.post(
        "/ui/login",
        data={"email": "ada@example.org", "password": PASSWORD, "_csrf_token": client.cookies[CSRF_COOKIE]},
    )

    assert [guess.status_code for guess in guesses] == [401] * 10
    assert locked.status_code == 429
    assert locked.headers["content-type"] == PROBLEM_JSON
    assert 14 * 60 < int(locked.headers["retry-after"]) <= 15 * 60
    assert (locked.json()["status"], locked.json()["instance"]) == (429, "/auth/login")
    assert on_the_dashboard.status_code == 429
    assert 14 * 60 < int(on_the_dashboard.headers["retry-after"]) <= 15 * 60
    assert "Too many failed sign-ins" in on_the_dashboard.text
    assert COOKIE not in on_the_dashboard.cookies
    failures = await _audit(client, admin, entity="login", entity_id="ada@example.org")
    assert len(failures) == 10, "attempts refused by the lock are not counted"
    assert {entry["action"] for entry in failures} == {"auth.login_failed"}
    assert {entry["detail"]["email"] for entry in failures} == {"ada@example.org"}
    assert all(entry["detail"]["client"] for entry in failures)
    assert "guess" not in str(failures)
    assert (await client.get("/me", headers=await login(client, "root@example.org"))).status_code == 200


async def test_the_lock_ends_when_the_window_has_passed(database_url: str, sessions: Sessions) -> None:
    await make_user(sessions, "proposer", "ada@example.org")
    async with api_client(database_url, login_failures_per_account=2, login_failure_window_minutes=0.02) as client:
        for _ in range(2):
            await client.post("/auth/login", json={"email": "ada@example.org", "password": "guess"})
        locked = await client.post("/auth/login", json={"email": "ada@example.org", "password": PASSWORD})
        assert locked.status_code == 429
        assert 1 <= int(locked.headers["retry-after"]) <= 2
        await asyncio.sleep(1.3)

        assert (
            await client.post("/auth/login", json={"email": "ada@example.org", "password": PASSWORD})
        ).status_code == 200


async def test_a_sign_in_with_control_characters_is_refused_and_audited(client: Client, sessions: Sessions) -> None:
    admin = await _admin(client, sessions)

    refused = await client.post("/auth/login", json={"email": "ada\x00@example.org", "password": PASSWORD})

    assert refused.status_code == 401
    [entry] = await _audit(client, admin, entity="login")
    assert entry["detail"]["email"] == "ada\\x00@example.org"
