"""A proposal write checks its round and what the round offers before it writes, writes, and only then takes the
round's row (`scheduler.proposals.offer.held_round`), where it checks them again: a change of the round committed
meanwhile is seen, and writes of one round wait for each other only at their ends. What the round offers is remembered
between writes of the process, and read again once the round changed.

Changes are committed from another connection at the moment a submission has written its requests and not yet taken
the round's row, as a coordinator's write taking an instrument out of the round, or closing the call, would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction
from sqlalchemy.util import await_only

from scheduler.db.engine import create_engine, is_sqlite
from tests.api_helpers import posted_meanwhile, served
from tests.proposals.test_api_proposals import CONTENT, Round, round_

__all__ = ["round_"]

REQUESTS_WRITTEN = "INSERT INTO request "
"""What a submission's statement that writes its requests holds (on PostgreSQL, with its audit entry and team): after
it, only the round's row is left to take."""


def offer_read(statement: str) -> bool:
    """Whether the statement is the read of what a round offers (one UNION of its instruments, equipment and
    facilities)."""
    return "UNION ALL" in statement and "JOIN roundinstrument" in statement


@pytest.mark.parametrize(
    ("change", "status"),
    [("take_out_skif_1_4", 422), ("close_the_call", 409)],
)
async def test_a_change_of_the_round_committed_while_a_submission_is_written_refuses_it(
    database_url: str, round_: Round, change: str, status: int
) -> None:
    if is_sqlite(database_url):
        pytest.skip("on SQLite the API's writes take turns in the process: no other write commits in between")
    changed: list[str] = []
    commit_change = {"take_out_skif_1_4": take_out_skif_1_4, "close_the_call": close_the_call}[change]

    def after_statement(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if REQUESTS_WRITTEN in statement and not changed:
            await_only(commit_change(database_url, round_.id))
            changed.append(change)

    before = await stored_proposals(database_url, round_.id)
    event.listen(Engine, "after_cursor_execute", after_statement)
    try:
        answer = await round_.client.post(
            f"/rounds/{round_.id}/proposals", json=CONTENT, headers=round_.headers["owner"]
        )
    finally:
        event.remove(Engine, "after_cursor_execute", after_statement)

    assert changed == [change]
    assert answer.status_code == status, answer.text
    if status == 422:
        assert [error["path"] for error in answer.json()["errors"]] == ["$.requests[1].instruments[1]"]
    else:
        assert "closed" in answer.json()["detail"]
    assert await stored_proposals(database_url, round_.id) == before


async def test_the_offer_remembered_after_a_submission_is_read_again_once_the_round_changed(
    database_url: str, round_: Round
) -> None:
    """The second submission of a round reads no offer (the first one's is carried on); a change of the round committed
    by another process moves its input revision, so the third reads the offer again and is refused."""
    offer_reads: list[str] = []

    def after_statement(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if offer_read(statement):
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


async def test_a_submission_that_read_the_round_before_others_committed_reads_no_offer(
    database_url: str, round_: Round
) -> None:
    """A submission reads its round, and two other submissions commit before it goes on: the offer at the revision it
    read is still known (`scheduler.rounds.revision.ByRevision`), and the one at the revision the others left is
    carried on by them, so it reads no offer at all."""
    if is_sqlite(database_url):
        pytest.skip("on SQLite the API's writes take turns in the process: no other write commits in between")
    path, owner = f"/rounds/{round_.id}/proposals", round_.headers["owner"]
    async with served(database_url) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        first = await client.post(path, json=CONTENT, headers=owner)
        assert first.status_code == 201, first.text
        with posted_meanwhile(base_url, round_read, path, CONTENT, owner, times=2) as paused:
            answer = await client.post(path, json=CONTENT, headers=owner)

    assert (answer.status_code, paused.answers) == (201, [201, 201]), answer.text
    assert [statement for statement in paused.statements if offer_read(statement)] == []


def round_read(statement: str) -> bool:
    """Whether the statement is a write's unlocked read of its round (a submission's first)."""
    return statement.startswith("SELECT round.id") and "FOR " not in statement


async def test_a_submission_writes_while_another_write_holds_the_round_and_waits_only_at_its_end(
    database_url: str, round_: Round
) -> None:
    """Another transaction holds the round's row as a coordinator's write of the round does (and closes the call,
    uncommitted): a submission writes its proposal and requests meanwhile, then waits for the row, and once that
    transaction rolls back it is stored; a second one, held the same way while the call is closed and committed, is
    refused and leaves nothing."""
    if is_sqlite(database_url):
        pytest.skip("on SQLite the API's writes take turns in the process and SQLite has no row locks")
    path, owner = f"/rounds/{round_.id}/proposals", round_.headers["owner"]
    written = threading.Event()  # set in the server's thread

    def after_statement(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if REQUESTS_WRITTEN in statement:
            written.set()

    holder = create_engine(database_url)
    event.listen(Engine, "after_cursor_execute", after_statement)
    try:
        async with served(database_url) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            answers = []
            for ending in ("rollback", "commit"):
                before = await stored_proposals(database_url, round_.id)
                written.clear()
                async with holder.connect() as connection:
                    transaction = await hold_the_round(connection, round_.id, "review")
                    submission = asyncio.create_task(client.post(path, json=CONTENT, headers=owner))
                    assert await asyncio.to_thread(written.wait, 30)
                    await asyncio.sleep(0.3)
                    assert not submission.done()
                    await (transaction.rollback() if ending == "rollback" else transaction.commit())
                answer = await asyncio.wait_for(submission, 30)
                answers.append(answer.status_code)
                grown = await stored_proposals(database_url, round_.id) - before
                assert grown == (1 if ending == "rollback" else 0), answer.text
    finally:
        event.remove(Engine, "after_cursor_execute", after_statement)
        await holder.dispose()

    assert answers == [201, 409]


async def test_a_withdrawal_waiting_for_the_round_while_it_is_published_is_refused(
    database_url: str, round_: Round
) -> None:
    """Another transaction holds the round's row and moves it to 'published', where nothing can be withdrawn: a
    withdrawal sent meanwhile waits at its end, and once that transaction commits it is refused and the proposal
    stays as it was."""
    if is_sqlite(database_url):
        pytest.skip("on SQLite the API's writes take turns in the process and SQLite has no row locks")
    owner = round_.headers["owner"]
    holder = create_engine(database_url)
    try:
        async with served(database_url) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            created = await client.post(f"/rounds/{round_.id}/proposals", json=CONTENT, headers=owner)
            assert created.status_code == 201, created.text
            proposal_id = created.json()["id"]
            answer = await once_committed(
                holder,
                lambda connection: hold_the_round(connection, round_.id, "published"),
                client.post(f"/proposals/{proposal_id}/withdraw", headers=owner),
            )
            stored = await client.get(f"/proposals/{proposal_id}", headers=owner)
    finally:
        await holder.dispose()

    assert answer.status_code == 409, answer.text
    assert "can no longer be withdrawn" in answer.json()["detail"]
    assert stored.json()["withdrawn"] is False


async def test_a_judges_decision_waiting_for_the_round_while_its_facility_leaves_the_round_is_refused(
    database_url: str, round_: Round
) -> None:
    """SKIF's coordinator records the feasibility of a proposal asking for SKIF while another transaction, holding the
    round's row, takes SKIF out of the round. The decision is checked and written on the round as it was, and waits at
    its end; once the other transaction commits, what the round offers has moved, the policy is asked again, and SKIF's
    coordinator no longer sees the proposal (404): the verdict stays as it was."""
    if is_sqlite(database_url):
        pytest.skip("on SQLite the API's writes take turns in the process and SQLite has no row locks")
    proposal_id = round_.proposal_ids["P-001"]
    admin = round_.headers["admin"]
    holder = create_engine(database_url)
    try:
        async with served(database_url) as base_url, httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            before = (await client.get(f"/proposals/{proposal_id}", headers=admin)).json()["technically_feasible"]
            answer = await once_committed(
                holder,
                lambda connection: take_out_skif(connection, round_.id),
                client.put(
                    f"/proposals/{proposal_id}/feasibility",
                    json={"technically_feasible": not before},
                    headers=round_.headers["coordinator"],
                ),
            )
            stored = await client.get(f"/proposals/{proposal_id}", headers=admin)
    finally:
        await holder.dispose()

    assert answer.status_code == 404, answer.text
    assert answer.json()["detail"] == f"no proposal {proposal_id}"
    assert stored.json()["technically_feasible"] == before


async def test_a_process_runs_as_many_write_requests_at_once_as_its_setting_and_no_more(
    database_url: str, round_: Round
) -> None:
    """Eight submissions at once to a server that runs two write requests at a time: two transactions have written a
    proposal and not yet ended at some moment, never three (SQLite: one, whatever the setting)."""
    in_flight: set[int] = set()
    most_at_once = 0

    def after_statement(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal most_at_once
        if statement.startswith("INSERT INTO proposal "):
            in_flight.add(id(connection.connection.dbapi_connection))
            most_at_once = max(most_at_once, len(in_flight))

    def ended(connection: Any) -> None:
        in_flight.discard(id(connection.connection.dbapi_connection))

    path, owner = f"/rounds/{round_.id}/proposals", round_.headers["owner"]
    async with (
        served(database_url, write_transactions_at_once=2) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=60) as client,
    ):
        event.listen(Engine, "after_cursor_execute", after_statement)
        event.listen(Engine, "commit", ended)
        event.listen(Engine, "rollback", ended)
        try:
            answers = await asyncio.gather(*(client.post(path, json=CONTENT, headers=owner) for _ in range(8)))
        finally:
            event.remove(Engine, "after_cursor_execute", after_statement)
            event.remove(Engine, "commit", ended)
            event.remove(Engine, "rollback", ended)

    assert [answer.status_code for answer in answers] == [201] * 8
    assert most_at_once == (1 if is_sqlite(database_url) else 2)


async def test_a_round_files_import_takes_no_turn_of_the_short_writes(database_url: str, round_: Round) -> None:
    """One write at a time, and a round file's import held up in its transaction (another transaction keeps the
    round's facilities from being written): a submission still runs to its end, and the import after it."""
    if is_sqlite(database_url):
        pytest.skip("on SQLite every write takes the one turn, an import too")
    other_round = {
        "format": "beamtime-round/1",
        "round": {"id": "OTHER", "name": "Another", "start": "2027-02-01T00:00:00Z", "end": "2027-03-01T00:00:00Z"},
        "facilities": [
            {
                "id": "ELSEWHERE",
                "name": "Elsewhere",
                "country": "RU",
                "timezone": "UTC",
                "instruments": [{"id": "ELSEWHERE-1", "name": "One", "techniques": ["mx"]}],
            }
        ],
    }
    path, owner, admin = f"/rounds/{round_.id}/proposals", round_.headers["owner"], round_.headers["admin"]
    holder = create_engine(database_url)
    async with (
        served(database_url, write_transactions_at_once=1) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=60) as client,
    ):
        async with holder.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(text("LOCK TABLE roundfacility IN EXCLUSIVE MODE"))
            imported = asyncio.create_task(client.post("/rounds/import", json=other_round, headers=admin))
            await asyncio.sleep(0.5)
            submitted = await asyncio.wait_for(client.post(path, json=CONTENT, headers=owner), 30)
            assert not imported.done()
            await transaction.rollback()
        answer = await asyncio.wait_for(imported, 30)
    await holder.dispose()

    assert submitted.status_code == 201, submitted.text
    assert answer.status_code == 201, answer.text


async def once_committed(
    holder: AsyncEngine,
    hold: Callable[[AsyncConnection], Awaitable[AsyncTransaction]],
    request: Coroutine[Any, Any, httpx.Response],
) -> httpx.Response:
    """The answer to `request`, sent while a transaction `hold` began on another connection holds the round's row:
    the request is still waiting half a second later, and answers once that transaction commits."""
    async with holder.connect() as connection:
        transaction = await hold(connection)
        answer = asyncio.create_task(request)
        await asyncio.sleep(0.5)
        assert not answer.done()
        await transaction.commit()
    return await asyncio.wait_for(answer, 30)


async def hold_the_round(connection: AsyncConnection, round_id: int, phase: str) -> AsyncTransaction:
    """A transaction begun on `connection` that holds the round's row as a coordinator's write of the round does, and
    has moved it to `phase`, uncommitted."""
    transaction = await connection.begin()
    await connection.execute(text("SELECT id FROM round WHERE id = :round FOR NO KEY UPDATE"), {"round": round_id})
    await connection.execute(
        text("UPDATE round SET phase = :phase WHERE id = :round"), {"round": round_id, "phase": phase}
    )
    return transaction


async def stored_proposals(database_url: str, round_id: int) -> int:
    other = create_engine(database_url)
    async with other.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM proposal WHERE round_id = :round"), {"round": round_id}
        )
    await other.dispose()
    return int(count or 0)


async def close_the_call(database_url: str, round_id: int) -> None:
    """Commits from another connection what a coordinator's phase change to review commits."""
    other = create_engine(database_url)
    async with other.begin() as connection:
        await connection.execute(text("UPDATE round SET phase = 'review' WHERE id = :round"), {"round": round_id})
    await other.dispose()


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


async def take_out_skif(connection: AsyncConnection, round_id: int) -> AsyncTransaction:
    """A transaction begun on `connection` that holds the round's row as a write taking SKIF and its instruments
    out of the round does, and has done so, uncommitted."""
    transaction = await hold_the_round(connection, round_id, "open")
    skif = "(SELECT id FROM facility WHERE code = 'SKIF')"
    await connection.execute(
        text(
            "DELETE FROM roundinstrument WHERE round_id = :round AND instrument_id IN "
            f"(SELECT id FROM instrument WHERE facility_id = {skif})"
        ),
        {"round": round_id},
    )
    await connection.execute(
        text(f"DELETE FROM roundfacility WHERE round_id = :round AND facility_id = {skif}"), {"round": round_id}
    )
    await connection.execute(
        text("UPDATE round SET input_revision = input_revision + 1 WHERE id = :round"), {"round": round_id}
    )
    return transaction
