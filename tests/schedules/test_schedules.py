"""Schedule versions and proposer views on both databases: publishing, races, diffs, pins, moves, status, ICS."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from advanced_alchemy.filters import LimitOffset
from icalendar import Calendar
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.accounts.audit import entries
from scheduler.db.tables import (
    Proposal,
    Round,
    ScheduleVersion,
    SolveRun,
    User,
)
from scheduler.errors import Conflict, NotFound
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation
from scheduler.rounds.importer import import_round
from scheduler.schedules import calendar
from scheduler.schedules import service as schedules
from scheduler.schedules.confidential import PUBLIC_DETAIL
from scheduler.schedules.service import Move, MoveRejectedError, Moves, RevisionConflictError
from scheduler.schedules.versions import save_version
from solver.explain import TIMED_OUT

EXAMPLE = EXAMPLE_ROUND

SOLVED = [
    ("P-001-a", "SKIF-1-1", 9, 9),
    ("P-004-a", "SKIF-1-4", 0, 6),
    ("P-003-a", "SKIF-1-4", 9, 3),
    ("P-002-a", "SKIF-1-4", 12, 6),
    ("P-006-a", "PIK-SANS", 0, 12),
    ("P-003-b", "PIK-SANS", 13, 9),
]
"""An optimal schedule of the example round (P-005 is below the cut-off)."""
WITHOUT_P004 = [placement for placement in SOLVED if placement[0] != "P-004-a"]
"""A worse schedule that still keeps every rule of the round: publishing re-validates a draft."""

Sessions = async_sessionmaker[AsyncSession]
Placement = tuple[str, str, int, int]


async def _import(sessions: Sessions, previous: list[Placement] | None = SOLVED) -> int:
    """The example round; `previous` becomes its published version."""
    round_file = load_round(EXAMPLE)
    if previous is not None:
        round_file = round_file.model_copy(
            update={
                "previous_schedule": [
                    PreviousAllocation(request=r, instrument=i, start_shift=s, shifts=n) for r, i, s, n in previous
                ]
            }
        )
    async with sessions.begin() as session:
        return await import_round(session, round_file)


async def _draft(sessions: Sessions, round_id: int, placements: list[Placement]) -> int:
    """A solve's draft of these placements, stored by the one writer of versions."""
    allocations = [PreviousAllocation(request=r, instrument=i, start_shift=s, shifts=n) for r, i, s, n in placements]
    async with sessions.begin() as session:
        return await save_version(session, round_id, allocations, source="solve", note="")


async def _published_id(sessions: Sessions, round_id: int) -> int:
    async with sessions() as session:
        versions = await schedules.list_versions(session, round_id)
    return next(v.id for v in versions.items if v.status == "published")


async def _revision(sessions: Sessions, round_id: int) -> int:
    async with sessions() as session:
        return (await schedules.list_versions(session, round_id)).revision


async def _statuses(sessions: Sessions, round_id: int) -> dict[str, str]:
    async with sessions() as session:
        rows = await session.execute(
            select(ScheduleVersion.number, ScheduleVersion.status).where(ScheduleVersion.round_id == round_id)
        )
        return {f"v{number}": status for number, status in rows}


def _placements(detail: schedules.VersionDetail) -> set[Placement]:
    return {(a.request, a.instrument, a.start_shift, a.shifts) for a in detail.allocations}


async def test_publishing_supersedes_the_version_in_force(sessions: Sessions) -> None:
    round_id = await _import(sessions)
    draft = await _draft(sessions, round_id, WITHOUT_P004)
    revision = await _revision(sessions, round_id)

    async with sessions.begin() as session:
        published = await schedules.publish(session, draft, expected_revision=revision, user_id=None)

    assert published.revision == revision + 1
    assert published.version.status == "published" and published.version.published_at is not None
    assert await _statuses(sessions, round_id) == {"v1": "superseded", "v2": "published"}
    assert await _revision(sessions, round_id) == revision + 1
    async with sessions() as session:
        (logged,) = (await entries(session, LimitOffset(limit=10, offset=0), entity="schedule")).items
    assert (logged.action, logged.entity_id, logged.detail["revision"]) == (
        "schedule.publish",
        str(draft),
        revision + 1,
    )

    another = await _draft(sessions, round_id, SOLVED)
    with pytest.raises(RevisionConflictError) as stale:
        async with sessions.begin() as session:
            await schedules.publish(session, another, expected_revision=revision, user_id=None)
    assert stale.value.members["current_revision"] == revision + 1
    assert await _statuses(sessions, round_id) == {"v1": "superseded", "v2": "published", "v3": "draft"}

    with pytest.raises(Conflict, match="only drafts"):
        async with sessions.begin() as session:
            await schedules.publish(session, draft, expected_revision=revision + 1, user_id=None)


async def test_two_coordinators_publishing_at_once_one_wins(sessions: Sessions) -> None:
    round_id = await _import(sessions)
    first, second = await _draft(sessions, round_id, SOLVED), await _draft(sessions, round_id, WITHOUT_P004)
    revision = await _revision(sessions, round_id)

    async def attempt(version_id: int) -> schedules.Published:
        async with sessions.begin() as session:
            return await schedules.publish(session, version_id, expected_revision=revision, user_id=None)

    outcomes = await asyncio.gather(attempt(first), attempt(second), return_exceptions=True)

    won = [o for o in outcomes if isinstance(o, schedules.Published)]
    lost = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], RevisionConflictError)
    statuses = await _statuses(sessions, round_id)
    assert list(statuses.values()).count("published") == 1
    assert statuses[f"v{won[0].version.number}"] == "published"
    assert await _revision(sessions, round_id) == revision + 1


async def test_diff_names_each_change_per_request(sessions: Sessions) -> None:
    round_id = await _import(sessions)
    published = await _published_id(sessions, round_id)
    changed = [
        ("P-001-a", "SKIF-1-1", 12, 9),  # moved: same instrument, later
        ("P-004-a", "SKIF-1-1", 0, 6),  # moved: other instrument
        ("P-003-a", "SKIF-1-4", 9, 3),
        ("P-002-a", "SKIF-1-4", 12, 5),  # resized
        ("P-006-a", "PIK-SANS", 0, 12),
        # P-003-b dropped
        ("P-005-a", "PIK-SANS", 30, 6),  # added
    ]
    draft = await _draft(sessions, round_id, changed)

    async with sessions() as session:
        diff = await schedules.diff(session, published, draft)

    assert [(c.request, c.after and (c.after.instrument, c.after.start_shift)) for c in diff.moved] == [
        ("P-001-a", ("SKIF-1-1", 12)),
        ("P-004-a", ("SKIF-1-1", 0)),
    ]
    assert [(c.request, c.before and c.before.shifts, c.after and c.after.shifts) for c in diff.resized] == [
        ("P-002-a", 6, 5)
    ]
    assert [(c.request, c.after) for c in diff.dropped] == [("P-003-b", None)]
    assert [(c.request, c.before) for c in diff.added] == [("P-005-a", None)]
    assert diff.unchanged == 2
    assert (diff.from_version, diff.to_version) == (published, draft)


async def test_pins_change_on_drafts_only(sessions: Sessions) -> None:
    round_id = await _import(sessions)
    published = await _published_id(sessions, round_id)
    draft = await _draft(sessions, round_id, SOLVED)

    async with sessions.begin() as session:
        pinned = await schedules.set_pinned(session, draft, "P-001-a", True, user_id=None)
    assert pinned.pinned
    async with sessions() as session:
        detail = await schedules.get_version(session, draft)
    assert {a.request for a in detail.allocations if a.pinned} == {"P-001-a"}

    async with sessions.begin() as session:
        unpinned = await schedules.set_pinned(session, draft, "P-001-a", False, user_id=None)
    assert not unpinned.pinned

    with pytest.raises(Conflict, match="only drafts"):
        async with sessions.begin() as session:
            await schedules.set_pinned(session, published, "P-001-a", True, user_id=None)
    with pytest.raises(NotFound):
        async with sessions.begin() as session:
            await schedules.set_pinned(session, draft, "P-005-a", True, user_id=None)


@pytest.mark.parametrize(
    ("move", "rule", "words"),
    [
        (Move(request="P-001-a", instrument="SKIF-1-1", start_shift=3, shifts=9), 2, "machine_development"),
        (Move(request="P-004-a", instrument="SKIF-1-4", start_shift=14, shifts=6), 3, "overlaps"),
        (Move(request="P-002-a", instrument="SKIF-1-1", start_shift=30, shifts=6), 1, "asks for instruments"),
        (Move(request="P-005-a", instrument="PIK-SANS", start_shift=30, shifts=6), 9, "scoring rules"),
        (Move(request="P-404-a", instrument="PIK-SANS", start_shift=30, shifts=6), 1, "not in the round"),
        (Move(request="P-001-a", instrument="SKIF-1-1", start_shift=2**31 - 9, shifts=9), 2, "leave the grid of 42"),
    ],
)
async def test_a_move_that_breaks_a_rule_is_rejected_and_saves_nothing(
    sessions: Sessions, move: Move, rule: int, words: str
) -> None:
    round_id = await _import(sessions)
    published = await _published_id(sessions, round_id)

    with pytest.raises(MoveRejectedError) as rejected:
        async with sessions.begin() as session:
            await schedules.move(session, published, Moves(moves=[move]), user_id=None)

    broken = rejected.value.members["errors"]
    assert any(v["rule"] == rule and words in v["message"] for v in broken), broken
    assert await _statuses(sessions, round_id) == {"v1": "published"}


async def test_a_valid_move_saves_a_new_draft_and_leaves_its_base_alone(sessions: Sessions) -> None:
    round_id = await _import(sessions)
    base = await _draft(sessions, round_id, SOLVED)
    async with sessions.begin() as session:
        await schedules.set_pinned(session, base, "P-006-a", True, user_id=None)
        before = await schedules.get_version(session, base)

    async with sessions.begin() as session:
        edited = await schedules.move(
            session,
            base,
            Moves(moves=[Move(request="P-001-a", instrument="SKIF-1-1", start_shift=24, shifts=8)]),
            user_id=None,
        )

    assert (edited.status, edited.source, edited.number) == ("draft", "edit", 3)
    assert _placements(edited) == _placements(before) - {("P-001-a", "SKIF-1-1", 9, 9)} | {
        ("P-001-a", "SKIF-1-1", 24, 8)
    }
    assert {a.request for a in edited.allocations if a.pinned} == {"P-006-a"}
    assert edited.objective is not None and edited.objective == pytest.approx(79577.366 - 1778.2794, rel=1e-6)
    async with sessions() as session:
        assert _placements(await schedules.get_version(session, base)) == _placements(before)


async def test_a_move_leaves_out_proposals_withdrawn_since(sessions: Sessions) -> None:
    round_id = await _import(sessions)
    published = await _published_id(sessions, round_id)
    async with sessions.begin() as session:
        await session.execute(update(Proposal).where(Proposal.code == "P-004").values(withdrawn=True))

    async with sessions.begin() as session:
        edited = await schedules.move(
            session,
            published,
            Moves(moves=[Move(request="P-001-a", instrument="SKIF-1-1", start_shift=24, shifts=9)]),
            user_id=None,
        )

    assert {a.request for a in edited.allocations} == {"P-001-a", "P-002-a", "P-003-a", "P-003-b", "P-006-a"}


async def test_a_pinned_allocation_does_not_move(sessions: Sessions) -> None:
    round_id = await _import(sessions)
    draft = await _draft(sessions, round_id, SOLVED)
    async with sessions.begin() as session:
        await schedules.set_pinned(session, draft, "P-001-a", True, user_id=None)

    with pytest.raises(MoveRejectedError) as rejected:
        async with sessions.begin() as session:
            await schedules.move(
                session,
                draft,
                Moves(moves=[Move(request="P-001-a", instrument="SKIF-1-1", start_shift=24, shifts=9)]),
                user_id=None,
            )
    assert [v["rule"] for v in rejected.value.members["errors"]] == [8]


BEFORE_SWAP = [
    ("P-001-a", "SKIF-1-1", 9, 9),
    ("P-004-a", "SKIF-1-4", 9, 6),
    ("P-003-a", "SKIF-1-4", 15, 3),
    ("P-002-a", "SKIF-1-4", 18, 6),
    ("P-006-a", "PIK-SANS", 0, 12),
    ("P-003-b", "PIK-SANS", 21, 9),
]
"""A schedule that keeps every rule, with P-004-a and P-003-a back to back on SKIF-1-4."""
SWAP = Moves(
    moves=[
        Move(request="P-003-a", instrument="SKIF-1-4", start_shift=9, shifts=3),
        Move(request="P-004-a", instrument="SKIF-1-4", start_shift=12, shifts=6),
    ]
)
"""P-004-a and P-003-a exchange their order: each move alone overlaps the other block (rule 3)."""


async def test_a_swap_keeps_every_rule_only_as_a_pair_and_makes_one_draft(sessions: Sessions) -> None:
    round_id = await _import(sessions)
    base = await _draft(sessions, round_id, BEFORE_SWAP)

    async with sessions() as session:
        alone = [await schedules.check_moves(session, base, Moves(moves=[half])) for half in SWAP.moves]
        together = await schedules.check_moves(session, base, SWAP)
    assert [[error.rule for error in check.errors] for check in alone] == [[3], [3]]
    assert not any(check.keeps_every_rule for check in alone)
    assert (together.keeps_every_rule, together.errors) == (True, [])
    assert await _statuses(sessions, round_id) == {"v1": "published", "v2": "draft"}, "a check saves nothing"

    async with sessions.begin() as session:
        swapped = await schedules.move(session, base, SWAP, user_id=None)
    assert _placements(swapped) == set(BEFORE_SWAP) - {
        ("P-004-a", "SKIF-1-4", 9, 6),
        ("P-003-a", "SKIF-1-4", 15, 3),
    } | {
        ("P-003-a", "SKIF-1-4", 9, 3),
        ("P-004-a", "SKIF-1-4", 12, 6),
    }
    assert await _statuses(sessions, round_id) == {"v1": "published", "v2": "draft", "v3": "draft"}


async def test_moves_that_break_a_rule_together_save_nothing_and_name_each_move(sessions: Sessions) -> None:
    round_id = await _import(sessions)
    published = await _published_id(sessions, round_id)
    off_the_grid = Move(request="P-002-a", instrument="SKIF-1-4", start_shift=40, shifts=6)

    with pytest.raises(MoveRejectedError) as rejected:
        async with sessions.begin() as session:
            await schedules.move(session, published, Moves(moves=[SWAP.moves[0], off_the_grid]), user_id=None)

    assert [(v["rule"], v["path"]) for v in rejected.value.members["errors"]] == [(2, "$.moves[1].start_shift")]
    assert await _statuses(sessions, round_id) == {"v1": "published"}


def test_a_change_moves_each_request_once() -> None:
    with pytest.raises(ValueError, match="P-003-a more than once"):
        Moves(moves=[SWAP.moves[0], SWAP.moves[0]])


async def _user(sessions: Sessions, email: str) -> tuple[int, str]:
    """A proposer with a calendar feed: their id and the token of its address."""
    async with sessions.begin() as session:
        user = User(email=email, name=email.split("@")[0], role="proposer", password_hash="-")
        session.add(user)
        await session.flush()
        assert user.id is not None
        return user.id, _token(await calendar.new_calendar_path(session, user.id))


def _token(path: str) -> str:
    return path.removeprefix("/calendar/").removesuffix(".ics")


async def _own(sessions: Sessions, round_id: int, user_id: int, *codes: str) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(Proposal)
            .where(Proposal.round_id == round_id, col(Proposal.code).in_(codes))
            .values(owner_id=user_id)
        )


async def _my(sessions: Sessions, user_id: int) -> dict[str, calendar.ProposalStatus]:
    async with sessions() as session:
        return {status.proposal: status for status in await calendar.my_proposals(session, user_id)}


@pytest.mark.parametrize(
    ("phase", "status"), [("open", "submitted"), ("review", "under_review"), ("allocation", "scored")]
)
async def test_before_a_schedule_is_published_the_status_follows_the_phase(
    sessions: Sessions, phase: str, status: str
) -> None:
    round_id = await _import(sessions, previous=None)
    user_id, _ = await _user(sessions, "pi@example.org")
    await _own(sessions, round_id, user_id, "P-001", "P-005")
    async with sessions.begin() as session:
        await session.execute(update(Round).where(Round.id == round_id).values(phase=phase))

    assert {code: s.status for code, s in (await _my(sessions, user_id)).items()} == {
        "P-001": status,
        "P-005": status,
    }


async def test_statuses_once_a_schedule_is_published(sessions: Sessions) -> None:
    without_p002 = [p for p in SOLVED if p[0] != "P-002-a"]
    round_id = await _import(sessions, previous=without_p002)
    user_id, _ = await _user(sessions, "pi@example.org")
    await _own(sessions, round_id, user_id, "P-001", "P-002", "P-003", "P-004", "P-005")
    async with sessions.begin() as session:
        await session.execute(update(Proposal).where(Proposal.code == "P-004").values(withdrawn=True))

    mine = await _my(sessions, user_id)

    assert {code: s.status for code, s in mine.items()} == {
        "P-001": "scheduled",
        "P-002": "waitlisted",
        "P-003": "scheduled",
        "P-004": "withdrawn",
        "P-005": "not_scheduled",
    }
    (slot,) = mine["P-001"].slots
    assert (slot.instrument, slot.facility, slot.timezone) == ("SKIF-1-1", "SKIF", "Asia/Novosibirsk")
    assert slot.start.isoformat() == "2027-02-04T12:00:00+07:00"
    assert slot.end.isoformat() == "2027-02-07T12:00:00+07:00"
    assert [s.request for s in mine["P-003"].slots] == ["P-003-a", "P-003-b"]
    assert mine["P-003"].slots[1].start.isoformat() == "2027-02-05T16:00:00+03:00"  # PIK is on Moscow time
    assert (mine["P-005"].reason, mine["P-005"].detail) == ("below_cutoff", "score 3.8 worse than the cut-off 3.5")
    # Measured (an imported schedule has no solve output): P-002-a fits where it was left out, never "capacity".
    assert mine["P-002"].reason == TIMED_OUT
    assert mine["P-002"].detail == PUBLIC_DETAIL[TIMED_OUT]

    async with sessions.begin() as session:
        published = await schedules.list_versions(session, round_id)
        session.add(
            SolveRun(
                round_id=round_id,
                state="done",
                schedule_version_id=published.items[0].id,
                output={
                    "unallocated": [
                        {
                            "proposal": "P-002",
                            "request": "P-002-a",
                            "reason": "capacity",
                            "detail": "all 1 blocks in its dates rank higher; lowest 4.2 (P-006-a) vs its 3.1",
                            "competitors": [{"request": "P-006-a", "priority": 4.2}],
                        },
                        {"proposal": "P-005", "request": "P-005-a", "reason": "below_cutoff", "detail": "low score"},
                    ]
                },
            )
        )
    mine = await _my(sessions, user_id)
    # Other teams' requests and priorities are panel results: the proposer reads the reason in plain words.
    waitlisted = (mine["P-002"].status, mine["P-002"].reason, mine["P-002"].detail)
    assert waitlisted == ("waitlisted", "capacity", PUBLIC_DETAIL["capacity"])
    assert (mine["P-005"].status, mine["P-005"].detail) == ("not_scheduled", "low score")


async def test_the_calendar_feed_has_one_event_per_slot_of_its_user(sessions: Sessions) -> None:
    round_id = await _import(sessions)
    owner, token = await _user(sessions, "pi@example.org")
    other, _ = await _user(sessions, "other@example.org")
    await _own(sessions, round_id, owner, "P-001", "P-003")
    await _own(sessions, round_id, other, "P-006")
    await _draft(sessions, round_id, [("P-001-a", "SKIF-1-1", 24, 9)])  # drafts are not in the feed

    async with sessions() as session:
        feed = Calendar.from_ical(await calendar.calendar_feed(session, token))

    events = {str(event["uid"]): event for event in feed.walk("VEVENT")}
    assert set(events) == {
        "2027-I-example-P-001-a@beamtime",
        "2027-I-example-P-003-a@beamtime",
        "2027-I-example-P-003-b@beamtime",
    }
    p001 = events["2027-I-example-P-001-a@beamtime"]
    assert p001.decoded("dtstart") == datetime(2027, 2, 4, 5, tzinfo=UTC)
    assert p001.decoded("dtend") == datetime(2027, 2, 7, 5, tzinfo=UTC)
    assert "P-001" in str(p001["summary"]) and "SKIF-1-1" in str(p001["summary"])
    assert str(p001["location"]) == "SKIF synchrotron, Microfocus MX"
    assert p001["sequence"] == 0
    assert events["2027-I-example-P-003-b@beamtime"].decoded("dtstart") == datetime(2027, 2, 5, 13, tzinfo=UTC)

    with pytest.raises(NotFound):
        async with sessions() as session:
            await calendar.calendar_feed(session, "not-a-token")

    async with sessions.begin() as session:
        renewed = _token(await calendar.new_calendar_path(session, owner))
    async with sessions() as session:
        again = Calendar.from_ical(await calendar.calendar_feed(session, renewed))
        assert {str(event["uid"]) for event in again.walk("VEVENT")} == set(events)
        with pytest.raises(NotFound):
            await calendar.calendar_feed(session, token)  # a new address ends the one before
