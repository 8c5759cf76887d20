"""A submission reads what its round offers before taking the round's lock, or remembers it from the last one; a change
committed in between is seen.

The change is committed from another connection at the moment the submission has read the offer and not yet locked
the round, as a coordinator's write that takes an instrument out of the round would (it moves the input revision).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.util import await_only

from scheduler.db.engine import create_engine, is_sqlite
from tests.api_helpers import served
from tests.proposals.test_api_proposals import CONTENT, Round, round_

__all__ = ["round_"]

OFFER_READ = "SELECT roundfacility.facility_id"
"""The last statement of the offer read before the lock."""
ROUND_LOCK = "SELECT round.id"
"""How the locking read of a round begins (it ends in FOR UPDATE)."""


async def test_an_instrument_taken_out_of_the_round_before_the_lock_is_refused(
    database_url: str, round_: Round
) -> None:
    if is_sqlite(database_url):
        pytest.skip("on SQLite the API's writes take turns in the process: no other write commits in between")
    taken_out: list[str] = []

    def after_statement(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith(OFFER_READ) and not taken_out:
            await_only(take_out_skif_1_4(database_url, round_.id))
            taken_out.append("SKIF-1-4")

    event.listen(Engine, "after_cursor_execute", after_statement)
    try:
        answer = await round_.client.post(
            f"/rounds/{round_.id}/proposals", json=CONTENT, headers=round_.headers["owner"]
        )
    finally:
        event.remove(Engine, "after_cursor_execute", after_statement)

    assert taken_out == ["SKIF-1-4"]
    assert answer.status_code == 422, answer.text
    assert [error["path"] for error in answer.json()["errors"]] == ["$.requests[1].instruments[1]"]


async def test_the_offer_remembered_after_a_submission_is_read_again_once_the_round_changed(
    database_url: str, round_: Round
) -> None:
    """The second submission of a round reads no offer (the first one's is carried on); a change of the round committed
    by another process moves its input revision, so the third reads the offer again and is refused."""
    offer_reads: list[str] = []

    def after_statement(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith(OFFER_READ):
            offer_reads.append(statement)

    owner = round_.headers["owner"]
    event.listen(Engine, "after_cursor_execute", after_statement)
    try:
        first = await round_.client.post(f"/rounds/{round_.id}/proposals", json=CONTENT, headers=owner)
        read_by_first = len(offer_reads)
        second = await round_.client.post(f"/rounds/{round_.id}/proposals", json=CONTENT, headers=owner)
        read_by_second = len(offer_reads) - read_by_first
        await take_out_skif_1_4(database_url, round_.id)
        third = await round_.client.post(f"/rounds/{round_.id}/proposals", json=CONTENT, headers=owner)
    finally:
        event.remove(Engine, "after_cursor_execute", after_statement)

    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert read_by_first >= 1
    assert read_by_second == 0
    assert third.status_code == 422, third.text
    assert [error["path"] for error in third.json()["errors"]] == ["$.requests[1].instruments[1]"]


async def test_submissions_that_waited_for_each_other_read_no_offer(database_url: str, round_: Round) -> None:
    """Submissions at once to a server wait for the round's lock in turn (PostgreSQL) or take turns (SQLite); each
    one's commit moves the input revision and carries the offer on, so none of those that waited reads it again."""
    offer_reads: list[str] = []

    def after_statement(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith(OFFER_READ):
            offer_reads.append(statement)

    path, owner = f"/rounds/{round_.id}/proposals", round_.headers["owner"]
    async with served(database_url) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        first = await client.post(path, json=CONTENT, headers=owner)
        event.listen(Engine, "after_cursor_execute", after_statement)
        try:
            answers = await asyncio.gather(*(client.post(path, json=CONTENT, headers=owner) for _ in range(8)))
        finally:
            event.remove(Engine, "after_cursor_execute", after_statement)

    assert [answer.status_code for answer in [first, *answers]] == [201] * 9
    assert offer_reads == []


async def test_submissions_at_once_ask_for_the_rounds_lock_one_at_a_time(database_url: str, round_: Round) -> None:
    """Proposal writes of one round queue in the process before they ask the database for the round's row, so no two
    of them are in its lock's queue at once (where the database, not their arrival, would order them)."""
    if is_sqlite(database_url):
        pytest.skip("on SQLite the API's writes take turns in the process and SQLite has no row locks")
    asking = 0
    most_at_once = 0

    def before(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal asking, most_at_once
        if statement.startswith(ROUND_LOCK) and statement.rstrip().endswith("FOR UPDATE"):
            asking += 1
            most_at_once = max(most_at_once, asking)

    def after(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal asking
        if statement.startswith(ROUND_LOCK) and statement.rstrip().endswith("FOR UPDATE"):
            asking -= 1

    path, owner = f"/rounds/{round_.id}/proposals", round_.headers["owner"]
    async with served(database_url) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        event.listen(Engine, "before_cursor_execute", before)
        event.listen(Engine, "after_cursor_execute", after)
        try:
            # Few enough that the last one's wait for the ones before it stays well within `HOLDER_WAIT`.
            answers = await asyncio.gather(*(client.post(path, json=CONTENT, headers=owner) for _ in range(6)))
        finally:
            event.remove(Engine, "before_cursor_execute", before)
            event.remove(Engine, "after_cursor_execute", after)

    assert [answer.status_code for answer in answers] == [201] * 6
    assert most_at_once == 1


async def take_out_skif_1_4(database_url: str, round_id: int) -> None:
    """Commits from another connection what a coordinator's write taking SKIF-1-4 out of the round commits."""
    other = create_engine(database_url)
    async with other.begin() as connection:
        await connection.execute(
            text(
                "DELETE FROM roundinstrument WHERE round_id = :round AND instrument_id = "
                "(SELECT id FROM instrument WHERE code = 'SKIF-1-4')"
            ),
            {"round": round_id},
        )
        await connection.execute(
            text("UPDATE round SET input_revision = input_revision + 1 WHERE id = :round"), {"round": round_id}
        )
    await other.dispose()
