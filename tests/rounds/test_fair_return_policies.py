"""Fair return from the database, through the API on SQLite and PostgreSQL: a consortium's policy is configured once,
rounds are attached to it, and a round's export (and so its solve) carries the history read off the published
schedules of the earlier rounds, so that the second round repays what the first left India owed."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from scheduler.db.tables import Round
from scheduler.jobs import Worker
from scheduler.roundfile.contract import FairReturnTarget
from scheduler.settings import Settings
from tests.api_helpers import Client, api_client, login, make_user
from tests.roundfile.test_fair_return_rounds import _round as one_beamline_round

Sessions = async_sessionmaker[AsyncSession]
INDIA = {"id": "india", "category": {"country": "IN"}, "share": 0.3}
POLICY = {"name": "SKIF partner consortium", "targets": [INDIA], "attribution": "pi", "price_per_shift": 2.0}
WORKER = Settings(worker_poll_seconds=0.05)


def _round_file(code: str, start: str, end: str, proposals: list[tuple[str, str, float]]) -> dict[str, Any]:
    """One 20-shift beamline of SKIF from `start`; each proposal (id, PI country, priority) asks for 10 shifts."""
    document = one_beamline_round(code, proposals, None).model_dump(mode="json", exclude_none=True)
    document["round"] |= {"start": start, "end": end}
    return document


def _first_round() -> dict[str, Any]:
    """2026-II, published as it was run: the two Russian proposals got the whole beamline, India nothing."""
    document = _round_file(
        "2026-II",
        "2026-07-01T00:00:00Z",
        "2026-07-07T16:00:00Z",
        [("R1", "RU", 3.0), ("R2", "RU", 2.5), ("I1", "IN", 2.4)],
    )
    document["previous_schedule"] = [
        {"request": "R1-a", "instrument": "SKIF-1", "start_shift": 0, "shifts": 10},
        {"request": "R2-a", "instrument": "SKIF-1", "start_shift": 10, "shifts": 10},
    ]
    return document


def _second_round() -> dict[str, Any]:
    """On its own worth more to R4 (25 - 2 x 6 owed = 13 against India's 10); with history, India's I2 gets the time."""
    return _round_file(
        "2027-I",
        "2027-01-01T00:00:00Z",
        "2027-01-07T16:00:00Z",
        [("R3", "RU", 3.0), ("R4", "RU", 2.5), ("I2", "IN", 1.0)],
    )


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def _import(client: Client, headers: dict[str, str], document: dict[str, Any]) -> int:
    identifier: int = _ok(await client.post("/rounds/import", json=document, headers=headers), 201)["id"]
    return identifier


async def _two_rounds_under_a_policy(
    client: Client, sessions: Sessions, first_round: dict[str, Any] | None = None
) -> tuple[dict[str, dict[str, str]], int, int, int]:
    """Both rounds imported by an admin, attached by a coordinator of SKIF; a coordinator of KISI looks on."""
    await make_user(sessions, "admin", "admin@example.org")
    admin = await login(client, "admin@example.org")
    first = await _import(client, admin, first_round or _first_round())
    second = await _import(client, admin, _second_round())
    kisi = {"code": "KISI", "name": "KISI", "country": "RU", "timezone": "Europe/Moscow"}
    _ok(await client.post("/facilities", json=kisi, headers=admin), 201)
    await make_user(sessions, "coordinator", "skif@example.org", facility_codes=["SKIF"])
    await make_user(sessions, "coordinator", "kisi@example.org", facility_codes=["KISI"])
    people = {
        "admin": admin,
        "skif": await login(client, "skif@example.org"),
        "kisi": await login(client, "kisi@example.org"),
    }
    policy = _ok(await client.post("/fair-return-policies", json=POLICY, headers=people["skif"]), 201)
    for round_id in (first, second):
        _ok(await client.put(f"/fair-return-policies/{policy['id']}/rounds/{round_id}", headers=people["skif"]))
    return people, policy["id"], first, second


async def _input_revision(sessions: Sessions, round_id: int) -> int:
    async with sessions() as session:
        revision = await session.scalar(select(col(Round.input_revision)).where(col(Round.id) == round_id))
    assert revision is not None
    return revision


async def test_the_export_carries_the_history_of_the_earlier_published_round(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url) as client:
        people, policy_id, first, second = await _two_rounds_under_a_policy(client, sessions)
        skif = people["skif"]

        exported = _ok(await client.get(f"/rounds/{second}/export", headers=skif))["fair_return"]
        assert [FairReturnTarget.model_validate(target) for target in exported["targets"]] == [
            FairReturnTarget.model_validate(INDIA)
        ]
        assert (exported["attribution"], exported["price_per_shift"]) == ("pi", 2.0)
        assert exported["history"] == [{"round": "2026-II", "target": "india", "shifts_total": 20.0, "shifts": 0.0}]
        # The first round has no earlier round: the policy, no history.
        assert _ok(await client.get(f"/rounds/{first}/export", headers=skif))["fair_return"]["history"] == []

        # A change to the policy changes the next export and counts as a change of what the round's solve reads.
        policy = await client.get(f"/fair-return-policies/{policy_id}", headers=skif)
        before = await _input_revision(sessions, second)
        change = {"targets": [INDIA | {"share": 0.4}]}
        stale = await client.patch(
            f"/fair-return-policies/{policy_id}", json=change, headers=skif | {"If-Match": '"0"'}
        )
        assert stale.status_code == 412, stale.text
        changed = await client.patch(
            f"/fair-return-policies/{policy_id}", json=change, headers=skif | {"If-Match": policy.headers["ETag"]}
        )
        assert _ok(changed)["rounds"] == ["2026-II", "2027-I"]
        assert changed.headers["ETag"] != policy.headers["ETag"]
        assert await _input_revision(sessions, second) > before
        exported = _ok(await client.get(f"/rounds/{second}/export", headers=skif))["fair_return"]
        assert exported["targets"][0]["share"] == 0.4

        # Detached, the round exports its own file's fair_return again: it had none.
        _ok(await client.delete(f"/fair-return-policies/{policy_id}/rounds/{second}", headers=skif))
        assert _ok(await client.get(f"/rounds/{second}/export", headers=skif))["fair_return"] is None
        listed = _ok(await client.get("/fair-return-policies", params={"limit": 1}, headers=people["kisi"]))
        assert (listed["total"], listed["items"][0]["rounds"]) == (1, ["2026-II"])


async def test_only_coordinators_of_every_facility_of_its_rounds_change_a_policy(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url) as client:
        people, policy_id, _, second = await _two_rounds_under_a_policy(client, sessions)
        kisi = people["kisi"]
        path = f"/fair-return-policies/{policy_id}"

        assert (await client.patch(path, json={"price_per_shift": 9.0}, headers=kisi)).status_code == 403
        assert (await client.delete(f"{path}/rounds/{second}", headers=kisi)).status_code == 403
        assert (await client.delete(path, headers=kisi)).status_code == 403
        assert _ok(await client.get(path, headers=kisi))["price_per_shift"] == 2.0
        # Bad input names its field; a policy rounds refer to is kept.
        refused = await client.patch(path, json={"targets": [INDIA | {"share": 1.5}]}, headers=people["skif"])
        assert refused.status_code == 400 or refused.status_code == 422, refused.text
        assert "targets" in refused.text
        assert (await client.delete(path, headers=people["admin"])).status_code == 409
        # A policy no round uses yet is any coordinator's.
        own = _ok(await client.post("/fair-return-policies", json=POLICY | {"name": "KISI"}, headers=kisi), 201)
        assert (await client.delete(f"/fair-return-policies/{own['id']}", headers=kisi)).status_code == 204
        # Attaching a SKIF round to it would give KISI's coordinator a say over SKIF's round: refused.
        own = _ok(await client.post("/fair-return-policies", json=POLICY | {"name": "KISI 2"}, headers=kisi), 201)
        attach = await client.put(f"/fair-return-policies/{own['id']}/rounds/{second}", headers=kisi)
        assert attach.status_code == 403, attach.text


async def test_the_second_round_repays_the_first_rounds_deficit(database_url: str, sessions: Sessions) -> None:
    async with api_client(database_url) as client:
        people, _, _, second = await _two_rounds_under_a_policy(client, sessions)
        skif = people["skif"]
        started = _ok(
            await client.post(f"/rounds/{second}/solves", json={"time_limit": 2, "workers": 1}, headers=skif), 202
        )
        await Worker(sessions, WORKER).drain(asyncio.Event())
        run = _ok(await client.get(f"/solves/{started['id']}", headers=skif))
        assert run["state"] == "done", run
        solved = _ok(await client.get(f"/solves/{started['id']}/input", headers=skif))
        assert solved["fair_return"]["history"][0]["round"] == "2026-II"
        schedule = _ok(await client.get(f"/solves/{started['id']}/output", headers=skif))
        assert {allocation["proposal"] for allocation in schedule["allocations"]} == {"R3", "I2"}
        (report,) = schedule["fair_return"]
        assert (report["id"], report["history_share"], report["round_share"], report["deficit"]) == (
            "india",
            0.0,
            0.5,
            2.0,
        )


async def test_an_imported_files_fair_return_is_kept_and_its_older_history_joins_the_policys(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url) as client:
        people, policy_id, _, _ = await _two_rounds_under_a_policy(client, sessions)
        document = _round_file(
            "2027-II", "2027-07-01T00:00:00Z", "2027-07-07T16:00:00Z", [("R5", "RU", 3.0), ("I3", "IN", 1.0)]
        )
        older = {"round": "2025-II", "target": "india", "shifts_total": 40.0, "shifts": 4.0}
        other_target = {"round": "2025-II", "target": "china", "shifts_total": 40.0, "shifts": 1.0}
        document["fair_return"] = {
            "targets": [INDIA, {"id": "china", "category": {"country": "CN"}, "share": 0.1}],
            "history": [older, other_target],
            "attribution": "team",
        }
        third = await _import(client, people["admin"], document)
        exported = _ok(await client.get(f"/rounds/{third}/export", headers=people["skif"]))["fair_return"]
        assert exported["history"] == [older, other_target]
        assert exported["attribution"] == "team"

        _ok(await client.put(f"/fair-return-policies/{policy_id}/rounds/{third}", headers=people["skif"]))
        exported = _ok(await client.get(f"/rounds/{third}/export", headers=people["skif"]))["fair_return"]
        assert [target["id"] for target in exported["targets"]] == ["india"]
        assert exported["attribution"] == "pi"
        assert [(entry["round"], entry["shifts"]) for entry in exported["history"]] == [
            ("2026-II", 0.0),
            ("2025-II", 4.0),
        ]


async def test_publishing_an_earlier_round_counts_as_a_change_of_the_later_rounds_solve_input(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url) as client:
        only_r1 = _first_round()
        only_r1["previous_schedule"] = only_r1["previous_schedule"][:1]
        people, _, first, second = await _two_rounds_under_a_policy(client, sessions, only_r1)
        admin = people["admin"]
        versions = _ok(await client.get(f"/rounds/{first}/schedules", headers=admin))
        (published,) = [version["id"] for version in versions["items"]]
        move = {"request": "R1-a", "instrument": "SKIF-1", "start_shift": 10, "shifts": 10}
        draft = _ok(await client.post(f"/schedules/{published}/moves", json=move, headers=admin), 201)["id"]
        before, untouched = await _input_revision(sessions, second), await _input_revision(sessions, first)

        publish = {"expected_revision": versions["revision"]}
        _ok(await client.post(f"/schedules/{draft}/publish", json=publish, headers=admin))

        assert await _input_revision(sessions, second) > before
        assert await _input_revision(sessions, first) == untouched
        history = _ok(await client.get(f"/rounds/{second}/export", headers=admin))["fair_return"]["history"]
        assert history == [{"round": "2026-II", "target": "india", "shifts_total": 10.0, "shifts": 0.0}]


async def test_a_change_of_an_earlier_published_rounds_proposals_counts_as_a_change_of_the_later_rounds_input(
    database_url: str, sessions: Sessions
) -> None:
    """Withdrawing R1 of the published 2026-II takes its 10 shifts out of what that round delivered, so the history
    the later round solves with changes: its input revision moves (a draft solved before is stale). A change of the
    later round moves nothing of the earlier one, which reads no history of later rounds."""
    async with api_client(database_url) as client:
        people, _, first, second = await _two_rounds_under_a_policy(client, sessions)
        admin = people["admin"]
        exported = _ok(await client.get(f"/rounds/{second}/export", headers=admin))["fair_return"]["history"]
        assert exported == [{"round": "2026-II", "target": "india", "shifts_total": 20.0, "shifts": 0.0}]
        proposals = _ok(await client.get("/proposals", params={"round_id": first}, headers=admin))["items"]
        (r1,) = [proposal["id"] for proposal in proposals if proposal["code"] == "R1"]
        first_before, second_before = await _input_revision(sessions, first), await _input_revision(sessions, second)

        _ok(await client.post(f"/proposals/{r1}/withdraw", headers=admin))

        assert await _input_revision(sessions, first) > first_before
        assert await _input_revision(sessions, second) > second_before
        exported = _ok(await client.get(f"/rounds/{second}/export", headers=admin))["fair_return"]["history"]
        assert exported == [{"round": "2026-II", "target": "india", "shifts_total": 10.0, "shifts": 0.0}]

        first_before = await _input_revision(sessions, first)
        later = _ok(await client.get("/proposals", params={"round_id": second}, headers=admin))["items"]
        (r3,) = [proposal["id"] for proposal in later if proposal["code"] == "R3"]
        _ok(await client.post(f"/proposals/{r3}/withdraw", headers=admin))
        assert await _input_revision(sessions, first) == first_before


async def test_an_admins_forced_import_that_moves_a_published_round_after_a_later_one_takes_it_out_of_its_history(
    database_url: str, sessions: Sessions
) -> None:
    """2026-II, published, is replaced by force with the same file dated after 2027-I: 2027-I no longer reads what
    it delivered, and its input revision moves (a draft solved on the old history is stale)."""
    async with api_client(database_url) as client:
        people, _, first, second = await _two_rounds_under_a_policy(client, sessions)
        admin = people["admin"]
        history = _ok(await client.get(f"/rounds/{second}/export", headers=admin))["fair_return"]["history"]
        assert [entry["round"] for entry in history] == ["2026-II"]
        second_before = await _input_revision(sessions, second)
        moved = _first_round()
        moved["round"] |= {"start": "2027-07-01T00:00:00Z", "end": "2027-07-07T16:00:00Z"}

        _ok(await client.put(f"/rounds/{first}/import?force=true", json=moved, headers=admin))

        assert await _input_revision(sessions, second) > second_before
        assert _ok(await client.get(f"/rounds/{second}/export", headers=admin))["fair_return"].get("history", []) == []
