"""A shared round belongs to all its facilities, over HTTP on SQLite and PostgreSQL: each coordinator reads the panel
results of the proposals asking for their facility, moves and pins on their instruments only, a draft is published
once every facility it changes signed off (or by an admin), and round-wide settings need every facility."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from scheduler.db.tables import Proposal
from tests.api_helpers import Client, api_client, login, make_user
from tests.web.test_dashboard import blocks_of, from_the_page, payload, schedule_of, sign_in

Sessions = async_sessionmaker[AsyncSession]
Headers = dict[str, str]

START, END = "2027-02-01T08:00:00+03:00", "2027-02-15T08:00:00+03:00"


def _facility(code: str, instrument: str) -> dict[str, Any]:
    return {
        "id": code,
        "name": code,
        "country": "RU",
        "timezone": "Europe/Moscow",
        "instruments": [{"id": instrument, "name": instrument, "techniques": ["mx"]}],
    }


def _proposal(code: str, priority: float, instruments: list[str], shifts: int) -> dict[str, Any]:
    return {
        "id": code,
        "title": f"Proposal {code}",
        "type": "standard",
        "pi": {"name": "A. Ivanova", "country": "RU"},
        "priority": priority,
        "requests": [{"id": f"{code}-a", "instruments": instruments, "shifts": shifts}],
    }


ROUND_FILE: dict[str, Any] = {
    "format": "beamtime-round/1",
    "round": {"id": "2027-shared", "name": "Shared round", "start": START, "end": END},
    "facilities": [_facility("SKIF", "SKIF-1-1"), _facility("PIK", "PIK-SANS")],
    "proposals": [
        _proposal("P-1", 3.0, ["SKIF-1-1"], 6),
        _proposal("P-2", 2.0, ["PIK-SANS"], 6),
        _proposal("P-3", 1.5, ["SKIF-1-1", "PIK-SANS"], 3),
        _proposal("P-4", 1.0, ["PIK-SANS"], 6),
    ],
    "previous_schedule": [
        {"request": "P-1-a", "instrument": "SKIF-1-1", "start_shift": 0, "shifts": 6},
        {"request": "P-2-a", "instrument": "PIK-SANS", "start_shift": 0, "shifts": 6},
        {"request": "P-3-a", "instrument": "SKIF-1-1", "start_shift": 6, "shifts": 3},
    ],
}
"""SKIF's proposals P-1 and (either facility) P-3, PIK's P-2, P-3 and P-4; P-4 is left unallocated."""


@dataclass
class Shared:
    client: Client
    round_id: int
    published: int
    admin: Headers
    skif: Headers
    pik: Headers
    proposer: Headers


async def _shared(client: Client, sessions: Sessions) -> Shared:
    await make_user(sessions, "admin", "admin@example.org")
    admin = await login(client, "admin@example.org")
    imported = await client.post("/rounds/import", json=ROUND_FILE, headers=admin)
    assert imported.status_code == 201, imported.text
    round_id = imported.json()["id"]
    await make_user(sessions, "coordinator", "skif@example.org", facility_codes=["SKIF"], name="Skif Coordinator")
    await make_user(sessions, "coordinator", "pik@example.org", facility_codes=["PIK"], name="Pik Coordinator")
    await make_user(sessions, "proposer", "proposer@example.org")
    listing = await client.get(f"/rounds/{round_id}/schedules", headers=admin)
    ((published,),) = [[v["id"] for v in listing.json()["items"]]]
    return Shared(
        client,
        round_id,
        published,
        admin,
        await login(client, "skif@example.org"),
        await login(client, "pik@example.org"),
        await login(client, "proposer@example.org"),
    )


async def _move(world: Shared, who: Headers, version: int, request: str, instrument: str, start: int) -> Any:
    shifts = {"P-1-a": 6, "P-2-a": 6, "P-3-a": 3, "P-4-a": 6}[request]
    move = {"request": request, "instrument": instrument, "start_shift": start, "shifts": shifts}
    return await world.client.post(f"/schedules/{version}/moves", json=move, headers=who)


async def _draft(world: Shared, who: Headers, version: int, request: str, instrument: str, start: int) -> int:
    response = await _move(world, who, version, request, instrument, start)
    assert response.status_code == 201, response.text
    draft: int = response.json()["id"]
    return draft


async def _both_changed(world: Shared) -> int:
    """A draft that moves P-1-a on SKIF's instrument and P-2-a on PIK's."""
    on_skif = await _draft(world, world.skif, world.published, "P-1-a", "SKIF-1-1", 12)
    return await _draft(world, world.pik, on_skif, "P-2-a", "PIK-SANS", 12)


async def _publish(world: Shared, who: Headers, version: int) -> Any:
    revision = (await world.client.get(f"/rounds/{world.round_id}/schedules", headers=world.admin)).json()["revision"]
    return await world.client.post(f"/schedules/{version}/publish", json={"expected_revision": revision}, headers=who)


async def _sign_offs(world: Shared, version: int) -> dict[str, Any]:
    response = await world.client.get(f"/schedules/{version}/sign-offs", headers=world.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _given(sign_offs: dict[str, Any]) -> list[tuple[str, str]]:
    return [(given["facility"], given["user_name"]) for given in sign_offs["given"]]


async def test_a_coordinator_reads_panel_results_of_their_facilities_proposals_only(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url) as client:
        world = await _shared(client, sessions)

        async def export(who: Headers) -> tuple[dict[str, float], set[str]]:
            response = await client.get(f"/schedules/{world.published}/export", headers=who)
            assert response.status_code == 200, response.text
            body = response.json()
            return {a["proposal"]: a["priority"] for a in body["allocations"]}, {
                u["request"] for u in body["unallocated"]
            }

        assert await export(world.admin) == ({"P-1": 3.0, "P-2": 2.0, "P-3": 1.5}, {"P-4-a"})
        assert await export(world.skif) == ({"P-1": 3.0, "P-2": 0.0, "P-3": 1.5}, set())
        assert await export(world.pik) == ({"P-1": 0.0, "P-2": 2.0, "P-3": 1.5}, {"P-4-a"})

        ranked = (await client.get(f"/rounds/{world.round_id}/ranking", headers=world.skif)).json()["items"]
        assert {row["proposal"] for row in ranked} == {"P-1", "P-3"}
        exported = (await client.get(f"/rounds/{world.round_id}/export", headers=world.skif)).json()
        assert {p["id"]: p.get("priority") for p in exported["proposals"]} == {
            "P-1": 3.0,
            "P-2": None,
            "P-3": 1.5,
            "P-4": None,
        }

        await sign_in(client, "skif@example.org")
        page = (await client.get(f"/ui/rounds/{world.round_id}")).text
        data = payload(page)
        strings = data["strings"]
        code = {index: strings[row[0]] for index, row in enumerate(data["proposals"])}
        assert {code[row[0]] for row in data["ranking"]["rows"]} == {"P-1", "P-3"}
        slots = {(b["proposal"], b["instrument"]): b["priority"] for b in blocks_of(page)}
        assert slots[("P-2", "PIK-SANS")] == 0, "P-2's slot is on the timeline, its priority withheld"
        assert "P-4-a" not in {strings[row[0]] for row in data["unallocated"]}, "nor is P-4's reason for no time"


async def test_moves_and_pins_only_on_the_coordinators_instruments(database_url: str, sessions: Sessions) -> None:
    async with api_client(database_url) as client:
        world = await _shared(client, sessions)

        assert (await _move(world, world.skif, world.published, "P-2-a", "PIK-SANS", 12)).status_code == 403
        assert (await _move(world, world.pik, world.published, "P-1-a", "SKIF-1-1", 12)).status_code == 403
        # P-3 may go to either facility: it lies on SKIF's instrument, so SKIF moves it there, not to PIK.
        assert (await _move(world, world.skif, world.published, "P-3-a", "PIK-SANS", 12)).status_code == 403
        assert (await _move(world, world.pik, world.published, "P-3-a", "SKIF-1-1", 12)).status_code == 403
        draft = await _draft(world, world.skif, world.published, "P-3-a", "SKIF-1-1", 12)
        assert (await _move(world, world.admin, draft, "P-3-a", "PIK-SANS", 12)).status_code == 201

        pin = f"/schedules/{draft}/allocations/{{}}/pin"
        assert (await client.post(pin.format("P-2-a"), headers=world.skif)).status_code == 403
        assert (await client.post(pin.format("P-1-a"), headers=world.pik)).status_code == 403
        assert (await client.post(pin.format("P-2-a"), headers=world.pik)).status_code == 200
        assert (await client.delete(pin.format("P-1-a"), headers=world.skif)).status_code == 200


async def test_a_shared_draft_is_published_when_every_facility_it_changes_signed_off(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url) as client:
        world = await _shared(client, sessions)
        draft = await _both_changed(world)
        assert await _sign_offs(world, draft) == {
            "version_id": draft,
            "shared": True,
            "needed": ["PIK", "SKIF"],
            "given": [],
            "awaited": ["PIK", "SKIF"],
        }

        refused = await _publish(world, world.skif, draft)
        assert refused.status_code == 409, refused.text
        assert refused.json()["facilities"] == ["PIK"]
        assert "PIK" in refused.json()["detail"]
        assert _given(await _sign_offs(world, draft)) == [], "a refused publish keeps no sign-off"

        signed = await client.post(f"/schedules/{draft}/sign-off", headers=world.pik)
        assert signed.status_code == 200, signed.text
        assert (_given(signed.json()), signed.json()["awaited"]) == ([("PIK", "Pik Coordinator")], ["SKIF"])
        assert (await client.delete(f"/schedules/{draft}/sign-off", headers=world.pik)).status_code == 204
        assert (await client.delete(f"/schedules/{draft}/sign-off", headers=world.pik)).status_code == 404
        assert (await _sign_offs(world, draft))["awaited"] == ["PIK", "SKIF"]
        assert (await client.post(f"/schedules/{draft}/sign-off", headers=world.pik)).status_code == 200
        assert (await client.post(f"/schedules/{draft}/sign-off", headers=world.pik)).status_code == 200

        await sign_in(client, "skif@example.org")
        page = (await client.get(f"/ui/rounds/{world.round_id}?version={draft}")).text
        assert 'data-signed="PIK"' in page and 'data-awaited="SKIF"' in page
        client.cookies.clear()

        published = await _publish(world, world.skif, draft)
        assert published.status_code == 200, published.text
        assert sorted(_given(await _sign_offs(world, draft))) == [
            ("PIK", "Pik Coordinator"),
            ("SKIF", "Skif Coordinator"),
        ]
        audit = (await client.get(f"/audit?entity=schedule&entity_id={draft}", headers=world.admin)).json()["items"]
        signs = [(e["action"], e["detail"]["facilities"]) for e in audit if e["action"].startswith("schedule.sign")]
        assert sorted(signs) == [
            ("schedule.sign-off", ["PIK"]),
            ("schedule.sign-off", ["PIK"]),
            ("schedule.sign-off", ["SKIF"]),
            ("schedule.sign-off-withdrawn", ["PIK"]),
        ]
        assert (await client.post(f"/schedules/{draft}/sign-off", headers=world.pik)).status_code == 409


async def test_a_facility_signs_for_its_own_changes_only_and_for_one_draft(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url) as client:
        world = await _shared(client, sessions)
        on_skif = await _draft(world, world.skif, world.published, "P-1-a", "SKIF-1-1", 12)
        assert (await _sign_offs(world, on_skif))["needed"] == ["SKIF"]
        for who in (world.pik, world.admin, world.proposer):
            assert (await client.post(f"/schedules/{on_skif}/sign-off", headers=who)).status_code == 403
        assert (await client.post(f"/schedules/{on_skif}/sign-off", headers=world.skif)).status_code == 200
        assert (await client.post(f"/schedules/{world.published}/sign-off", headers=world.skif)).status_code == 409

        # The same change made again is another draft: SKIF's sign-off of the first does not count for it.
        again = await _draft(world, world.skif, world.published, "P-1-a", "SKIF-1-1", 12)
        assert (await _sign_offs(world, again))["awaited"] == ["SKIF"]
        refused = await _publish(world, world.pik, again)
        assert (refused.status_code, refused.json()["facilities"]) == (409, ["SKIF"])

        # A pin on the signed draft changes it: the sign-off of the pinned slot's facility is taken back.
        assert (await client.post(f"/schedules/{on_skif}/allocations/P-3-a/pin", headers=world.skif)).status_code == 200
        assert (await _sign_offs(world, on_skif))["awaited"] == ["SKIF"]
        assert (await client.post(f"/schedules/{on_skif}/sign-off", headers=world.skif)).status_code == 200

        # Signed by SKIF, the draft is PIK's to publish as much as SKIF's.
        assert (await _publish(world, world.pik, on_skif)).status_code == 200


async def test_an_admin_publishes_a_shared_draft_without_sign_offs(database_url: str, sessions: Sessions) -> None:
    async with api_client(database_url) as client:
        world = await _shared(client, sessions)
        draft = await _both_changed(world)
        assert (await _publish(world, world.pik, draft)).json()["facilities"] == ["SKIF"]
        published = await _publish(world, world.admin, draft)
        assert published.status_code == 200, published.text
        assert (await _sign_offs(world, draft))["given"] == []


async def test_round_wide_settings_of_a_shared_round_need_every_facility(database_url: str, sessions: Sessions) -> None:
    async with api_client(database_url) as client:
        world = await _shared(client, sessions)
        path = f"/rounds/{world.round_id}"
        settings: list[dict[str, Any]] = [
            {"facilities": ["SKIF"]},
            {"equipment": []},
            {"country_groups": {"CIS": ["RU", "AM"]}},
            {"scoring": {"grade_best": 1.0, "grade_worst": 5.0, "min_reviews": 1}},
            {"end": "2027-02-14T08:00:00+03:00"},
            {"name": "Renamed by one facility"},
        ]
        for change in settings:
            for who in (world.skif, world.pik):
                response = await client.patch(path, json=change, headers=who)
                assert response.status_code == 403, (change, response.text)
        assert (await client.put(f"{path}/phase", json={"phase": "review"}, headers=world.skif)).status_code == 403
        assert (await client.get(path, headers=world.admin)).json()["facilities"] == ["SKIF", "PIK"]
        grouped = await client.patch(path, json={"country_groups": {"CIS": ["RU", "AM"]}}, headers=world.admin)
        assert grouped.status_code == 200, grouped.text

        def quota(code: str, scope: dict[str, Any], share: float = 0.9) -> dict[str, Any]:
            return {"code": code, "scope": scope, "category": {"foreign": True}, "max_share": share}

        quotas = f"{path}/quotas"
        for scope in ({}, {"facilities": ["SKIF", "PIK"]}, {"instruments": ["SKIF-1-1", "PIK-SANS"]}):
            response = await client.post(quotas, json=quota("across", scope), headers=world.skif)
            assert response.status_code == 403, (scope, response.text)
        theirs = await client.post(quotas, json=quota("pik", {"facilities": ["PIK"]}), headers=world.skif)
        assert theirs.status_code == 403, theirs.text
        own = await client.post(quotas, json=quota("skif", {"instruments": ["SKIF-1-1"]}), headers=world.skif)
        assert own.status_code == 201, own.text
        quota_path = f"/quotas/{own.json()['id']}"
        changed = await client.put(quota_path, json=quota("skif", {"facilities": ["SKIF"]}, 0.8), headers=world.skif)
        assert changed.status_code == 200, changed.text
        widened = await client.put(quota_path, json=quota("skif", {}), headers=world.skif)
        assert widened.status_code == 403, widened.text
        assert (await client.put(quota_path, json=quota("skif", {}), headers=world.pik)).status_code == 403
        assert (await client.delete(quota_path, headers=world.pik)).status_code == 403
        assert (await client.delete(quota_path, headers=world.skif)).status_code == 204
        across = await client.post(quotas, json=quota("across", {}), headers=world.admin)
        assert across.status_code == 201, across.text
        assert (await client.delete(f"/quotas/{across.json()['id']}", headers=world.skif)).status_code == 403


async def test_the_dashboard_signs_off_a_draft(database_url: str, sessions: Sessions) -> None:
    async with api_client(database_url) as client:
        world = await _shared(client, sessions)
        draft = await _draft(world, world.skif, world.published, "P-1-a", "SKIF-1-1", 12)
        await sign_in(client, "skif@example.org")
        page = (await client.get(f"/ui/rounds/{world.round_id}?version={draft}")).text
        assert f'data-sign-off="{draft}"' in page and 'data-awaited="SKIF"' in page
        signed = await client.post(f"/ui/schedules/{draft}/sign-off", headers=await from_the_page(client))
        assert signed.status_code == 200, signed.text
        page = (await client.get(f"/ui/rounds/{world.round_id}?version={draft}")).text
        assert 'data-signed="SKIF"' in page and "data-awaited" not in page
        compared = (
            await client.get(f"/ui/rounds/{world.round_id}/compare?before={world.published}&after={draft}")
        ).text
        for timeline in (0, 1):
            (p2,) = [block for block in blocks_of(compared, timeline) if block["proposal"] == "P-2"]
            assert p2["priority"] == 0, "P-2's slot in both versions, its priority withheld"


async def test_a_solves_files_carry_panel_results_of_the_readers_facilities_only(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url, start_worker=True, worker_poll_seconds=0.05) as client:
        world = await _shared(client, sessions)
        started = await client.post(
            f"/rounds/{world.round_id}/solves", json={"time_limit": 2, "workers": 1}, headers=world.admin
        )
        assert started.status_code == 202, started.text
        run = started.headers["location"]
        for _ in range(600):
            state = (await client.get(run, headers=world.admin)).json()["state"]
            if state not in ("queued", "running"):
                break
            await asyncio.sleep(0.05)
        assert state == "done"

        async def files(who: Headers) -> tuple[dict[str, float | None], dict[str, float]]:
            round_file = (await client.get(f"{run}/input", headers=who)).json()
            schedule = (await client.get(f"{run}/output", headers=who)).json()
            return (
                {p["id"]: p["priority"] for p in round_file["proposals"]},
                {a["proposal"]: a["priority"] for a in schedule["allocations"]},
            )

        every = {"P-1": 3.0, "P-2": 2.0, "P-3": 1.5, "P-4": 1.0}
        assert await files(world.admin) == (every, every)
        assert await files(world.skif) == (
            {"P-1": 3.0, "P-2": None, "P-3": 1.5, "P-4": None},
            {"P-1": 3.0, "P-2": 0.0, "P-3": 1.5, "P-4": 0.0},
        )


async def test_a_kept_full_export_reaches_no_other_coordinator_nor_a_proposer(
    database_url: str, sessions: Sessions
) -> None:
    """The admin's view keeps the round's full export (P-4-a's reason names P-2-a, P-2's priority); what the other
    facility's coordinator and P-4's proposer see next is still withheld from it."""
    async with api_client(database_url) as client:
        world = await _shared(client, sessions)
        owner = await make_user(sessions, "proposer", "p4@example.org")
        async with sessions.begin() as session:
            await session.execute(update(Proposal).where(col(Proposal.code) == "P-4").values(owner_id=owner))
        await sign_in(client, "admin@example.org")
        full = payload((await client.get(f"/ui/rounds/{world.round_id}")).text)
        assert "P-4-a" in {full["strings"][row[0]] for row in full["unallocated"]}
        kept = (await schedule_of(sessions, world.published)).unallocated
        assert [(entry.request, [c.request for c in entry.competitors or []]) for entry in kept] == [
            ("P-4-a", ["P-2-a"])
        ]

        await sign_in(client, "skif@example.org")
        page = (await client.get(f"/ui/rounds/{world.round_id}")).text
        slots = {(b["proposal"], b["instrument"]): b["priority"] for b in blocks_of(page)}
        assert slots[("P-2", "PIK-SANS")] == 0
        assert "P-4-a" not in {payload(page)["strings"][row[0]] for row in payload(page)["unallocated"]}

        await sign_in(client, "p4@example.org")
        mine = (await client.get("/ui/me")).text
        assert "P-4-a" in mine and "It was not placed in its dates" in mine
        assert kept[0].detail is not None and kept[0].detail.split(":")[0] not in mine
        for other in ("P-1", "P-2", "P-3"):
            assert other not in mine

        await sign_in(client, "admin@example.org")
        again = payload((await client.get(f"/ui/rounds/{world.round_id}")).text)
        assert again["unallocated"] == full["unallocated"], "withholding for others changed nothing kept"
