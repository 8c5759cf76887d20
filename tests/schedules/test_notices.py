"""Change notices on both databases: written when a version is published, read as a change log and a calendar feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from advanced_alchemy.filters import LimitOffset
from icalendar import Calendar
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import ChangeNotice, Proposal, ScheduleVersion
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation
from scheduler.schedules import calendar
from scheduler.schedules import service as schedules
from scheduler.schedules.notices import my_changes
from scheduler.schedules.versions import save_version
from tests.api_helpers import api_client, login, make_user
from tests.nightly.nightly_helpers import Placement, add_rapid_access, add_window, cancel, import_published

EXAMPLE = EXAMPLE_ROUND
ROUND_START = datetime(2027, 2, 1, 5, tzinfo=UTC)
SHIFT = timedelta(hours=8)
PUBLISHED = [
    ("P-001-a", "SKIF-1-1", 9, 9),
    ("P-004-a", "SKIF-1-4", 0, 6),
    ("P-003-a", "SKIF-1-4", 9, 3),
    ("P-002-a", "SKIF-1-4", 12, 6),
    ("P-006-a", "PIK-SANS", 0, 12),
    ("P-003-b", "PIK-SANS", 13, 9),
]
REPAIRED = [
    ("P-001-a", "SKIF-1-1", 18, 9),  # moved
    ("P-004-a", "SKIF-1-4", 0, 6),
    ("P-003-a", "SKIF-1-4", 9, 3),
    # P-002-a dropped: the team cancelled
    ("P-006-a", "PIK-SANS", 0, 10),  # shortened
    ("P-003-b", "PIK-SANS", 23, 9),  # moved off a new window
    ("P-005-a", "PIK-SANS", 16, 6),  # added from the waiting list
    ("RA-1-a", "SKIF-1-4", 12, 3),  # a new rapid-access proposal
]

Sessions = async_sessionmaker[AsyncSession]


async def _round_with_changes(sessions: Sessions) -> tuple[int, int]:
    """The example round published, then changed: P-002 cancelled, a window under P-003-b, a rapid-access
    proposal, P-005 given a priority (eligible, waiting); returns the round and the repaired draft, which
    keeps every rule of the round as it is then."""
    round_id = await import_published(sessions, load_round(EXAMPLE), PUBLISHED)
    async with sessions.begin() as session:
        await session.execute(
            update(Proposal)
            .where(col(Proposal.round_id) == round_id, col(Proposal.code) == "P-005")
            .values(priority=1.0)
        )
        await cancel(session, round_id, "P-002")
        await add_window(session, "PIK-SANS", ROUND_START + 14 * SHIFT, ROUND_START + 16 * SHIFT, "pump failure")
        await add_rapid_access(session, round_id, "RA-1", "SKIF-1-4", 3, ROUND_START, priority=20.0)
    return round_id, await _draft(sessions, round_id, REPAIRED)


async def _draft(sessions: Sessions, round_id: int, placements: list[Placement]) -> int:
    """A solve's draft of these placements, stored by the one writer of versions."""
    allocations = [PreviousAllocation(request=r, instrument=i, start_shift=s, shifts=n) for r, i, s, n in placements]
    async with sessions.begin() as session:
        return await save_version(session, round_id, allocations, source="solve", note="")


async def _publish(sessions: Sessions, version_id: int) -> None:
    async with sessions.begin() as session:
        round_id = await session.scalar(select(ScheduleVersion.round_id).where(col(ScheduleVersion.id) == version_id))
        assert round_id is not None
        revision = (await schedules.list_versions(session, round_id)).revision
        await schedules.publish(session, version_id, expected_revision=revision, user_id=None)


async def _owner(sessions: Sessions, round_id: int, email: str, *codes: str) -> tuple[int, str]:
    """A proposer owning `codes`; their id and calendar token. Given after the drafts are published: an owned
    proposal's countries are its owner's confirmed one (none here), which would break the quotas they keep."""
    user_id = await make_user(sessions, "proposer", email)
    async with sessions.begin() as session:
        await session.execute(
            update(Proposal)
            .where(col(Proposal.round_id) == round_id, col(Proposal.code).in_(codes))
            .values(owner_id=user_id)
        )
        path = await calendar.new_calendar_path(session, user_id)
    return user_id, path.removeprefix("/calendar/").removesuffix(".ics")


async def test_publishing_writes_a_notice_per_changed_slot_with_its_reason(sessions: Sessions) -> None:
    _, draft = await _round_with_changes(sessions)

    await _publish(sessions, draft)

    async with sessions() as session:
        notices = (
            (await session.execute(select(ChangeNotice).where(col(ChangeNotice.schedule_version_id) == draft)))
            .scalars()
            .all()
        )
    by_request = {notice.request_code: notice for notice in notices}
    assert {request: (n.kind, n.reason) for request, n in by_request.items()} == {
        "P-001-a": ("moved", "moved to make room"),
        "P-002-a": ("dropped", "cancelled"),
        "P-006-a": ("resized", "shortened to make room"),
        "P-003-b": ("moved", "new maintenance window on PIK-SANS: pump failure"),
        "P-005-a": ("added", "added from the waiting list"),
        "RA-1-a": ("added", "new rapid-access proposal"),
    }
    moved = by_request["P-001-a"]
    assert moved.before is not None and moved.after is not None
    assert (moved.before["instrument"], moved.before["start_shift"], moved.before["shifts"]) == ("SKIF-1-1", 9, 9)
    assert (moved.after["instrument"], moved.after["start_shift"], moved.after["shifts"]) == ("SKIF-1-1", 18, 9)
    assert datetime.fromisoformat(moved.after["start"]) == ROUND_START + 18 * SHIFT
    assert by_request["P-002-a"].after is None and by_request["RA-1-a"].before is None


async def test_the_first_publication_of_a_round_changes_no_ones_plans(sessions: Sessions) -> None:
    round_id = await import_published(sessions, load_round(EXAMPLE), [])
    async with sessions.begin() as session:
        await session.execute(update(ScheduleVersion).values(status="draft"))
    version = await _draft(sessions, round_id, PUBLISHED)

    await _publish(sessions, version)

    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ChangeNotice)) == 0


async def test_the_change_log_and_the_calendar_follow_the_notices(sessions: Sessions) -> None:
    round_id, draft = await _round_with_changes(sessions)
    await _publish(sessions, draft)
    # Later P-001-a moves back; its event's SEQUENCE counts both changes.
    again = await _draft(sessions, round_id, [("P-001-a", "SKIF-1-1", 9, 9), *REPAIRED[1:]])
    await _publish(sessions, again)
    owner, token = await _owner(sessions, round_id, "pi@example.org", "P-001", "P-002", "P-003", "P-004")
    other, _ = await _owner(sessions, round_id, "other@example.org", "P-006")

    async with sessions() as session:
        log = (await my_changes(session, owner, LimitOffset(limit=100, offset=0))).items
        others = (await my_changes(session, other, LimitOffset(limit=100, offset=0))).items
        feed = Calendar.from_ical(await calendar.calendar_feed(session, token))

    assert [(n.request, n.kind, n.version) for n in log] == [
        ("P-001-a", "moved", 3),
        ("P-002-a", "dropped", 2),
        ("P-003-b", "moved", 2),
        ("P-001-a", "moved", 2),
    ], "newest first"
    assert [(n.request, n.reason) for n in others] == [("P-006-a", "shortened to make room")]

    events = {(str(event["uid"]), str(event["status"])): event for event in feed.walk("VEVENT")}
    assert set(events) == {
        ("2027-I-example-P-001-a@beamtime", "CONFIRMED"),
        ("2027-I-example-P-002-a@beamtime", "CANCELLED"),
        ("2027-I-example-P-003-a@beamtime", "CONFIRMED"),
        ("2027-I-example-P-003-b@beamtime", "CONFIRMED"),
        ("2027-I-example-P-004-a@beamtime", "CONFIRMED"),
    }
    assert events["2027-I-example-P-001-a@beamtime", "CONFIRMED"]["sequence"] == 2
    assert events["2027-I-example-P-003-b@beamtime", "CONFIRMED"]["sequence"] == 1
    assert events["2027-I-example-P-003-b@beamtime", "CONFIRMED"].decoded("dtstart") == ROUND_START + 23 * SHIFT
    assert events["2027-I-example-P-003-a@beamtime", "CONFIRMED"]["sequence"] == 0
    cancelled = events["2027-I-example-P-002-a@beamtime", "CANCELLED"]
    assert cancelled["sequence"] == 1
    assert cancelled.decoded("dtstart") == ROUND_START + 12 * SHIFT
    assert cancelled.decoded("dtend") == ROUND_START + 18 * SHIFT


async def test_my_changes_over_http(database_url: str, sessions: Sessions) -> None:
    round_id, draft = await _round_with_changes(sessions)
    await _publish(sessions, draft)
    await _owner(sessions, round_id, "pi@example.org", "P-002", "P-003")
    await _owner(sessions, round_id, "outsider@example.org")

    async with api_client(database_url) as client:
        mine = await client.get("/me/changes", headers=await login(client, "pi@example.org"))
        outsider = await client.get("/me/changes", headers=await login(client, "outsider@example.org"))
        paged = await client.get("/me/changes?limit=1&offset=1", headers=await login(client, "pi@example.org"))
        anonymous = await client.get("/me/changes")

    assert mine.status_code == 200, mine.text
    assert mine.json()["total"] == 2
    assert {(n["request"], n["kind"], n["reason"]) for n in mine.json()["items"]} == {
        ("P-002-a", "dropped", "cancelled"),
        ("P-003-b", "moved", "new maintenance window on PIK-SANS: pump failure"),
    }
    entry = next(n for n in mine.json()["items"] if n["request"] == "P-003-b")
    assert entry["round_id"] == round_id and entry["proposal"] == "P-003" and entry["version"] == 2
    assert entry["before"]["start_shift"] == 13 and entry["after"]["start_shift"] == 23
    assert outsider.status_code == 200 and outsider.json()["items"] == [] and outsider.json()["total"] == 0
    assert paged.json()["items"] == mine.json()["items"][1:]
    assert paged.json()["total"] == 2, "the total counts the whole log, not the page"
    assert anonymous.status_code == 401


async def test_the_calendar_feed_over_http_answers_get_and_head_alike(database_url: str, sessions: Sessions) -> None:
    round_id, draft = await _round_with_changes(sessions)
    await _publish(sessions, draft)
    _, token = await _owner(sessions, round_id, "pi@example.org", "P-002", "P-003")

    async with api_client(database_url) as client:
        got = await client.get(f"/calendar/{token}.ics")
        headers = await client.head(f"/calendar/{token}.ics")
        unknown = await client.head("/calendar/0123456789abcdef0123.ics")

    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "text/calendar; charset=utf-8", "one charset"
    statuses = {str(event["uid"]): str(event["status"]) for event in Calendar.from_ical(got.content).walk("VEVENT")}
    assert statuses == {
        "2027-I-example-P-002-a@beamtime": "CANCELLED",
        "2027-I-example-P-003-a@beamtime": "CONFIRMED",
        "2027-I-example-P-003-b@beamtime": "CONFIRMED",
    }
    assert headers.status_code == 200 and headers.content == b""
    assert headers.headers["content-type"] == got.headers["content-type"]
    assert headers.headers["content-length"] == str(len(got.content))
    assert unknown.status_code == 404
