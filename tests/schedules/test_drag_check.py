"""The drag check judges with what is kept per the round's inputs (its export and scores, the base version's export,
the referee's indexes of its rules): its verdict is the full referee's on a fresh export, move after move, and a
change of the round is judged at once, by the check and by a saved move alike. On SQLite and PostgreSQL."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from scheduler.db.tables import Request
from scheduler.roundfile.contract import Allocation
from scheduler.roundfile.grid import Grid
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import exclusions, priorities
from scheduler.roundfile.validate import Violation, validate_schedule
from scheduler.rounds.exporter import export_round
from scheduler.schedules import service as schedules
from scheduler.schedules.export import export_schedule
from scheduler.schedules.service import BrokenRule, Move, MoveRejectedError, Moves
from tests.schedules.test_schedules import _import, _published_id

Sessions = async_sessionmaker[AsyncSession]
REQUESTS = ["P-001-a", "P-002-a", "P-003-a", "P-003-b", "P-004-a", "P-005-a", "P-006-a"]
INSTRUMENTS = ["SKIF-1-1", "SKIF-1-4", "PIK-SANS"]
GRID_SHIFTS = 42
"""The example round's two weeks of 8-hour shifts."""


def _on_grid(request: str, instrument: str, start: int, shifts: int) -> Move:
    return Move(request=request, instrument=instrument, start_shift=min(start, GRID_SHIFTS - shifts), shifts=shifts)


EDITS = st.lists(
    st.builds(
        _on_grid,
        st.sampled_from(REQUESTS),
        st.sampled_from(INSTRUMENTS),
        st.integers(min_value=0, max_value=GRID_SHIFTS - 1),
        st.integers(min_value=1, max_value=12),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda change: change.request,
).map(lambda moves: Moves(moves=moves))
"""Moves of the round's requests on the grid (none of the published version is pinned): what the referee judges."""


async def _full_verdict(session: AsyncSession, round_id: int, version_id: int, changes: Moves) -> list[Violation]:
    """The referee's verdict on the would-be schedule, from a fresh export of the round and nothing kept."""
    round_file = await export_round(session, round_id)
    scores = score_round(round_file)
    priority_of = priorities(scores)
    owners = {request.id: proposal.id for proposal in round_file.proposals for request in proposal.requests}
    grid = Grid(round_file.round)
    moving = {change.request for change in changes.moves}
    base = await export_schedule(session, version_id)
    moved = [
        Allocation.model_validate(
            change.model_dump()
            | {
                "proposal": owners[change.request],
                "start": grid.time(change.start_shift),
                "end": grid.time(change.start_shift + change.shifts),
                "priority": 0.0,
            }
        )
        for change in changes.moves
    ]
    placed = [allocation for allocation in base.allocations if allocation.request not in moving] + moved
    priced = [a.model_copy(update={"priority": priority_of.get(a.proposal, a.priority)}) for a in placed]
    would_be = base.model_copy(
        update={
            "allocations": priced,
            "unallocated": [u for u in base.unallocated if u.request not in moving],
            "objective": math.fsum(a.priority * a.shifts for a in priced),
        }
    )
    return validate_schedule(round_file, would_be, priority_of, exclusions(scores).keys())


@pytest.fixture
async def published(sessions: Sessions) -> tuple[int, int]:
    """The example round with its solved schedule published: the round's id and the version's."""
    round_id = await _import(sessions)
    return round_id, await _published_id(sessions, round_id)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=EDITS)
async def test_the_kept_check_answers_as_the_full_referee_on_any_moves(
    sessions: Sessions, published: tuple[int, int], changes: Moves
) -> None:
    round_id, version_id = published
    async with sessions() as session:
        check = await schedules.check_moves(session, version_id, changes)
        full = await _full_verdict(session, round_id, version_id, changes)

    assert check.errors == [BrokenRule(**asdict(violation)) for violation in full]
    assert check.keeps_every_rule == (not full)


async def test_a_change_of_the_round_is_judged_at_once(sessions: Sessions, published: tuple[int, int]) -> None:
    round_id, version_id = published
    later = Moves(moves=[Move(request="P-001-a", instrument="SKIF-1-1", start_shift=24, shifts=8)])
    async with sessions() as session:
        assert (await schedules.check_moves(session, version_id, later)).keeps_every_rule

    async with sessions.begin() as session:
        request = await session.scalar(select(Request).where(col(Request.code) == "P-001-a"))
        assert request is not None
        round_file = await export_round(session, round_id)
        request.latest = Grid(round_file.round).time(24) + timedelta(hours=1)

    async with sessions() as session:
        check = await schedules.check_moves(session, version_id, later)
    assert not check.keeps_every_rule
    assert [error.rule for error in check.errors] == [4], check.errors
    with pytest.raises(MoveRejectedError) as refused:
        async with sessions.begin() as session:
            await schedules.move(session, version_id, later, user_id=None)
    assert [BrokenRule(**violation) for violation in refused.value.members["errors"]] == check.errors
