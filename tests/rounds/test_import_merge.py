"""An import changes only its own round, on SQLite and PostgreSQL: the catalogue is merged, never pruned
of what other rounds rely on, audited item by item, and its effect on other rounds' published schedules named."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import AuditEntry, Round, Window
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation, RoundFile
from scheduler.rounds.importer import import_round
from scheduler.rounds.replacement import replace_round
from tests.api_helpers import api_client, login, make_user

Sessions = async_sessionmaker[AsyncSession]
EXAMPLE = EXAMPLE_ROUND
P001_ON_SKIF_1_1 = PreviousAllocation(request="P-001-a", instrument="SKIF-1-1", start_shift=9, shifts=9)
"""2027-02-04T08:00+03:00 to 2027-02-07T08:00+03:00 in the example round's grid."""


def _document(code: str | None = None) -> dict[str, Any]:
    document = load_round(EXAMPLE).model_dump(mode="json")
    if code is not None:
        document["round"]["id"] = code
    return document


def _instrument(document: dict[str, Any], code: str) -> dict[str, Any]:
    return next(i for facility in document["facilities"] for i in facility["instruments"] if i["id"] == code)


async def _windows(sessions: Sessions) -> list[tuple[int | None, int | None, datetime, datetime, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(
                col(Window.facility_id), col(Window.instrument_id), col(Window.start), col(Window.end), col(Window.kind)
            ).order_by(col(Window.id))
        )
    return [tuple(row) for row in rows]


async def _merge_entry(sessions: Sessions, round_id: int) -> dict[str, Any]:
    async with sessions() as session:
        detail = await session.scalar(
            select(col(AuditEntry.detail)).where(
                col(AuditEntry.action) == "round.catalogue_merge", col(AuditEntry.entity_id) == str(round_id)
            )
        )
    assert detail is not None, "the merge is audited"
    return detail


async def _input_revision(sessions: Sessions, round_id: int) -> int:
    async with sessions() as session:
        revision = await session.scalar(select(col(Round.input_revision)).where(col(Round.id) == round_id))
    assert revision is not None
    return revision


async def test_a_round_file_sharing_facilities_keeps_the_windows_another_round_relies_on(
    database_url: str, sessions: Sessions
) -> None:
    async with sessions.begin() as session:
        demo = await import_round(session, load_round(EXAMPLE))
    before = await _windows(sessions)
    assert len(before) == 2
    await make_user(sessions, "admin", "admin@example.org")
    second = _document("2027-I-second")
    second["facilities"][0]["maintenance"] = []
    _instrument(second, "SKIF-1-4")["maintenance"] = []
    _instrument(second, "PIK-SANS")["changeover_shifts"] = 2
    demo_revision = await _input_revision(sessions, demo)
    async with api_client(database_url) as client:
        admin = await login(client, "admin@example.org")
        imported = await client.post("/rounds/import", json=second, headers=admin)
        assert imported.status_code == 201, imported.text
        document = (await client.get("/schema/openapi.json")).json()
    assert await _windows(sessions) == before
    merge = await _merge_entry(sessions, imported.json()["id"])
    assert imported.json()["catalogue_merge"] == merge, "the answer says what the audit keeps"
    answered = document["paths"]["/rounds/import"]["post"]["responses"]["201"]["content"]["application/json"]
    schema = document["components"]["schemas"][answered["schema"]["$ref"].rsplit("/", 1)[-1]]
    assert "catalogue_merge" in schema["required"]
    assert merge["removed_windows"] == []
    assert len(merge["kept"]["window"]) == 2
    assert merge["changed"] == {"instrument": ["PIK-SANS"]}
    assert merge["added"] == {}
    assert sorted(merge["kept"]["instrument"]) == ["SKIF-1-1", "SKIF-1-4"]
    assert merge["other_rounds"] == [demo]
    assert await _input_revision(sessions, demo) > demo_revision


async def test_replacing_the_only_round_on_its_facilities_drops_its_own_moved_window(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        round_id = await import_round(session, load_round(EXAMPLE))
    moved = _document()
    moved["facilities"][0]["maintenance"][0]["start"] = "2027-02-05T08:00:00+03:00"
    moved["facilities"][0]["maintenance"][0]["end"] = "2027-02-06T08:00:00+03:00"
    async with sessions.begin() as session:
        await replace_round(session, round_id, RoundFile.model_validate(moved))
    facility_windows = [window for window in await _windows(sessions) if window[0] is not None]
    assert [(start.isoformat(), end.isoformat()) for _, _, start, end, _ in facility_windows] == [
        ("2027-02-05T05:00:00+00:00", "2027-02-06T05:00:00+00:00")
    ]
    async with sessions() as session:
        entries = await session.scalars(
            select(col(AuditEntry.detail))
            .where(col(AuditEntry.action) == "round.catalogue_merge")
            .order_by(col(AuditEntry.id))
        )
        merge = list(entries)[-1]
    assert len(merge["removed_windows"]) == 1 and "2027-02-03T05:00:00+00:00" in merge["removed_windows"][0]
    assert merge["added"] == {"window": ["machine_development 2027-02-05T05:00:00+00:00/2027-02-06T05:00:00+00:00"]}
    assert merge["other_rounds"] == []


async def test_an_import_names_the_published_allocations_of_other_rounds_its_new_window_blocks(
    sessions: Sessions,
) -> None:
    published = load_round(_document() | {"previous_schedule": [P001_ON_SKIF_1_1.model_dump(mode="json")]})
    async with sessions.begin() as session:
        demo = await import_round(session, published)
    second = _document("2027-I-second")
    _instrument(second, "SKIF-1-1")["maintenance"] = [
        {"start": "2027-02-05T08:00:00+03:00", "end": "2027-02-05T16:00:00+03:00", "kind": "maintenance"},
    ]
    _instrument(second, "SKIF-1-4")["maintenance"].append(
        {"start": "2027-02-14T08:00:00+03:00", "end": "2027-02-14T16:00:00+03:00", "kind": "maintenance"}
    )
    async with sessions.begin() as session:
        second_id = await import_round(session, load_round(second))
    merge = await _merge_entry(sessions, second_id)
    assert merge["disrupted_published_allocations"] == [
        {
            "round": "2027-I-example",
            "request": "P-001-a",
            "instrument": "SKIF-1-1",
            "window": "maintenance 2027-02-05T05:00:00+00:00/2027-02-05T13:00:00+00:00",
        }
    ]
    assert len(merge["added"]["window"]) == 2
    assert merge["other_rounds"] == [demo]
