"""Facilities, instruments, windows, equipment, rounds and quotas through the API, and what a bad request gets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fixtures import EXAMPLE_ROUND
from scheduler.roundfile.checks import load_round
from tests.api_helpers import Client, api_client, login, make_user

EXAMPLE = EXAMPLE_ROUND
PROBLEM_JSON = "application/problem+json"
SKIF = {"code": "SKIF", "name": "SKIF synchrotron", "country": "RU", "timezone": "Asia/Novosibirsk"}
PIK = {"code": "PIK", "name": "PIK neutron reactor", "country": "RU", "timezone": "Europe/Moscow"}
ROUND = {
    "code": "2027-I",
    "name": "First half of 2027",
    "start": "2027-02-01T08:00:00+07:00",
    "end": "2027-08-01T08:00:00+07:00",
    "facilities": ["SKIF"],
}


@dataclass
class Staff:
    client: Client
    admin: dict[str, str]
    coordinator: dict[str, str]
    """Coordinates SKIF."""
    other_coordinator: dict[str, str]
    """Coordinates PIK."""
    proposer: dict[str, str]


@pytest.fixture
async def staff(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Staff]:
    async with api_client(database_url) as client:
        await make_user(sessions, "admin", "admin@example.org")
        admin = await login(client, "admin@example.org")
        for facility in (SKIF, PIK):
            assert (await client.post("/facilities", json=facility, headers=admin)).status_code == 201
        await make_user(sessions, "coordinator", "skif@example.org", facility_codes=["SKIF"])
        await make_user(sessions, "coordinator", "pik@example.org", facility_codes=["PIK"])
        await make_user(sessions, "proposer", "p@example.org")
        yield Staff(
            client,
            admin,
            await login(client, "skif@example.org"),
            await login(client, "pik@example.org"),
            await login(client, "p@example.org"),
        )


def _paths(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    return [error["path"] for error in response.json()["errors"]]


async def test_facilities_are_kept_by_admins_and_their_coordinators(staff: Staff) -> None:
    client = staff.client
    facilities = (await client.get("/facilities", headers=staff.proposer)).json()["items"]
    skif = next(facility for facility in facilities if facility["code"] == "SKIF")

    renamed = await client.patch(f"/facilities/{skif['id']}", json={"name": "SKIF-2"}, headers=staff.coordinator)
    by_the_other = await client.patch(f"/facilities/{skif['id']}", json={"name": "X"}, headers=staff.other_coordinator)
    creation_by_a_coordinator = await client.post("/facilities", json=SKIF | {"code": "NEW"}, headers=staff.coordinator)
    taken = await client.post("/facilities", json=SKIF, headers=staff.admin)

    assert renamed.status_code == 200
    assert renamed.json() == skif | {"name": "SKIF-2", "version": 2}
    assert (await client.get(f"/facilities/{skif['id']}", headers=staff.proposer)).json()["name"] == "SKIF-2"
    assert (by_the_other.status_code, creation_by_a_coordinator.status_code, taken.status_code) == (403, 403, 409)
    created = (await client.post("/facilities", json=SKIF | {"code": "TMP"}, headers=staff.admin)).json()
    assert (await client.delete(f"/facilities/{created['id']}", headers=staff.coordinator)).status_code == 403
    assert (await client.delete(f"/facilities/{created['id']}", headers=staff.admin)).status_code == 204
    assert (await client.get(f"/facilities/{created['id']}", headers=staff.admin)).status_code == 404
    in_use = await client.delete(f"/facilities/{skif['id']}", headers=staff.admin)
    assert in_use.status_code == 409, in_use.text


async def test_lists_answer_a_page_with_the_total_past_it(staff: Staff) -> None:
    client, admin = staff.client, staff.admin
    for n in range(3):
        await client.post("/equipment", json={"code": f"E{n}", "name": "Cryostat", "facility": "SKIF"}, headers=admin)
        await client.post("/rounds", json=ROUND | {"code": f"R{n}"}, headers=admin)

    equipment = await client.get("/equipment", params={"limit": 2, "offset": 1}, headers=staff.proposer)
    rounds = await client.get("/rounds", params={"limit": 1}, headers=staff.proposer)
    facilities = await client.get("/facilities", params={"offset": 5}, headers=staff.proposer)

    assert {key: value for key, value in equipment.json().items() if key != "items"} == {
        "limit": 2,
        "offset": 1,
        "total": 3,
    }
    assert [item["code"] for item in equipment.json()["items"]] == ["E1", "E2"]
    assert (len(rounds.json()["items"]), rounds.json()["total"]) == (1, 3)
    assert facilities.json() == {"items": [], "limit": 100, "offset": 5, "total": 2}


async def test_instruments_and_windows(staff: Staff) -> None:
    client, coordinator = staff.client, staff.coordinator
    skif = (await client.get("/facilities", headers=coordinator)).json()["items"][1]
    assert skif["code"] == "SKIF"
    instrument = await client.post(
        f"/facilities/{skif['id']}/instruments",
        json={"code": "SKIF-1-1", "name": "Microfocus MX", "techniques": ["mx"], "changeover_shifts": 1},
        headers=coordinator,
    )
    assert instrument.status_code == 201, instrument.text
    instrument_id = instrument.json()["id"]
    window = {"start": "2027-02-03T08:00:00+07:00", "end": "2027-02-04T08:00:00+07:00", "kind": "maintenance"}

    on_facility = await client.post(f"/facilities/{skif['id']}/windows", json=window, headers=coordinator)
    on_instrument = await client.post(
        f"/instruments/{instrument_id}/windows", json=window | {"reason": "mirror"}, headers=coordinator
    )
    backwards = await client.post(
        f"/instruments/{instrument_id}/windows", json=window | {"end": window["start"]}, headers=coordinator
    )
    by_the_other = await client.post(
        f"/instruments/{instrument_id}/windows", json=window, headers=staff.other_coordinator
    )

    assert (on_facility.status_code, on_instrument.status_code, by_the_other.status_code) == (201, 201, 403)
    assert on_instrument.json()["start"] == "2027-02-03T01:00:00Z"
    assert _paths(backwards) == ["$.end"]
    window_id = on_instrument.json()["id"]
    windows = (await client.get(f"/instruments/{instrument_id}/windows", headers=coordinator)).json()
    assert [w["id"] for w in windows["items"]] == [window_id]
    assert _paths(
        await client.patch(f"/windows/{window_id}", json={"end": "2027-02-01T00:00:00Z"}, headers=coordinator)
    ) == ["$.end"]
    assert (await client.get(f"/windows/{window_id}", headers=coordinator)).json() == on_instrument.json()
    moved = await client.patch(f"/windows/{window_id}", json={"kind": "shutdown"}, headers=coordinator)
    assert moved.json() == on_instrument.json() | {"kind": "shutdown", "version": 2}
    assert (
        await client.patch(f"/instruments/{instrument_id}", json={"name": None}, headers=coordinator)
    ).status_code == 422
    assert (await client.delete(f"/windows/{window_id}", headers=coordinator)).status_code == 204
    assert (await client.get(f"/windows/{window_id}", headers=coordinator)).status_code == 404
    listed = (await client.get(f"/facilities/{skif['id']}/instruments", headers=staff.proposer)).json()["items"]
    assert [item["code"] for item in listed] == ["SKIF-1-1"]


async def test_an_instrument_a_request_asks_for_is_kept(staff: Staff) -> None:
    client, admin = staff.client, staff.admin
    round_id = (await client.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=admin)).json()["id"]
    facilities = (await client.get("/facilities", headers=admin)).json()["items"]
    skif = next(item for item in facilities if item["code"] == "SKIF")
    listed = (await client.get(f"/facilities/{skif['id']}/instruments", headers=admin)).json()["items"]
    instruments = {item["code"]: item["id"] for item in listed}
    window = {"start": "2027-02-03T08:00:00+07:00", "end": "2027-02-04T08:00:00+07:00", "kind": "other"}
    spare = await client.post(
        f"/facilities/{skif['id']}/instruments", json={"code": "SPARE", "name": "Spare"}, headers=admin
    )
    await client.post(f"/instruments/{spare.json()['id']}/windows", json=window, headers=admin)

    asked_for = await client.delete(f"/instruments/{instruments['SKIF-1-1']}", headers=admin)
    unused = await client.delete(f"/instruments/{spare.json()['id']}", headers=admin)

    assert asked_for.status_code == 409
    assert "P-001-a" in asked_for.json()["detail"]
    assert unused.status_code == 204
    assert (await client.get(f"/rounds/{round_id}/export", headers=admin)).status_code == 200


async def test_equipment_belongs_to_a_facility(staff: Staff) -> None:
    client = staff.client
    cryo = {"code": "cryo", "name": "Cryostat", "facility": "SKIF"}
    for_pik = await client.post("/equipment", json=cryo | {"facility": "PIK"}, headers=staff.coordinator)
    nowhere = await client.post("/equipment", json=cryo | {"facility": "NOPE"}, headers=staff.coordinator)
    unnamed = await client.post("/equipment", json={"code": "cryo", "name": "Cryostat"}, headers=staff.coordinator)
    created = await client.post("/equipment", json=cryo, headers=staff.coordinator)
    assert created.status_code == 201, created.text
    item = created.json()
    skif = next(
        f["id"] for f in (await client.get("/facilities", headers=staff.admin)).json()["items"] if f["code"] == "SKIF"
    )

    more_units = await client.patch(f"/equipment/{item['id']}", json={"units": 2}, headers=staff.coordinator)
    by_the_other = await client.patch(f"/equipment/{item['id']}", json={"units": 3}, headers=staff.other_coordinator)
    by_a_proposer = await client.patch(f"/equipment/{item['id']}", json={"units": 3}, headers=staff.proposer)
    deleted_by_the_other = await client.delete(f"/equipment/{item['id']}", headers=staff.other_coordinator)

    assert for_pik.status_code == 403
    assert _paths(nowhere) == ["$.facility"]
    assert _paths(unnamed) == ["$.facility"]
    assert item["facility_id"] == skif
    assert more_units.json() == item | {"units": 2, "version": 2}
    assert (by_the_other.status_code, by_a_proposer.status_code, deleted_by_the_other.status_code) == (403, 403, 403)
    assert _paths(await client.post("/equipment", json=cryo | {"code": "x", "units": 0}, headers=staff.admin)) == [
        "$.units"
    ]
    assert (await client.delete(f"/equipment/{item['id']}", headers=staff.coordinator)).status_code == 204


async def test_equipment_a_round_file_brings_is_kept_by_a_facility_that_uses_it(staff: Staff) -> None:
    """The example's cryomagnet is used on PIK's instrument only: PIK keeps it, though SKIF comes first."""
    client = staff.client
    document = json.loads(EXAMPLE.read_text())
    assert (await client.post("/rounds/import", json=document, headers=staff.admin)).status_code == 201
    facilities = {f["code"]: f["id"] for f in (await client.get("/facilities", headers=staff.admin)).json()["items"]}
    (magnet,) = (await client.get("/equipment", headers=staff.proposer)).json()["items"]
    assert magnet["facility_id"] == facilities["PIK"]
    by_skif = await client.patch(f"/equipment/{magnet['id']}", json={"units": 2}, headers=staff.coordinator)
    by_pik = await client.patch(f"/equipment/{magnet['id']}", json={"units": 2}, headers=staff.other_coordinator)
    assert (by_skif.status_code, by_pik.status_code) == (403, 200)


async def test_rounds_move_one_phase_at_a_time(staff: Staff) -> None:
    client, coordinator = staff.client, staff.coordinator
    created = await client.post("/rounds", json=ROUND, headers=coordinator)
    assert created.status_code == 201, created.text
    round_ = created.json()
    assert (round_["phase"], round_["facilities"], round_["start"]) == ("open", ["SKIF"], "2027-02-01T01:00:00Z")

    skipping = await client.put(f"/rounds/{round_['id']}/phase", json={"phase": "allocation"}, headers=coordinator)
    to_review = await client.put(f"/rounds/{round_['id']}/phase", json={"phase": "review"}, headers=coordinator)
    by_the_other = await client.put(
        f"/rounds/{round_['id']}/phase", json={"phase": "open"}, headers=staff.other_coordinator
    )

    assert skipping.status_code == 409
    assert "'open' or 'allocation'" not in skipping.json()["detail"]
    assert to_review.json()["phase"] == "review"
    assert by_the_other.status_code == 403
    assert (await client.get(f"/rounds/{round_['id']}", headers=staff.proposer)).json()["phase"] == "review"


async def test_a_coordinator_creates_and_changes_rounds_of_their_facilities_only(staff: Staff) -> None:
    client, coordinator = staff.client, staff.coordinator
    with_pik = await client.post("/rounds", json=ROUND | {"facilities": ["SKIF", "PIK"]}, headers=coordinator)
    unknown = await client.post("/rounds", json=ROUND | {"facilities": ["SKIF", "NOPE", "SKIF"]}, headers=coordinator)
    round_ = (await client.post("/rounds", json=ROUND, headers=coordinator)).json()
    adding_pik = await client.patch(
        f"/rounds/{round_['id']}", json={"facilities": ["SKIF", "PIK"]}, headers=coordinator
    )
    renamed = await client.patch(
        f"/rounds/{round_['id']}",
        json={"name": "Renamed", "country_groups": {"CIS": ["KZ", "BY"]}, "call_closes": "2027-01-01T00:00:00Z"},
        headers=coordinator,
    )

    assert with_pik.status_code == 403
    assert _paths(unknown) == ["$.facilities[1]", "$.facilities[2]"]
    assert adding_pik.status_code == 403
    assert renamed.status_code == 200, renamed.text
    assert {key: renamed.json()[key] for key in ("name", "country_groups", "call_closes", "facilities")} == {
        "name": "Renamed",
        "country_groups": {"CIS": ["KZ", "BY"]},
        "call_closes": "2027-01-01T00:00:00Z",
        "facilities": ["SKIF"],
    }
    cleared = await client.patch(f"/rounds/{round_['id']}", json={"call_closes": None}, headers=coordinator)
    assert cleared.json()["call_closes"] is None
    backwards = await client.patch(
        f"/rounds/{round_['id']}", json={"name": "Backwards", "end": "2020-01-01T00:00:00Z"}, headers=coordinator
    )
    assert _paths(backwards) == ["$.end"]
    assert (await client.get(f"/rounds/{round_['id']}", headers=coordinator)).json() == cleared.json()
    both = await client.patch(f"/rounds/{round_['id']}", json={"facilities": ["SKIF", "PIK"]}, headers=staff.admin)
    assert both.json()["facilities"] == ["SKIF", "PIK"]
    # A shared round's own settings need every facility's coordination: neither coordinator alone changes them.
    for alone in (coordinator, staff.other_coordinator):
        assert (await client.patch(f"/rounds/{round_['id']}", json={"name": "Mine"}, headers=alone)).status_code == 403
        dropping = await client.patch(f"/rounds/{round_['id']}", json={"facilities": ["SKIF"]}, headers=alone)
        assert dropping.status_code == 403
        assert (await client.delete(f"/rounds/{round_['id']}", headers=alone)).status_code == 403
    assert (await client.delete(f"/rounds/{round_['id']}", headers=staff.admin)).status_code == 204


async def test_quotas_name_only_what_the_round_has(staff: Staff) -> None:
    client, coordinator = staff.client, staff.coordinator
    round_ = (
        await client.post("/rounds", json=ROUND | {"country_groups": {"CIS": ["KZ"]}}, headers=coordinator)
    ).json()
    quota = {"code": "foreign-min", "category": {"foreign": True}, "min_share": 0.2}

    created = await client.post(f"/rounds/{round_['id']}/quotas", json=quota, headers=coordinator)
    dangling = await client.post(
        f"/rounds/{round_['id']}/quotas",
        json={
            "code": "x",
            "scope": {"facilities": ["PIK"], "instruments": ["NOPE"]},
            "category": {"country_group": "BRICS"},
            "max_share": 0.5,
        },
        headers=coordinator,
    )
    unbounded = await client.post(
        f"/rounds/{round_['id']}/quotas", json={"code": "y", "category": {"domestic": True}}, headers=coordinator
    )
    two_categories = await client.post(
        f"/rounds/{round_['id']}/quotas",
        json={"code": "z", "category": {"domestic": True, "foreign": True}, "max_share": 0.5},
        headers=coordinator,
    )
    again = await client.post(f"/rounds/{round_['id']}/quotas", json=quota, headers=coordinator)

    assert created.status_code == 201, created.text
    assert created.json()["category"] == {
        "foreign": True,
        "domestic": None,
        "country": None,
        "country_group": None,
        "proposal_type": None,
        "each_country": None,
        "each_foreign_country": None,
    }
    assert _paths(dangling) == ["$.scope.facilities[0]", "$.scope.instruments[0]", "$.category.country_group"]
    assert _paths(unbounded) == ["$"]
    assert _paths(two_categories) == ["$.category"]
    assert again.status_code == 409
    quota_id = created.json()["id"]
    replaced = await client.put(
        f"/quotas/{quota_id}", json=quota | {"min_share": 0.3, "soft": True}, headers=coordinator
    )
    assert (replaced.json()["min_share"], replaced.json()["soft"]) == (0.3, True)
    assert (await client.put(f"/quotas/{quota_id}", json=quota, headers=staff.other_coordinator)).status_code == 403
    quotas = (await client.get(f"/rounds/{round_['id']}/quotas", headers=staff.proposer)).json()
    assert [q["code"] for q in quotas["items"]] == ["foreign-min"]
    assert (await client.delete(f"/quotas/{quota_id}", headers=coordinator)).status_code == 204


async def test_a_round_file_goes_in_and_comes_out_the_same(staff: Staff) -> None:
    client = staff.client
    document = json.loads(EXAMPLE.read_text())

    by_skif_alone = await client.post("/rounds/import", json=document, headers=staff.coordinator)
    imported = await client.post("/rounds/import", json=document, headers=staff.admin)

    assert by_skif_alone.status_code == 403
    assert imported.status_code == 201, imported.text
    assert imported.headers["location"] == f"/rounds/{imported.json()['id']}"
    exported = await client.get(f"/rounds/{imported.json()['id']}/export", headers=staff.admin)
    assert exported.status_code == 200
    assert load_round(exported.json()) == load_round(document)


async def test_a_coordinator_exports_panel_results_of_their_facilities_proposals_only(staff: Staff) -> None:
    """SKIF's coordinator gets the reviews of proposals asking for a SKIF instrument (P-003 asks for both);
    PIK's only proposals come without reviews and priority. A proposer may not export the round."""
    client = staff.client
    document = json.loads(EXAMPLE.read_text())
    document["proposals"][4]["priority"] = 5.0
    round_id = (await client.post("/rounds/import", json=document, headers=staff.admin)).json()["id"]

    by_skif = (await client.get(f"/rounds/{round_id}/export", headers=staff.coordinator)).json()
    by_pik = (await client.get(f"/rounds/{round_id}/export", headers=staff.other_coordinator)).json()

    def reviewed(exported: dict[str, Any]) -> dict[str, tuple[int, float | None]]:
        return {p["id"]: (len(p["reviews"]), p.get("priority")) for p in exported["proposals"]}

    assert reviewed(by_skif) == {
        "P-001": (2, None),
        "P-002": (2, None),
        "P-003": (2, None),
        "P-004": (2, None),
        "P-005": (0, None),
        "P-006": (0, None),
    }
    assert reviewed(by_pik) == {
        "P-001": (0, None),
        "P-002": (0, None),
        "P-003": (2, None),
        "P-004": (0, None),
        "P-005": (2, 5.0),
        "P-006": (3, None),
    }
    assert [p["requests"] for p in by_skif["proposals"]] == [p["requests"] for p in by_pik["proposals"]]
    assert (await client.get(f"/rounds/{round_id}/export", headers=staff.proposer)).status_code == 403


async def test_replacing_a_round_from_a_file_is_all_or_nothing(staff: Staff) -> None:
    client, admin = staff.client, staff.admin
    document = json.loads(EXAMPLE.read_text())
    round_id = (await client.post("/rounds/import", json=document, headers=admin)).json()["id"]
    broken = json.loads(EXAMPLE.read_text())
    broken["proposals"] = broken["proposals"][:2]
    broken["proposals"][0]["requests"][0]["shifts"] = "nine"
    broken["proposals"][1]["requests"][0]["instruments"] = ["NOPE"]

    refused = await client.put(f"/rounds/{round_id}/import", json=broken, headers=admin)

    assert _paths(refused) == ["$.proposals[0].requests[0].shifts", "$.proposals[1].requests[0].instruments[0]"]
    assert load_round((await client.get(f"/rounds/{round_id}/export", headers=admin)).json()) == load_round(document)
    fewer = json.loads(EXAMPLE.read_text())
    fewer["proposals"] = fewer["proposals"][:2]
    replaced = await client.put(f"/rounds/{round_id}/import", json=fewer, headers=admin)
    assert replaced.status_code == 200, replaced.text
    assert load_round((await client.get(f"/rounds/{round_id}/export", headers=admin)).json()) == load_round(fewer)
    assert (await client.put(f"/rounds/{round_id}/import", json=[], headers=admin)).status_code == 422


async def test_every_change_is_in_the_audit_log(staff: Staff) -> None:
    client = staff.client
    round_ = (await client.post("/rounds", json=ROUND, headers=staff.coordinator)).json()
    await client.patch(f"/rounds/{round_['id']}", json={"name": "Renamed"}, headers=staff.coordinator)
    await client.patch(f"/rounds/{round_['id']}", json={"name": None}, headers=staff.coordinator)

    entries = (await client.get("/audit", params={"entity": "round"}, headers=staff.admin)).json()["items"]
    me = (await client.get("/me", headers=staff.coordinator)).json()

    assert [(entry["action"], entry["user_id"], entry["entity_id"]) for entry in entries] == [
        ("round.update", me["id"], str(round_["id"])),
        ("round.create", me["id"], str(round_["id"])),
    ]
    assert entries[0]["detail"] == {"name": "Renamed"}
    assert (await client.get("/audit", headers=staff.coordinator)).status_code == 403


GARBAGE = [
    b"",
    b"{",
    b"null",
    b"[]",
    b"0",
    b'"text"',
    b"[" * 5000 + b"]" * 5000,
    b'{"code": "\\u0000", "name": "\\u0000", "start": "\\u0000"}',
    b'{"code": 1e999, "units": 99999999999999999999999, "shifts": -1, "grade": 1e308}',
    b'{"start": "0001-01-01T00:00:00+14:00", "end": "9999-12-31T23:59:59-14:00"}',
    b'{"start": "2027-02-01T08:00:00", "end": "2027-02-02T08:00:00", "kind": "other", "phase": "review"}',
    b'{"code": "' + b"x" * 100_000 + b'"}',
    b"\xff\xfe\x00garbage",
]


BODY_ENDPOINTS = [
    ("POST", "/facilities"),
    ("PATCH", "/facilities/1"),
    ("POST", "/facilities/1/instruments"),
    ("POST", "/facilities/1/windows"),
    ("PATCH", "/windows/1"),
    ("POST", "/equipment"),
    ("POST", "/rounds"),
    ("PATCH", "/rounds/1"),
    ("PUT", "/rounds/1/phase"),
    ("POST", "/rounds/1/quotas"),
    ("POST", "/rounds/import"),
    ("PUT", "/rounds/1/import"),
    ("POST", "/rounds/1/proposals"),
    ("PUT", "/proposals/1"),
    ("PUT", "/proposals/1/review"),
    ("POST", "/users"),
    ("POST", "/auth/login"),
]


async def test_no_garbage_body_gets_a_server_error(staff: Staff) -> None:
    answers = {
        (method, path, body[:40]): await staff.client.request(
            method, path, content=body, headers=staff.admin | {"Content-Type": "application/json"}
        )
        for method, path in BODY_ENDPOINTS
        for body in GARBAGE
    }

    failures = {
        case: (response.status_code, response.text[:200])
        for case, response in answers.items()
        if not 400 <= response.status_code < 500 or response.headers["content-type"] != PROBLEM_JSON
    }
    assert not failures


async def test_replacing_a_shared_round_needs_every_facility_it_has_and_will_have(staff: Staff) -> None:
    """The finding: PIK's coordinator replaced the shared round with a file naming PIK alone, and it was gone."""
    client = staff.client
    document = json.loads(EXAMPLE.read_text())
    round_id = (await client.post("/rounds/import", json=document, headers=staff.admin)).json()["id"]
    pik_only = document | {
        "facilities": [f for f in document["facilities"] if f["id"] == "PIK"],
        "proposals": [],
        "quotas": [],
        "equipment": [],
    }
    skif_round = (await client.post("/rounds", json=ROUND | {"code": "SKIF-only"}, headers=staff.coordinator)).json()
    skif_only = document | {
        "round": document["round"] | {"id": "SKIF-only"},
        "facilities": [f for f in document["facilities"] if f["id"] == "SKIF"],
        "proposals": [],
        "quotas": [],
        "equipment": [],
    }
    with_pik = document | {"round": document["round"] | {"id": "SKIF-only"}, "proposals": [], "quotas": []}

    by_pik = await client.put(f"/rounds/{round_id}/import", json=pik_only, headers=staff.other_coordinator)
    by_skif = await client.put(f"/rounds/{round_id}/import", json=skif_only, headers=staff.coordinator)
    bringing_in_pik = await client.put(f"/rounds/{skif_round['id']}/import", json=with_pik, headers=staff.coordinator)
    own = await client.put(f"/rounds/{skif_round['id']}/import", json=skif_only, headers=staff.coordinator)

    assert (by_pik.status_code, by_skif.status_code, bringing_in_pik.status_code) == (403, 403, 403)
    assert own.status_code == 200, own.text
    kept = (await client.get(f"/rounds/{round_id}/export", headers=staff.admin)).json()
    assert [p["id"] for p in kept["proposals"]] == [p["id"] for p in document["proposals"]]
    assert (await client.get(f"/rounds/{round_id}", headers=staff.admin)).json()["facilities"] == ["SKIF", "PIK"]
