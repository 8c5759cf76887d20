"""Nightly repairs on both databases: decided once per round and night, only when the round changed, solved
by the real worker, judged for publication; caught up after a restart, once on DST nights, once across
replicas on PostgreSQL; the history over HTTP. The clock is injected, so no test waits for a night."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel, col

from fixtures import EXAMPLE_ROUND
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.db.tables import ChangeNotice, Round, ScheduleVersion, SolveRun
from scheduler.jobs import Worker, get_run, run_input, run_output
from scheduler.nightly.decide import decide_night, night_of
from scheduler.nightly.repair import conclude_repair, judge, prepare_repair
from scheduler.nightly.service import MISFIRE_GRACE_SECONDS, NightlyScheduler, start_nightly
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import SCHEDULE_FORMAT, Allocation, RoundFile, ScheduleFile
from scheduler.roundfile.grid import Grid
from scheduler.roundfile.resolve import changes_between
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import exclusions, priorities
from scheduler.roundfile.validate import validate_schedule
from scheduler.rounds.exporter import export_round
from scheduler.rounds.revision import input_revision
from scheduler.schedules.export import export_schedule
from scheduler.schedules.versions import save_version, version_schedule
from scheduler.settings import Settings
from tests.api_helpers import api_client, login, make_user
from tests.nightly.nightly_helpers import (
    Clock,
    add_rapid_access,
    add_window,
    cancel,
    import_published,
    published_since,
    set_round,
    shifted,
)

EXAMPLE = EXAMPLE_ROUND
SOLVED = [
    ("P-001-a", "SKIF-1-1", 9, 9),
    ("P-004-a", "SKIF-1-4", 0, 6),
    ("P-003-a", "SKIF-1-4", 9, 3),
    ("P-002-a", "SKIF-1-4", 12, 6),
    ("P-006-a", "PIK-SANS", 0, 12),
    ("P-003-b", "PIK-SANS", 13, 9),
]
"""An optimal schedule of the example round, published when the round is imported."""
NOVOSIBIRSK = ZoneInfo("Asia/Novosibirsk")
"""The timezone of the example round's first facility, SKIF; nightly runs are due at 02:00 there."""
ROUND_START = datetime(2027, 2, 1, 5, tzinfo=UTC)
LONG_AGO = datetime(2027, 1, 1, tzinfo=UTC)
SETTINGS = Settings(worker_poll_seconds=0.05, solve_time_limit=2.0, solve_workers=2)
POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
"""Several deciding processes are a PostgreSQL deployment; SQLite serves one process."""

Sessions = async_sessionmaker[AsyncSession]


def _due(night: date, zone: ZoneInfo = NOVOSIBIRSK) -> datetime:
    """A minute past the night's 02:00 local time."""
    return datetime(night.year, night.month, night.day, 2, 1, tzinfo=zone).astimezone(UTC)


async def _nightly_runs(sessions: Sessions, round_id: int | None = None) -> list[SolveRun]:
    query = select(SolveRun).where(col(SolveRun.kind) == "nightly").order_by(col(SolveRun.id))
    if round_id is not None:
        query = query.where(col(SolveRun.round_id) == round_id)
    async with sessions() as session:
        return list((await session.execute(query)).scalars())


async def _published_id(sessions: Sessions, round_id: int) -> int:
    async with sessions() as session:
        version_id = await session.scalar(
            select(ScheduleVersion.id).where(
                col(ScheduleVersion.round_id) == round_id, col(ScheduleVersion.status) == "published"
            )
        )
    assert version_id is not None
    return version_id


async def test_a_round_is_repaired_only_on_nights_after_it_changed(sessions: Sessions) -> None:
    round_id = await import_published(sessions, load_round(EXAMPLE), SOLVED)
    nights = [date(2027, 2, day) for day in range(2, 6)]

    first = await decide_night(sessions, round_id, nights[0], _due(nights[0]), SETTINGS)
    again = await decide_night(sessions, round_id, nights[0], _due(nights[0]) + timedelta(hours=1), SETTINGS)
    unchanged = await decide_night(sessions, round_id, nights[1], _due(nights[1]), SETTINGS)
    async with sessions.begin() as session:
        await cancel(session, round_id, "P-002")
    cancelled = await decide_night(sessions, round_id, nights[2], _due(nights[2]), SETTINGS)
    async with sessions.begin() as session:
        await add_window(session, "SKIF-1-1", ROUND_START + timedelta(days=9), ROUND_START + timedelta(days=10), "leak")
    windowed = await decide_night(sessions, round_id, nights[3], _due(nights[3]), SETTINGS)

    assert first is not None and (first.state, first.reason) == ("queued", None)
    assert again is None, "a night is decided once"
    assert unchanged is not None and unchanged.state == "skipped"
    assert unchanged.reason == f"nothing changed since the nightly run of 2027-02-02 (run {first.run_id})"
    assert cancelled is not None and cancelled.state == "queued"
    assert windowed is not None and windowed.state == "queued"
    runs = await _nightly_runs(sessions, round_id)
    assert [(run.run_key, run.state) for run in runs] == [
        (f"nightly:{round_id}:2027-02-02", "queued"),
        (f"nightly:{round_id}:2027-02-03", "skipped"),
        (f"nightly:{round_id}:2027-02-04", "queued"),
        (f"nightly:{round_id}:2027-02-05", "queued"),
    ]
    skipped = runs[1]
    assert skipped.settings["reason"] == unchanged.reason and skipped.finished_at is not None
    assert skipped.settings["now"] == _due(nights[1]).isoformat()
    assert len({run.settings["fingerprint"] for run in runs}) == 3, "a skipped night has the fingerprint it matched"
    assert runs[0].settings["fingerprint"] == skipped.settings["fingerprint"]
    assert (runs[0].settings["time_limit"], runs[0].settings["workers"]) == (2.0, 2)


async def test_a_schedule_solved_from_the_current_round_needs_no_repair(sessions: Sessions) -> None:
    round_id = await import_published(sessions, load_round(EXAMPLE), SOLVED)
    published = await _published_id(sessions, round_id)
    async with sessions.begin() as session:
        # The published version as a coordinator's solve made it: the run kept the round it solved.
        solved = (await export_round(session, round_id)).model_dump(mode="json")
        settings = {"time_limit": 1.0, "workers": 1, "seed": 0}
        session.add(
            SolveRun(round_id=round_id, state="done", settings=settings, input=solved, schedule_version_id=published)
        )
    night = date(2027, 2, 2)

    skipped = await decide_night(sessions, round_id, night, _due(night), SETTINGS)
    async with sessions.begin() as session:
        await cancel(session, round_id, "P-004")
    queued = await decide_night(
        sessions, round_id, night + timedelta(days=1), _due(night + timedelta(days=1)), SETTINGS
    )

    assert skipped is not None and skipped.state == "skipped"
    assert skipped.reason == "nothing changed since the published schedule (version 1) was solved"
    assert queued is not None and queued.state == "queued"


async def test_a_round_without_a_published_schedule_is_skipped(sessions: Sessions) -> None:
    round_id = await import_published(sessions, load_round(EXAMPLE), SOLVED)
    async with sessions.begin() as session:
        await session.execute(update(ScheduleVersion).values(status="draft"))

    decision = await decide_night(sessions, round_id, date(2027, 2, 2), _due(date(2027, 2, 2)), SETTINGS)

    assert decision is not None
    assert (decision.state, decision.reason) == ("skipped", "the round has no published schedule")
    async with sessions() as session:
        run = await get_run(session, decision.run_id)
    assert run is not None and (run.state, run.kind) == ("skipped", "nightly"), "solve summaries show skipped nights"


def _schedule(placements: list[tuple[str, str, int, int]]) -> ScheduleFile:
    grid = Grid(load_round(EXAMPLE).round)
    allocations = [
        Allocation(
            proposal=request.rsplit("-", 1)[0],
            request=request,
            instrument=instrument,
            start_shift=start,
            shifts=shifts,
            start=grid.time(start),
            end=grid.time(start + shifts),
            priority=1.0,
        )
        for request, instrument, start, shifts in placements
    ]
    return ScheduleFile(
        format=SCHEDULE_FORMAT,
        round="2027-I-example",
        status="feasible",
        objective=0.0,
        bound=None,
        solve_seconds=0.0,
        allocations=allocations,
        unallocated=[],
        quotas=[],
    )


def _moved(placements: list[tuple[str, str, int, int]], **starts: int) -> list[tuple[str, str, int, int]]:
    """`placements` with some requests (P_003_b for P-003-b) starting elsewhere."""
    moved = {request.replace("_", "-"): start for request, start in starts.items()}
    return [(r, i, moved.get(r, s), n) for r, i, s, n in placements]


@pytest.mark.parametrize(
    ("repaired", "withdrawn", "auto_publish", "complete", "outcome", "review"),
    [
        (SOLVED, set(), True, True, "unchanged", []),
        (_moved(SOLVED, P_003_b=27), set(), True, True, "published", []),
        (SOLVED[:3] + SOLVED[4:], {"P-002"}, True, True, "published", []),
        (
            SOLVED[:3] + SOLVED[4:] + [("P-005-a", "PIK-SANS", 30, 6)],
            {"P-002"},
            False,
            True,
            "waiting",
            ["the round does not publish nightly repairs by itself"],
        ),
        (
            _moved(SOLVED, P_006_a=22, P_003_b=0),
            set(),
            True,
            True,
            "waiting",
            [
                "2 published slot(s) inside the frozen horizon changed",
                "33.3% of the published slots changed, above the round's limit of 20.0%",
            ],
        ),
        (_moved(SOLVED, P_003_b=27), set(), True, False, "waiting", ["the solve was stopped before it finished"]),
    ],
    ids=["nothing", "one-move", "cancelled", "auto-publish-off", "frozen-and-too-many", "stopped"],
)
def test_the_auto_publish_policy(
    repaired: list[tuple[str, str, int, int]],
    withdrawn: set[str],
    auto_publish: bool,
    complete: bool,
    outcome: str,
    review: list[str],
) -> None:
    """The example round's slots against a horizon frozen until day 3 (shift 9), moves allowed up to 20 %."""
    published = _schedule(SOLVED)
    verdict = judge(
        changes_between(published, _schedule(repaired)),
        published,
        withdrawn=withdrawn,
        frozen_until=ROUND_START + timedelta(days=3),
        disrupted=[],
        auto_publish=auto_publish,
        max_moved_share=0.2,
        complete=complete,
    )

    assert (verdict.outcome, list(verdict.review)) == (outcome, review)


async def _repair(sessions: Sessions, round_id: int, night: date) -> SolveRun:
    """Decides the night, lets a worker run the repair, and returns the finished run."""
    decision = await decide_night(sessions, round_id, night, _due(night), SETTINGS)
    assert decision is not None and decision.state == "queued", decision
    assert await Worker(sessions, SETTINGS).drain(asyncio.Event()) == [decision.run_id]
    async with sessions() as session:
        run = await session.get(SolveRun, decision.run_id)
    assert run is not None and run.state == "done", run and run.error
    return run


async def _assert_valid_and_frozen(sessions: Sessions, run: SolveRun, published: int) -> None:
    """The repaired version keeps every rule of the round it solved, and no standing slot that starts
    inside the frozen horizon moved."""
    assert run.schedule_version_id is not None
    async with sessions() as session:
        solved = RoundFile.model_validate(await run_input(session, run.id))
        repaired = await export_schedule(session, run.schedule_version_id)
        before = await version_schedule(session, published)
    scores = score_round(solved)
    assert validate_schedule(solved, repaired, priorities(scores), exclusions(scores).keys()) == []
    standing = {request.id for proposal in solved.proposals for request in proposal.requests}
    frozen_until = datetime.fromisoformat(run.settings["frozen_until"])
    after = {a.request: (a.instrument, a.start_shift, a.shifts) for a in repaired.allocations}
    for allocation in before.allocations:
        if allocation.request in standing and allocation.start < frozen_until:
            assert after[allocation.request] == (allocation.instrument, allocation.start_shift, allocation.shifts)


async def test_a_repair_waits_for_review_or_publishes_itself(database_url: str, sessions: Sessions) -> None:
    round_id = await import_published(sessions, load_round(EXAMPLE), SOLVED)
    first_published = await _published_id(sessions, round_id)
    # The repair changes instruments of both facilities: their coordinator publishes it without waiting for sign-offs.
    await make_user(sessions, "coordinator", "coord@example.org", facility_codes=["SKIF", "PIK"])
    await make_user(sessions, "proposer", "pi@example.org")
    async with sessions.begin() as session:
        await cancel(session, round_id, "P-002")
        await add_rapid_access(session, round_id, "RA-1", "SKIF-1-4", 3, ROUND_START, priority=20.0)

    # The round does not publish by itself: the repair waits for a coordinator.
    waiting = await _repair(sessions, round_id, date(2027, 2, 2))

    assert waiting.settings["outcome"] == "waiting"
    assert waiting.settings["review"] == ["the round does not publish nightly repairs by itself"]
    assert waiting.settings["disrupted"] == []
    await _assert_valid_and_frozen(sessions, waiting, first_published)
    async with sessions() as session:
        draft = await session.get(ScheduleVersion, waiting.schedule_version_id)
        solved = await run_input(session, waiting.id)
        output = await run_output(session, waiting.id)
        expected = changes_between(
            await version_schedule(session, first_published),
            await version_schedule(session, waiting.schedule_version_id or 0),
        )
    assert draft is not None and draft.status == "draft"
    assert draft.note == "nightly repair waiting for review: the round does not publish nightly repairs by itself"
    assert solved is not None and output is not None
    assert {a["request"]: a["pinned"] for a in solved["previous_schedule"]} == {
        request: True for request, *_ in SOLVED if request != "P-002-a"
    }, "the whole example round lies inside the 14-day frozen horizon"
    assert output["changes"] == json.loads(expected.model_dump_json())
    assert [change["request"] for change in output["changes"]["dropped"]] == ["P-002-a"]
    assert waiting.settings["changes"] == {
        kind: len(output["changes"][kind]) for kind in ("moved", "resized", "dropped", "added")
    }
    assert waiting.settings["moved_share"] == 0.0, "a cancelled proposal's slot is not a move"

    # A coordinator publishes the draft; the next repair publishes itself.
    async with api_client(database_url) as client:
        coordinator = await login(client, "coord@example.org")
        revision = (await client.get(f"/rounds/{round_id}/schedules", headers=coordinator)).json()["revision"]
        published = await client.post(
            f"/schedules/{draft.id}/publish", json={"expected_revision": revision}, headers=coordinator
        )
        assert published.status_code == 200, published.text
    await set_round(sessions, round_id, auto_publish=True, auto_publish_max_moved_share=0.5)
    async with sessions.begin() as session:
        await add_rapid_access(session, round_id, "RA-2", "SKIF-1-1", 3, ROUND_START, priority=20.0)

    itself = await _repair(sessions, round_id, date(2027, 2, 3))
    unchanged = await decide_night(sessions, round_id, date(2027, 2, 4), _due(date(2027, 2, 4)), SETTINGS)

    assert itself.settings["outcome"] == "published" and itself.settings["review"] == []
    assert await _published_id(sessions, round_id) == itself.schedule_version_id
    await _assert_valid_and_frozen(sessions, itself, draft.id or 0)
    async with sessions() as session:
        notices = (
            await session.execute(
                select(ChangeNotice.request_code, ChangeNotice.kind, ChangeNotice.reason).where(
                    col(ChangeNotice.schedule_version_id) == itself.schedule_version_id
                )
            )
        ).all()
    assert ("RA-2-a", "added", "new rapid-access proposal") in notices
    assert unchanged is not None and unchanged.state == "skipped"
    assert unchanged.reason == "nothing changed since the published schedule (version 3) was solved"

    async with api_client(database_url) as client:
        coordinator = await login(client, "coord@example.org")
        history = await client.get(f"/rounds/{round_id}/nightly", headers=coordinator)
        older = await client.get(f"/rounds/{round_id}/nightly?limit=1&offset=2", headers=coordinator)
        proposer = await client.get(f"/rounds/{round_id}/nightly", headers=await login(client, "pi@example.org"))
    assert history.status_code == 200, history.text
    nights = history.json()["items"]
    assert [(entry["night"], entry["outcome"]) for entry in nights] == [
        ("2027-02-04", "skipped"),
        ("2027-02-03", "published"),
        ("2027-02-02", "waiting"),
    ]
    assert nights[0]["reason"] == unchanged.reason
    assert nights[2]["reason"] == "the round does not publish nightly repairs by itself"
    assert nights[1]["changes"] == itself.settings["changes"]
    assert nights[1]["schedule_version_id"] == itself.schedule_version_id
    assert (older.json()["items"], older.json()["total"]) == (nights[2:], 3)
    assert proposer.status_code == 403


async def test_a_repair_that_frees_a_frozen_slot_waits_for_review(sessions: Sessions) -> None:
    round_id = await import_published(sessions, load_round(EXAMPLE), SOLVED)
    await set_round(sessions, round_id, auto_publish=True, auto_publish_max_moved_share=1.0)
    async with sessions.begin() as session:
        # PIK-SANS breaks under P-003-b, shifts [13, 22), inside the frozen horizon.
        start = ROUND_START + timedelta(hours=8 * 14)
        await add_window(session, "PIK-SANS", start, start + timedelta(hours=16), "pump failure")

    run = await _repair(sessions, round_id, date(2027, 2, 2))

    assert run.settings["outcome"] == "waiting"
    assert run.settings["disrupted"] == ["P-003-b"]
    assert run.settings["review"][0] == "slots inside the frozen horizon broke a rule and were freed: P-003-b"
    async with sessions() as session:
        output = await run_output(session, run.id)
    assert output is not None
    assert "P-003-b: its slot inside the frozen horizon broke a rule and was freed" in output["notes"]
    assert await _published_id(sessions, round_id) != run.schedule_version_id


async def test_a_repair_does_not_overwrite_a_schedule_published_while_it_ran(sessions: Sessions) -> None:
    round_id = await import_published(sessions, load_round(EXAMPLE), SOLVED)
    await set_round(sessions, round_id, auto_publish=True, auto_publish_max_moved_share=1.0, frozen_horizon_days=1)
    decision = await decide_night(sessions, round_id, date(2027, 2, 2), _due(date(2027, 2, 2)), SETTINGS)
    assert decision is not None
    async with sessions.begin() as session:
        repaired = await prepare_repair(session, decision.run_id, await export_round(session, round_id))
        moved = _schedule(_moved(SOLVED, P_003_b=23))  # a valid move: publishing refuses it for the revision only
        draft = await save_version(session, round_id, moved.allocations, source="solve", note="")
    async with sessions.begin() as session:  # a coordinator publishes meanwhile
        await session.execute(update(Round).where(col(Round.id) == round_id).values(revision=Round.revision + 1))

    async with sessions.begin() as session:
        reported = await conclude_repair(session, decision.run_id, draft, moved, complete=True)
        run = await session.get(SolveRun, decision.run_id)
        version = await session.get(ScheduleVersion, draft)

    pinned = {a.request for a in repaired.previous_schedule or [] if a.pinned}
    assert pinned == {"P-004-a", "P-006-a"}, "those starting before the night's 02:00 plus one day"
    assert run is not None and run.settings["outcome"] == "waiting"
    assert run.settings["review"] == ["the schedule in force changed while the repair ran"]
    assert version is not None and version.status == "draft"
    assert version.note == "nightly repair waiting for review: the schedule in force changed while the repair ran"
    assert reported.changes is not None and [c.request for c in reported.changes.moved] == ["P-003-b"]


async def test_a_missed_night_is_caught_up_once_at_start_up(sessions: Sessions) -> None:
    round_id = await import_published(sessions, load_round(EXAMPLE), SOLVED)
    await published_since(sessions, round_id, LONG_AGO)
    # 14:00 in Novosibirsk on 3 February: no scheduler ran at 02:00.
    clock = Clock(datetime(2027, 2, 3, 7, tzinfo=UTC))

    nightly = await start_nightly(sessions, SETTINGS, clock=clock)
    try:
        job = nightly.scheduler.get_job(f"nightly-{round_id}")
        assert job is not None and job.trigger.timezone == NOVOSIBIRSK
        assert {field.name: str(field) for field in job.trigger.fields}["hour"] == "2"
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, MISFIRE_GRACE_SECONDS)
        assert nightly.scheduler.get_job("nightly-refresh") is not None
    finally:
        await nightly.stop()
    caught_up = await _nightly_runs(sessions, round_id)

    clock.now += timedelta(hours=3)  # restarted later the same day
    restarted = await start_nightly(sessions, SETTINGS, clock=clock)
    try:
        after_restart = await _nightly_runs(sessions, round_id)
        clock.now = _due(date(2027, 2, 4))
        restarted.scheduler.modify_job(f"nightly-{round_id}", next_run_time=datetime.now(UTC))  # the trigger fires
        for _ in range(200):
            if len(await _nightly_runs(sessions, round_id)) > 1:
                break
            await asyncio.sleep(0.05)
    finally:
        await restarted.stop()

    assert [run.settings["night"] for run in caught_up] == ["2027-02-03"]
    assert [run.id for run in after_restart] == [caught_up[0].id]
    assert [run.settings["night"] for run in await _nightly_runs(sessions, round_id)] == ["2027-02-03", "2027-02-04"]


async def test_a_night_before_the_schedule_was_published_is_not_caught_up(sessions: Sessions) -> None:
    round_id = await import_published(sessions, load_round(EXAMPLE), SOLVED)
    await published_since(sessions, round_id, datetime(2027, 2, 3, 6, tzinfo=UTC))  # 13:00, after 02:00

    nightly = await start_nightly(sessions, SETTINGS, clock=Clock(datetime(2027, 2, 3, 7, tzinfo=UTC)))
    await nightly.stop()

    assert await _nightly_runs(sessions, round_id) == []


@pytest.mark.parametrize(
    ("days_later", "change_night"),
    [(49, date(2027, 3, 28)), (266, date(2027, 10, 31))],
    ids=["spring-forward", "fall-back"],
)
async def test_dst_change_nights_run_once(sessions: Sessions, days_later: int, change_night: date) -> None:
    """The example round moved to around a DST change, its first facility in Europe/Berlin: the trigger
    fires at the skipped 02:00 in spring and twice at the repeated one in autumn; each night runs once."""
    berlin = ZoneInfo("Europe/Berlin")
    document = shifted(json.loads(EXAMPLE.read_text()), timedelta(days=days_later))
    document["facilities"][0]["timezone"] = "Europe/Berlin"
    round_id = await import_published(sessions, load_round(document), SOLVED)
    await published_since(sessions, round_id, LONG_AGO)
    first_day = change_night - timedelta(days=3)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=berlin).astimezone(UTC)
    end = start + timedelta(days=7)
    clock = Clock(start)
    nightly = NightlyScheduler(sessions, SETTINGS, clock=clock)
    decided = await nightly.refresh()  # catches up the night before
    job = nightly.scheduler.get_job(f"nightly-{round_id}")
    assert job is not None

    fires: list[datetime] = []
    while (fire := job.trigger.get_next_fire_time(fires[-1] if fires else None, clock.now)) < end:
        fires.append(fire)
        clock.now = fire.astimezone(UTC) + timedelta(seconds=1)  # in UTC: wall-clock arithmetic forgets the fold
    refreshes = [start + timedelta(hours=hours) for hours in range(1, 7 * 24, 2)]
    events = sorted([(fire.astimezone(UTC), True) for fire in fires] + [(moment, False) for moment in refreshes])
    for moment, cron in events:
        clock.now = moment + timedelta(seconds=1)
        if cron:
            decided.append(await nightly.run_night(round_id))
        else:
            decided += await nightly.refresh()

    runs = await _nightly_runs(sessions, round_id)
    nights = [first_day + timedelta(days=k) for k in range(-1, 7)]
    fires_that_night = Counter(fire.astimezone(berlin).date() for fire in fires)[change_night]
    assert fires_that_night == (2 if change_night.month == 10 else 1)
    assert [run.settings["night"] for run in runs] == [night.isoformat() for night in nights]
    assert len([decision for decision in decided if decision is not None]) == len(nights)
    for run in runs[1:]:
        due = datetime.fromisoformat(run.settings["now"]).astimezone(berlin)
        assert due.date().isoformat() == run.settings["night"]
        assert (due.hour, due.minute) in ((2, 0), (3, 0)), "decided when the trigger first fired"


@POSTGRESQL_ONLY
async def test_three_schedulers_on_one_database_run_each_round_once_a_night(
    database_url: str, sessions: Sessions
) -> None:
    example = load_round(EXAMPLE)
    other = example.model_copy(update={"round": example.round.model_copy(update={"id": "2027-I-other"})})
    rounds = [await import_published(sessions, round_file, SOLVED) for round_file in (example, other)]
    for round_id in rounds:
        await published_since(sessions, round_id, LONG_AGO)
    engines = [create_engine(database_url) for _ in range(3)]
    clock = Clock(ROUND_START)
    schedulers = [NightlyScheduler(session_maker(engine), SETTINGS, clock=clock) for engine in engines]
    nights = [date(2027, 2, day) for day in range(2, 7)]
    decided: list[Any] = []
    try:
        for k, night in enumerate(nights):
            if k % 2:
                async with sessions.begin() as session:
                    await cancel(session, rounds[0], f"P-00{k}")
            clock.now = _due(night)
            for refreshed in await asyncio.gather(*(nightly.refresh() for nightly in schedulers)):
                decided += refreshed
            decided += await asyncio.gather(*(n.run_night(round_id) for n in schedulers for round_id in rounds))
    finally:
        for engine in engines:
            await engine.dispose()

    runs = await _nightly_runs(sessions)
    assert sorted((run.round_id, run.settings["night"]) for run in runs) == sorted(
        (round_id, night.isoformat()) for round_id in rounds for night in nights
    )
    assert len([decision for decision in decided if decision is not None]) == len(runs)
    assert [run.state for run in runs if run.round_id == rounds[0]] == [
        "queued",
        "queued",
        "skipped",
        "queued",
        "skipped",
    ]


@pytest.fixture
async def migrated_url(database_url: str) -> AsyncIterator[str]:
    """The test database rebuilt by the migrations, as `beamtime scheduler` expects to find it."""
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.drop_all)
    await asyncio.to_thread(upgrade_database, database_url)
    yield database_url
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE alembic_version"))
    await engine.dispose()


async def _round_under_way(sessions: Sessions) -> int:
    """The example round moved to have begun three days ago, published two days ago: for processes on the real clock."""
    days = (datetime.now(UTC) - ROUND_START).days - 3
    round_id = await import_published(
        sessions, load_round(shifted(json.loads(EXAMPLE.read_text()), timedelta(days=days))), SOLVED
    )
    await published_since(sessions, round_id, datetime.now(UTC) - timedelta(days=2))
    return round_id


@POSTGRESQL_ONLY
async def test_three_scheduler_processes_catch_up_a_night_once(migrated_url: str, sessions: Sessions) -> None:
    round_id = await _round_under_way(sessions)
    environment = {**os.environ, "DATABASE_URL": migrated_url}
    command = [sys.executable, "-m", "scheduler.cli", "scheduler", "--once"]

    processes = [subprocess.Popen(command, env=environment, stderr=subprocess.PIPE) for _ in range(3)]
    for process in processes:
        _, errors = await asyncio.to_thread(process.communicate, timeout=120)
        assert process.returncode == 0, errors.decode()

    runs = await _nightly_runs(sessions, round_id)
    night = night_of(NOVOSIBIRSK, 2, datetime.now(UTC))
    assert [(run.settings["night"], run.state) for run in runs] in (
        [(night.isoformat(), "queued")],
        [((night - timedelta(days=1)).isoformat(), "queued")],  # 02:00 in Novosibirsk passed meanwhile
    )


async def test_the_api_process_runs_the_nightly_jobs(database_url: str, sessions: Sessions) -> None:
    round_id = await _round_under_way(sessions)

    async with api_client(database_url):
        pass
    without = await _nightly_runs(sessions, round_id)
    async with api_client(database_url, run_nightly_in_api=True):
        pass

    assert without == []
    assert [run.state for run in await _nightly_runs(sessions, round_id)] == ["queued"]


async def test_a_repair_whose_draft_breaks_the_round_as_it_is_now_says_it_is_stale(sessions: Sessions) -> None:
    """Publishing refuses the draft for a rule it breaks (StaleDraftError): the draft waits, its note and the run's
    review say it is stale and why, not that the schedule in force changed."""
    round_id = await import_published(sessions, load_round(EXAMPLE), SOLVED)
    await set_round(sessions, round_id, auto_publish=True, auto_publish_max_moved_share=1.0, frozen_horizon_days=1)
    async with sessions.begin() as session:
        # PIK-SANS is down where the draft moves P-003-b (shift 23 on).
        start = ROUND_START + timedelta(hours=8 * 23)
        await add_window(session, "PIK-SANS", start, start + timedelta(hours=16), "pump failure")
    decision = await decide_night(sessions, round_id, date(2027, 2, 2), _due(date(2027, 2, 2)), SETTINGS)
    assert decision is not None
    async with sessions.begin() as session:
        await prepare_repair(session, decision.run_id, await export_round(session, round_id))
        moved = _schedule(_moved(SOLVED, P_003_b=23))
        draft = await save_version(session, round_id, moved.allocations, source="solve", note="")

    async with sessions.begin() as session:
        await conclude_repair(session, decision.run_id, draft, moved, complete=True)
        run = await session.get(SolveRun, decision.run_id)
        version = await session.get(ScheduleVersion, draft)

    assert run is not None and run.settings["outcome"] == "waiting"
    [why] = run.settings["review"]
    assert why.startswith("stale: version ") and "breaks 1 rule(s) of the round as it is now" in why, why
    assert version is not None and version.status == "draft"
    assert version.note == f"nightly repair waiting for review: {why}"
    assert await _published_id(sessions, round_id) != draft


async def test_a_repair_solved_from_an_older_input_revision_keeps_saying_it_is_stale(sessions: Sessions) -> None:
    """The round changed after the repair read it: its draft can never be published, and though the round would
    not publish it anyway, its note says it is stale rather than only why a coordinator must look."""
    round_id = await import_published(sessions, load_round(EXAMPLE), SOLVED)
    await set_round(sessions, round_id, auto_publish=False)
    decision = await decide_night(sessions, round_id, date(2027, 2, 2), _due(date(2027, 2, 2)), SETTINGS)
    assert decision is not None
    async with sessions.begin() as session:
        await prepare_repair(session, decision.run_id, await export_round(session, round_id))
        solved_at = await input_revision(session, round_id)
        await session.execute(
            update(SolveRun).where(col(SolveRun.id) == decision.run_id).values(input_revision=solved_at)
        )
        moved = _schedule(_moved(SOLVED, P_003_b=23))
        draft = await save_version(session, round_id, moved.allocations, source="solve", note="")
        await session.execute(
            update(SolveRun).where(col(SolveRun.id) == decision.run_id).values(schedule_version_id=draft)
        )
    async with sessions.begin() as session:  # a coordinator adds a window while the repair ran
        start = ROUND_START + timedelta(hours=8 * 60)
        await add_window(session, "PIK-SANS", start, start + timedelta(hours=8), "inspection")

    async with sessions.begin() as session:
        await conclude_repair(session, decision.run_id, draft, moved, complete=True)
        run = await session.get(SolveRun, decision.run_id)
        version = await session.get(ScheduleVersion, draft)

    assert run is not None and run.settings["outcome"] == "waiting"
    *policy, stale = run.settings["review"]
    assert "the round does not publish nightly repairs by itself" in policy
    assert stale == (
        f"stale: the round changed since this draft was solved (input revision {solved_at}, now {solved_at + 1}); "
        "solve again"
    )
    assert version is not None and "stale: the round changed since this draft was solved" in version.note
