"""A month of nights on a published round, on both databases, with the real nightly decision and worker.

Each night something may happen (a team cancels, a rapid-access proposal arrives, an
instrument gets an unplanned maintenance window) or nothing does; then the night is
decided through the scheduler's cron path and a worker runs the repair. After every
night: quiet nights are skipped, the repaired schedule keeps every rule of the round
it solved, no standing slot inside the frozen horizon moved (except those a new
window broke), nothing new starts in the past, and every publication's change log is
its diff with the version it superseded. A repair waiting for review is published by
the test, as a coordinator would.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import ROUNDS
from scheduler.db.tables import ChangeNotice, Proposal, ScheduleVersion, SolveRun
from scheduler.jobs import Worker, run_input
from scheduler.nightly.service import NightlyScheduler
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation, RoundFile, Slot
from scheduler.roundfile.resolve import changes_between
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import exclusions, priorities, solve_round
from scheduler.roundfile.validate import validate_schedule
from scheduler.rounds.importer import import_round
from scheduler.schedules import service as schedules
from scheduler.schedules.export import export_schedule
from scheduler.schedules.versions import version_schedule
from scheduler.settings import Settings
from solver.problem import Settings as SolverSettings
from tests.nightly.nightly_helpers import (
    Clock,
    add_rapid_access,
    add_window,
    cancel,
    published_since,
    set_round,
    shifted,
)

SMALL = ROUNDS / "small.json"
FORTNIGHT = timedelta(days=14)
SHIFT = timedelta(hours=8)
NOVOSIBIRSK = ZoneInfo("Asia/Novosibirsk")
NIGHTS = 28
SETTINGS = Settings(worker_poll_seconds=0.05, solve_time_limit=0.5, solve_workers=1)
EVENTS = ("nothing", "cancel", "rapid_access", "window")
WEIGHTS = (0.6, 0.15, 0.15, 0.1)

Sessions = async_sessionmaker[AsyncSession]


@cache
def published_round() -> RoundFile:
    """Six weeks: the small fixture round laid three times end to end (60 proposals on three instruments),
    with a schedule solved for it as the schedule in force."""
    small = json.loads(SMALL.read_text())
    tiles = [shifted(small, k * FORTNIGHT) for k in range(3)]
    document = copy.deepcopy(tiles[0])
    document["round"]["end"] = tiles[2]["round"]["end"]
    for f, facility in enumerate(document["facilities"]):
        facility["maintenance"] = [window for tile in tiles for window in tile["facilities"][f]["maintenance"]]
        for i, instrument in enumerate(facility["instruments"]):
            instrument["maintenance"] = [
                window for tile in tiles for window in tile["facilities"][f]["instruments"][i]["maintenance"]
            ]
    document["proposals"] = [
        json.loads(json.dumps(proposal).replace('"P-0', f'"{letter}-0'))
        for letter, tile in zip("PQR", tiles, strict=True)
        for proposal in tile["proposals"]
    ]
    round_file = load_round(document)
    _, schedule = solve_round(round_file, SolverSettings(time_limit=2.0, workers=2))
    previous = [
        PreviousAllocation(request=a.request, instrument=a.instrument, start_shift=a.start_shift, shifts=a.shifts)
        for a in schedule.allocations
    ]
    return round_file.model_copy(update={"previous_schedule": previous})


async def _published(sessions: Sessions, round_id: int) -> int:
    async with sessions() as session:
        version_id = await session.scalar(
            select(ScheduleVersion.id).where(
                col(ScheduleVersion.round_id) == round_id, col(ScheduleVersion.status) == "published"
            )
        )
    assert version_id is not None
    return version_id


async def _happen(sessions: Sessions, rng: random.Random, round_id: int, event: str, now: datetime, n: int) -> None:
    instruments = [i.id for facility in published_round().facilities for i in facility.instruments]
    async with sessions.begin() as session:
        match event:
            case "cancel":
                standing = (
                    await session.execute(
                        select(Proposal.code).where(col(Proposal.round_id) == round_id, ~col(Proposal.withdrawn))
                    )
                ).scalars()
                await cancel(session, round_id, rng.choice(sorted(standing)))
            case "rapid_access":
                shifts, priority = rng.randint(1, 3), round(rng.uniform(5.0, 25.0), 2)
                await add_rapid_access(session, round_id, f"RA-{n}", rng.choice(instruments), shifts, now, priority)
            case "window":
                start = now + SHIFT * rng.randint(3, 60)
                await add_window(session, rng.choice(instruments), start, start + SHIFT * rng.randint(2, 6), "repair")


async def _check_repair(sessions: Sessions, run: SolveRun, before: int, now: datetime) -> None:
    """The draft keeps every rule of the round it solved; standing slots inside the frozen horizon stay put,
    except those a new window broke; nothing new starts in the past."""
    assert run.schedule_version_id is not None
    async with sessions() as session:
        solved = RoundFile.model_validate(await run_input(session, run.id))
        repaired = await export_schedule(session, run.schedule_version_id)
        previous = await version_schedule(session, before)
    scores = score_round(solved)
    assert validate_schedule(solved, repaired, priorities(scores), exclusions(scores).keys()) == []
    standing = {request.id for proposal in solved.proposals for request in proposal.requests}
    frozen_until = datetime.fromisoformat(run.settings["frozen_until"])
    after = {a.request: (a.instrument, a.start_shift, a.shifts) for a in repaired.allocations}
    kept = {a.request for a in previous.allocations}
    disrupted = set(run.settings["disrupted"])
    for allocation in previous.allocations:
        if allocation.request in standing - disrupted and allocation.start < frozen_until:
            assert after[allocation.request] == (allocation.instrument, allocation.start_shift, allocation.shifts)
    assert all(a.start >= now for a in repaired.allocations if a.request not in kept), "nothing new in the past"


async def _check_change_log(sessions: Sessions, superseded: int, published: int) -> None:
    """The notices of a publication are its diff with the version it superseded, with the reasons people expect."""
    async with sessions() as session:
        changes = changes_between(
            await version_schedule(session, superseded), await version_schedule(session, published)
        )
        rows = await session.execute(
            select(ChangeNotice, Proposal.withdrawn, Proposal.type, Proposal.created_at)
            .join(Proposal, col(Proposal.id) == col(ChangeNotice.proposal_id))
            .where(col(ChangeNotice.schedule_version_id) == published)
        )
        notices = rows.all()
        version = await session.get(ScheduleVersion, superseded)
        assert version is not None and version.published_at is not None
        since = version.published_at

    expected = {
        (change.request, kind, _slot(change.before), _slot(change.after))
        for kind in ("moved", "resized", "dropped", "added")
        for change in getattr(changes, kind)
    }
    logged = {(notice.request_code, notice.kind, _slot(notice.before), _slot(notice.after)) for notice, *_ in notices}
    assert logged == expected
    for notice, withdrawn, kind, created_at in notices:
        if notice.kind == "dropped" and withdrawn:
            assert notice.reason == "cancelled"
        if notice.kind == "added" and kind == "rapid_access":
            new = created_at > since
            assert notice.reason == ("new rapid-access proposal" if new else "added from the waiting list")


def _slot(slot: Slot | dict[str, Any] | None) -> tuple[str, int, int] | None:
    if slot is None:
        return None
    slot = Slot.model_validate(slot)
    return (slot.instrument, slot.start_shift, slot.shifts)


async def test_a_month_of_nightly_repairs(sessions: Sessions) -> None:
    round_file = published_round()
    async with sessions.begin() as session:
        round_id = await import_round(session, round_file)
    await published_since(sessions, round_id, round_file.round.start)
    await set_round(sessions, round_id, auto_publish=True, auto_publish_max_moved_share=0.05)
    rng = random.Random(5)
    first_night = round_file.round.start.astimezone(NOVOSIBIRSK).date() + timedelta(days=1)
    clock = Clock(round_file.round.start)
    nightly = NightlyScheduler(sessions, SETTINGS, clock=clock)
    assert await nightly.refresh() == [], "the round was published after its first night"
    outcomes: list[str] = []

    for n in range(NIGHTS):
        night: date = first_night + timedelta(days=n)
        now = datetime(night.year, night.month, night.day, 2, tzinfo=NOVOSIBIRSK).astimezone(UTC)
        event = rng.choices(EVENTS, WEIGHTS)[0]
        await _happen(sessions, rng, round_id, event, now - timedelta(hours=3), n)
        before = await _published(sessions, round_id)
        clock.now = now + timedelta(seconds=2)

        decision = await nightly.run_night(round_id)
        await Worker(sessions, SETTINGS).drain(asyncio.Event())

        assert decision is not None, f"night {night} was decided"
        async with sessions() as session:
            run = await session.get(SolveRun, decision.run_id)
        assert run is not None and run.settings["night"] == night.isoformat()
        if event == "nothing" and n > 0:  # the first night has no record of what the imported schedule came from
            assert run.state == "skipped", f"night {night}: nothing happened, yet {run.state}"
        if run.state == "skipped":
            outcomes.append("skipped")
            continue
        assert run.state == "done", f"night {night}: {run.error}"
        await _check_repair(sessions, run, before, now)
        outcome = run.settings["outcome"]
        outcomes.append(outcome)
        if outcome == "waiting":
            async with sessions.begin() as session:
                revision = (await schedules.list_versions(session, round_id)).revision
                await schedules.publish(session, run.schedule_version_id or 0, expected_revision=revision, user_id=None)
        if outcome in ("waiting", "published"):
            assert await _published(sessions, round_id) == run.schedule_version_id
            await _check_change_log(sessions, before, run.schedule_version_id or 0)
        else:
            assert await _published(sessions, round_id) == before

    assert len(outcomes) == NIGHTS
    assert outcomes.count("skipped") >= NIGHTS // 3, outcomes
    assert outcomes.count("published") + outcomes.count("waiting") >= 3, outcomes
