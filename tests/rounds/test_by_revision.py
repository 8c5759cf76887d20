"""What a process knows of a round at its input revisions (`scheduler.rounds.revision.ByRevision`): the commits of
concurrent writes are heard of in any order, and a write may ask about a revision older than the last one noted; and
the round a move of its revision returns (`move_now`)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import Round
from scheduler.roundfile.checks import load_round
from scheduler.rounds.importer import import_round
from scheduler.rounds.revision import ByRevision, move_now


def test_a_value_is_carried_on_by_the_moves_that_kept_it_whatever_order_they_are_heard_in() -> None:
    known: ByRevision[str] = ByRevision()
    known.kept(11, 12)  # heard of before the move to 11 and before anything is known at 10
    known.kept(10, 11)
    assert known.at(11) is None

    known.note(10, "offer")

    assert [known.at(revision) for revision in (9, 10, 11, 12, 13)] == [None, "offer", "offer", "offer", None]


def test_a_move_from_an_unknown_revision_says_nothing_of_the_revision_it_moved_to() -> None:
    known: ByRevision[str] = ByRevision()
    known.note(10, "offer")
    known.kept(12, 13)  # the move from 11 to 12 changed the value (a coordinator's write): no move links them

    assert (known.at(10), known.at(12), known.at(13)) == ("offer", None, None)
    known.note(12, "other")
    assert (known.at(12), known.at(13)) == ("other", "other")


def test_only_the_latest_revisions_are_kept() -> None:
    known: ByRevision[int] = ByRevision()
    for revision in range(3 * ByRevision.KEPT):
        known.note(revision, revision)

    assert known.at(3 * ByRevision.KEPT - 1) == 3 * ByRevision.KEPT - 1
    assert known.at(2 * ByRevision.KEPT - 1) == 2 * ByRevision.KEPT - 1
    assert known.at(0) is None


async def test_moving_a_rounds_revision_gives_the_round_as_committed_whether_or_not_the_session_held_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """`move_now` refreshes the round the session holds from the row its UPDATE returns, and reads one it does not."""
    async with sessions.begin() as session:
        round_id = await import_round(session, load_round(EXAMPLE_ROUND))
    async with sessions.begin() as session:
        held = await session.get(Round, round_id)
        assert held is not None
        async with sessions.begin() as other:  # another write commits a change after the round was read
            await other.execute(update(Round).where(col(Round.id) == round_id).values(name="Renamed meanwhile"))
        revision = held.input_revision

        bump, moved = await move_now(session, round_id)

        assert moved is held
        assert (moved.name, moved.input_revision, bump.before, bump.after) == (
            "Renamed meanwhile",
            revision + 1,
            revision,
            revision + 1,
        )
    async with sessions.begin() as session:
        bump, moved = await move_now(session, round_id)  # nothing of the round in the session before

        assert (moved.id, moved.name, moved.input_revision, bump.after) == (
            round_id,
            "Renamed meanwhile",
            revision + 2,
            revision + 2,
        )
        assert moved is await session.get(Round, round_id)
