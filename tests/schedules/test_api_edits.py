"""Several moves as one change (a swap) and the dry run of moves, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import ScheduleVersion
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation
from scheduler.rounds.importer import import_round
from tests.api_helpers import Client, api_client, login, make_user
from tests.schedules.test_schedules import BEFORE_SWAP, SWAP

Sessions = async_sessionmaker[AsyncSession]
Headers = dict[str, str]
COORDINATOR = "coord@example.org"
STRANGER = "esrf@example.org"
"""A coordinator of none of the round's facilities."""
ACROSS_INSTRUMENTS = {
    "moves": [
        {"request": "P-001-a", "instrument": "SKIF-1-4", "start_shift": 9, "shifts": 9},
        {"request": "P-004-a", "instrument": "SKIF-1-1", "start_shift": 9, "shifts": 6},
    ]
}
"""P-001-a and P-004-a exchange instruments, but P-001-a asks for SKIF-1-1 only (rule 1)."""


async def _published(sessions: Sessions) -> int:
    """The example round with `BEFORE_SWAP` published: the id of that version."""
    previous = [PreviousAllocation(request=r, instrument=i, start_shift=s, shifts=n) for r, i, s, n in BEFORE_SWAP]
    async with sessions.begin() as session:
        await import_round(session, load_round(EXAMPLE_ROUND).model_copy(update={"previous_schedule": previous}))
        published = await session.scalar(select(col(ScheduleVersion.id)))
    await make_user(sessions, "coordinator", COORDINATOR, facility_codes=["SKIF", "PIK"])
    await make_user(sessions, "coordinator", STRANGER, facility_codes=[])
    assert published is not None
    return published


async def _version_count(client: Client, headers: Headers, version: int) -> int:
    """How many versions the round of `version` has."""
    round_id = (await client.get(f"/schedules/{version}", headers=headers)).json()["round_id"]
    listing = await client.get(f"/rounds/{round_id}/schedules", headers=headers)
    assert listing.status_code == 200, listing.text
    total: int = listing.json()["total"]
    return total


async def _check(client: Client, headers: Headers, version: int, body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post(f"/schedules/{version}/edits/check", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    verdict: dict[str, Any] = answer.json()
    return verdict


async def test_a_swap_that_only_works_as_a_pair_is_one_new_draft(database_url: str, sessions: Sessions) -> None:
    published = await _published(sessions)
    swap = SWAP.model_dump()
    async with api_client(database_url) as client:
        coordinator = await login(client, COORDINATOR)

        halves = [await _check(client, coordinator, published, {"moves": [half]}) for half in swap["moves"]]
        assert [(h["keeps_every_rule"], [e["rule"] for e in h["errors"]]) for h in halves] == [(False, [3])] * 2
        assert "overlaps" in halves[0]["errors"][0]["message"]
        assert await _check(client, coordinator, published, swap) == {"keeps_every_rule": True, "errors": []}
        assert await _version_count(client, coordinator, published) == 1, "a dry run makes no draft"

        swapped = await client.post(f"/schedules/{published}/edits", json=swap, headers=coordinator)
        assert swapped.status_code == 201, swapped.text
        draft = swapped.json()
        assert swapped.headers["location"] == f"/schedules/{draft['id']}"
        assert (draft["status"], draft["source"]) == ("draft", "edit")
        placed = {(a["request"], a["instrument"], a["start_shift"], a["shifts"]) for a in draft["allocations"]}
        assert placed == {*BEFORE_SWAP, ("P-003-a", "SKIF-1-4", 9, 3), ("P-004-a", "SKIF-1-4", 12, 6)} - {
            ("P-004-a", "SKIF-1-4", 9, 6),
            ("P-003-a", "SKIF-1-4", 15, 3),
        }
        diff = (await client.get(f"/schedules/{published}/diff/{draft['id']}", headers=coordinator)).json()
        assert sorted(change["request"] for change in diff["moved"]) == ["P-003-a", "P-004-a"]
        assert await _version_count(client, coordinator, published) == 2


async def test_a_swap_that_breaks_a_rule_answers_422_naming_it_and_saves_nothing(
    database_url: str, sessions: Sessions
) -> None:
    published = await _published(sessions)
    async with api_client(database_url) as client:
        coordinator = await login(client, COORDINATOR)

        verdict = await _check(client, coordinator, published, ACROSS_INSTRUMENTS)
        refused = await client.post(f"/schedules/{published}/edits", json=ACROSS_INSTRUMENTS, headers=coordinator)

        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        errors = refused.json()["errors"]
        (asks,) = [e for e in errors if e["rule"] == 1]
        assert "P-001-a" in asks["message"] and "asks for instruments" in asks["message"]
        assert verdict == {"keeps_every_rule": False, "errors": errors}, "the dry run names what the move would"
        assert await _version_count(client, coordinator, published) == 1, "nothing half-written"

        first, second = SWAP.model_dump()["moves"]
        off_the_grid = {"moves": [first, second | {"start_shift": 40}]}
        named = await _check(client, coordinator, published, off_the_grid)
        assert [(e["rule"], e["path"]) for e in named["errors"]] == [(2, "$.moves[1].start_shift")]


async def test_a_change_is_refused_before_any_check_when_malformed_or_not_the_callers(
    database_url: str, sessions: Sessions
) -> None:
    published = await _published(sessions)
    twice = {"moves": [SWAP.moves[0].model_dump()] * 2}
    async with api_client(database_url) as client:
        coordinator, stranger = await login(client, COORDINATOR), await login(client, STRANGER)
        for path in ("edits", "edits/check"):
            repeated = await client.post(f"/schedules/{published}/{path}", json=twice, headers=coordinator)
            assert repeated.status_code == 422, repeated.text
            assert [e["path"] for e in repeated.json()["errors"]] == ["$.moves"]
            assert "P-003-a more than once" in repeated.json()["errors"][0]["message"]
            empty = await client.post(f"/schedules/{published}/{path}", json={"moves": []}, headers=coordinator)
            assert empty.status_code == 422, empty.text
            foreign = await client.post(f"/schedules/{published}/{path}", json=SWAP.model_dump(), headers=stranger)
            assert foreign.status_code == 403, foreign.text
        assert await _version_count(client, coordinator, published) == 1
