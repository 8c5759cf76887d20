"""What a process knows of a round at its input revisions (`scheduler.rounds.revision.ByRevision`): the commits of
concurrent writes are heard of in any order, and a write may ask about a revision older than the last one noted."""

from __future__ import annotations

from scheduler.rounds.revision import ByRevision


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
