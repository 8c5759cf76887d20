"""Solve runs through HTTP, on SQLite and PostgreSQL: 202 and Location, progress, cancel, files, access."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fixtures import FOLDER
from scheduler.db.tables import Facility
from scheduler.roundfile.checks import load_round
from scheduler.rounds.importer import import_round
from tests.api_helpers import Client, api_client, login, make_user

FIXTURES = FOLDER
LONG_SOLVE = 30.0


async def _round(sessions: async_sessionmaker[AsyncSession], name: str, code: str | None = None) -> int:
    """The fixture round `name` imported, under another round id when `code` is given."""
    round_file = load_round(FIXTURES / name)
    if code is not None:
        round_file = round_file.model_copy(update={"round": round_file.round.model_copy(update={"id": code})})
    async with sessions.begin() as session:
        return await import_round(session, round_file)


async def _coordinator(client: Client, sessions: async_sessionmaker[AsyncSession], *facilities: str) -> dict[str, str]:
    email = f"coordinator-{'-'.join(facilities)}-{time.monotonic_ns()}@example.org"
    await make_user(sessions, "coordinator", email, facility_codes=facilities)
    return await login(client, email)


async def _until(client: Client, url: str, headers: dict[str, str], done: Any) -> dict[str, Any]:
    """Polls `url` until `done(body)`."""
    deadline = time.monotonic() + LONG_SOLVE
    while time.monotonic() < deadline:
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if done(body):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never got there")


async def test_a_coordinator_starts_watches_and_cancels_a_solve_keeping_its_best_schedule(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    round_id = await _round(sessions, "rounds/medium.json")
    async with api_client(database_url, start_worker=True, worker_poll_seconds=0.05) as client:
        headers = await _coordinator(client, sessions, "PIK")

        started = await client.post(
            f"/rounds/{round_id}/solves", json={"time_limit": LONG_SOLVE, "workers": 1, "seed": 3}, headers=headers
        )
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        queued = started.json()
        assert location == f"/solves/{queued['id']}" == queued["url"]
        assert queued["state"] == "queued"
        assert queued["settings"] == {"time_limit": LONG_SOLVE, "workers": 1, "seed": 3}

        running = await _until(client, location, headers, lambda run: run["progress"] is not None)
        assert running["state"] == "running"
        assert set(running["progress"]) == {"elapsed", "objective", "bound", "phase"}
        assert running["input_url"] == f"{location}/input"
        listed = await client.get(f"/rounds/{round_id}/solves", headers=headers)
        assert [run["id"] for run in listed.json()["items"]] == [queued["id"]]

        cancelling = await client.delete(location, headers=headers)
        assert cancelling.status_code == 202, cancelling.text
        assert cancelling.json()["cancel_requested"] is True
        cancelled = await _until(client, location, headers, lambda run: run["state"] != "running")

        assert cancelled["state"] == "cancelled"
        assert cancelled["progress"]["elapsed"] < LONG_SOLVE / 2
        result = cancelled["result"]
        assert result["status"] == "feasible" and result["schedule_version_id"] is not None
        output = await client.get(cancelled["output_url"], headers=headers)
        assert output.status_code == 200
        assert output.json()["objective"] == result["objective"]
        assert output.json()["allocations"]
        round_file = await client.get(cancelled["input_url"], headers=headers)
        assert round_file.json()["round"]["id"] == "2027-I"
        ended = await client.delete(location, headers=headers)
        assert ended.status_code == 409, ended.text
        assert ended.headers["content-type"].startswith("application/problem+json")
        assert "has ended already (cancelled)" in ended.json()["detail"]


async def test_cancelling_a_queued_solve_ends_it_at_once_without_output(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    round_id = await _round(sessions, "example-round.json")
    async with api_client(database_url) as client:
        headers = await _coordinator(client, sessions, "SKIF")
        started = await client.post(f"/rounds/{round_id}/solves", json={}, headers=headers)
        location = started.headers["location"]
        assert started.json()["settings"]["time_limit"] == 60.0, "the service's default"

        cancelled = await client.delete(location, headers=headers)
        assert cancelled.status_code == 202
        assert (cancelled.json()["state"], cancelled.json()["output_url"]) == ("cancelled", None)
        assert (await client.get(f"{location}/output", headers=headers)).status_code == 404
        assert (await client.get(f"{location}/input", headers=headers)).status_code == 404
        again = await client.delete(location, headers=headers)
        assert again.status_code == 409, "a cancelled solve has ended: nothing is left to cancel"
        assert (await client.get(location, headers=headers)).json()["state"] == "cancelled"


async def test_a_solve_started_without_a_body_takes_the_defaults(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    round_id = await _round(sessions, "example-round.json")
    async with api_client(database_url) as client:
        headers = await _coordinator(client, sessions, "SKIF")
        started = await client.post(f"/rounds/{round_id}/solves", headers=headers)
        assert started.status_code == 202, started.text
        assert started.headers["location"] == started.json()["url"]
        assert started.json()["settings"] == {"time_limit": 60.0, "workers": 2, "seed": 0}


async def test_the_solve_list_is_a_page_newest_first_with_the_total(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    round_id = await _round(sessions, "example-round.json")
    async with api_client(database_url) as client:
        headers = await _coordinator(client, sessions, "SKIF")
        started = []
        for seed in range(3):  # one solve of a round under way at a time: each is cancelled before the next
            run = (await client.post(f"/rounds/{round_id}/solves", json={"seed": seed}, headers=headers)).json()
            assert (await client.delete(run["url"], headers=headers)).status_code == 202
            started.append(run["id"])
        first = await client.get(f"/rounds/{round_id}/solves?limit=2", headers=headers)
        rest = await client.get(f"/rounds/{round_id}/solves?limit=2&offset=2", headers=headers)

    assert first.status_code == 200, first.text
    assert [run["id"] for run in first.json()["items"]] == started[:0:-1]
    assert (first.json()["limit"], first.json()["offset"], first.json()["total"]) == (2, 0, 3)
    assert [run["id"] for run in rest.json()["items"]] == started[:1]
    assert rest.json()["total"] == 3


async def test_bad_solve_settings_are_refused_naming_every_field(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    round_id = await _round(sessions, "example-round.json")
    async with api_client(database_url) as client:
        headers = await _coordinator(client, sessions, "SKIF")
        refused = await client.post(
            f"/rounds/{round_id}/solves",
            json={"time_limit": -1, "workers": 0, "seed": "x", "priority": 1},
            headers=headers,
        )
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
        paths = {error["path"] for error in refused.json()["errors"]}
        assert paths == {"$.time_limit", "$.workers", "$.seed", "$.priority"}
        listed = await client.get(f"/rounds/{round_id}/solves", headers=headers)
        assert (listed.json()["items"], listed.json()["total"]) == ([], 0), "a refused request queues nothing"


async def test_only_the_rounds_coordinators_and_admins_see_its_solves(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    round_id = await _round(sessions, "example-round.json")
    async with sessions.begin() as session:
        session.add(Facility(code="ELSEWHERE", name="Another facility", country="RU", timezone="Europe/Moscow"))
    async with api_client(database_url) as client:
        own = await _coordinator(client, sessions, "PIK")
        other = await _coordinator(client, sessions, "ELSEWHERE")
        started = await client.post(f"/rounds/{round_id}/solves", json={"time_limit": 1}, headers=own)
        run = started.headers["location"]
        admin_email, proposer_email, reviewer_email = "admin@example.org", "p@example.org", "r@example.org"
        await make_user(sessions, "admin", admin_email)
        await make_user(sessions, "proposer", proposer_email)
        await make_user(sessions, "reviewer", reviewer_email)
        admin = await login(client, admin_email)
        proposer = await login(client, proposer_email)
        reviewer = await login(client, reviewer_email)

        reads = [run, f"/rounds/{round_id}/solves"]
        for url in reads:
            assert (await client.get(url, headers=own)).status_code == 200
            assert (await client.get(url, headers=admin)).status_code == 200
            assert (await client.get(url)).status_code == 401
            for outsider in (proposer, reviewer):
                assert (await client.get(url, headers=outsider)).status_code == 403
        for url in (run, f"{run}/input", f"{run}/output"):
            assert (await client.get(url, headers=other)).status_code == 404
        assert (await client.delete(run, headers=other)).status_code == 404
        assert (await client.delete(run, headers=proposer)).status_code == 403
        assert (await client.delete(run)).status_code == 401
        start = f"/rounds/{round_id}/solves"
        assert (await client.post(start, json={}, headers=other)).status_code == 403
        assert (await client.post(start, json={}, headers=proposer)).status_code == 403
        assert (await client.post(start, json={})).status_code == 401
        assert (await client.get(start, headers=other)).status_code == 403
        assert (await client.post("/rounds/999999/solves", json={}, headers=admin)).status_code == 404
        assert (await client.get("/solves/999999", headers=admin)).status_code == 404

        assert (await client.get(run, headers=own)).json()["state"] == "queued", "nobody else cancelled it"


async def test_time_limit_and_workers_above_the_services_caps_are_refused_naming_each(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    round_id = await _round(sessions, "example-round.json")
    async with api_client(database_url, solve_max_time_limit=100.0, solve_max_workers=4) as client:
        headers = await _coordinator(client, sessions, "SKIF")
        start = f"/rounds/{round_id}/solves"

        refused = await client.post(start, json={"time_limit": 100.5, "workers": 5}, headers=headers)
        assert refused.status_code == 422, refused.text
        problems = {error["path"]: error["message"] for error in refused.json()["errors"]}
        assert problems == {"$.time_limit": "at most 100 seconds, got 100.5", "$.workers": "at most 4, got 5"}
        assert (await client.get(start, headers=headers)).json()["total"] == 0, "a refused start queues nothing"

        at_the_caps = await client.post(start, json={"time_limit": 100, "workers": 4}, headers=headers)
        assert at_the_caps.status_code == 202, at_the_caps.text
        assert at_the_caps.json()["settings"] == {"time_limit": 100.0, "workers": 4, "seed": 0}


async def test_a_round_has_one_solve_under_way_and_a_second_start_names_it(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    round_id = await _round(sessions, "example-round.json")
    async with api_client(database_url) as client:
        first_coordinator = await _coordinator(client, sessions, "SKIF")
        second_coordinator = await _coordinator(client, sessions, "SKIF")
        start = f"/rounds/{round_id}/solves"
        queued = (await client.post(start, json={}, headers=first_coordinator)).json()

        for headers in (first_coordinator, second_coordinator):
            again = await client.post(start, json={}, headers=headers)
            assert again.status_code == 409, again.text
            assert again.headers["content-type"].startswith("application/problem+json")
            assert f"the round has solve {queued['id']} under way" in again.json()["detail"]
        assert (await client.get(start, headers=first_coordinator)).json()["total"] == 1

        assert (await client.delete(queued["url"], headers=first_coordinator)).status_code == 202
        after_it_ended = await client.post(start, json={}, headers=second_coordinator)
        assert after_it_ended.status_code == 202, "a cancelled solve is no longer under way"


async def test_two_starts_at_once_queue_one_solve(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    round_id = await _round(sessions, "example-round.json")
    async with api_client(database_url) as client:
        headers = await _coordinator(client, sessions, "SKIF")
        start = f"/rounds/{round_id}/solves"

        answers = await asyncio.gather(*(client.post(start, json={"seed": seed}, headers=headers) for seed in range(4)))

        assert sorted(answer.status_code for answer in answers) == [202, 409, 409, 409]
        assert (await client.get(start, headers=headers)).json()["total"] == 1


async def test_a_user_has_at_most_the_settings_count_of_solves_under_way(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    rounds = [await _round(sessions, "example-round.json", code=f"2027-I-{n}") for n in range(3)]
    async with api_client(database_url, solve_runs_per_user=2) as client:
        busy = await _coordinator(client, sessions, "SKIF")
        other = await _coordinator(client, sessions, "SKIF")
        first, second = [
            (await client.post(f"/rounds/{round_id}/solves", json={}, headers=busy)).json() for round_id in rounds[:2]
        ]

        third = await client.post(f"/rounds/{rounds[2]}/solves", json={}, headers=busy)
        assert third.status_code == 409, third.text
        assert f"you have 2 solves under way ({first['id']}, {second['id']})" in third.json()["detail"]
        by_someone_else = await client.post(f"/rounds/{rounds[2]}/solves", json={}, headers=other)
        assert by_someone_else.status_code == 202, "the cap is per user"

        assert (await client.delete(first["url"], headers=busy)).status_code == 202
        assert (await client.post(f"/rounds/{rounds[0]}/solves", json={}, headers=busy)).status_code == 202
