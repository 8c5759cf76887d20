"""A submission reads what its round offers before taking the round's lock; a change committed in between is seen.

The change is committed from another connection at the moment the submission has read the offer and not yet locked
the round, as a coordinator's write that takes an instrument out of the round would (it moves the input revision).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.util import await_only

from scheduler.db.engine import create_engine, is_sqlite
from tests.proposals.test_api_proposals import CONTENT, Round, round_

__all__ = ["round_"]

OFFER_READ = "SELECT roundfacility.facility_id"
"""The last statement of the offer read before the lock."""


async def test_an_instrument_taken_out_of_the_round_before_the_lock_is_refused(
    database_url: str, round_: Round
) -> None:
    if is_sqlite(database_url):
        pytest.skip("on SQLite the API's writes take turns in the process: no other write commits in between")
    other = create_engine(database_url)
    taken_out: list[str] = []

    async def take_out_skif_1_4() -> None:
        async with other.begin() as connection:
            await connection.execute(
                text(
                    "DELETE FROM roundinstrument WHERE round_id = :round AND instrument_id = "
                    "(SELECT id FROM instrument WHERE code = 'SKIF-1-4')"
                ),
                {"round": round_.id},
            )
            await connection.execute(
                text("UPDATE round SET input_revision = input_revision + 1 WHERE id = :round"), {"round": round_.id}
            )
        taken_out.append("SKIF-1-4")

    def after_statement(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith(OFFER_READ) and not taken_out:
            await_only(take_out_skif_1_4())

    event.listen(Engine, "after_cursor_execute", after_statement)
    try:
        answer = await round_.client.post(
            f"/rounds/{round_.id}/proposals", json=CONTENT, headers=round_.headers["owner"]
        )
    finally:
        event.remove(Engine, "after_cursor_execute", after_statement)
        await other.dispose()

    assert taken_out == ["SKIF-1-4"]
    assert answer.status_code == 422, answer.text
    assert [error["path"] for error in answer.json()["errors"]] == ["$.requests[1].instruments[1]"]
