"""A solve is tied to the round's input revision it read, on SQLite and PostgreSQL.

Every change a solve reads counts (`scheduler.rounds.revision`); a draft solved from an
older revision is never published; the grid cannot move under a solve under way.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import (
    AuditEntry,
    Instrument,
    Link,
    Proposal,
    Quota,
    Request,
    Review,
    Round,
    ScheduleVersion,
    SolveRun,
    TeamMember,
    User,
    Window,
)
from scheduler.jobs import Worker, enqueue_solve
from scheduler.jobs.kinds import JobKind, register
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import RoundFile, ScheduleFile
from scheduler.rounds.importer import import_round
from scheduler.settings import Settings
from tests.api_helpers import api_client, login, make_user

Sessions = async_sessionmaker[AsyncSession]
EXAMPLE = EXAMPLE_ROUND
SETTINGS = Settings(worker_poll_seconds=0.05)
GRID = ("start", "end")


async def _edited_after_export(session: AsyncSession, run_id: int, round_file: RoundFile) -> RoundFile:
    """Prepares the round file as exported, then blocks SKIF-1-1 for a shift: the round changed under the solve."""
    round_id = await session.scalar(select(col(SolveRun.round_id)).where(col(SolveRun.id) == run_id))
    instrument = await session.scalar(select(Instrument).where(col(Instrument.code) == "SKIF-1-1"))
    assert round_id is not None and instrument is not None
    start = round_file.round.end - timedelta(hours=8)
    session.add(Window(instrument_id=instrument.id, start=start, end=round_file.round.end, kind="maintenance"))
    await session.flush()
    return round_file


async def _as_solved(
    session: AsyncSession, run_id: int, version_id: int, schedule: ScheduleFile, *, complete: bool
) -> ScheduleFile:
    return schedule


EDITED_UNDER_THE_SOLVE = register(JobKind("t3-edited", _edited_after_export, _as_solved))


async def _import(sessions: Sessions, code: str | None = None) -> int:
    round_file = load_round(EXAMPLE)
    if code is not None:
        round_file = round_file.model_copy(update={"round": round_file.round.model_copy(update={"id": code})})
    async with sessions.begin() as session:
        return await import_round(session, round_file)


async def _revision(sessions: Sessions, round_id: int) -> int:
    async with sessions() as session:
        revision = await session.scalar(select(col(Round.input_revision)).where(col(Round.id) == round_id))
    assert revision is not None
    return revision


async def _solved_draft(sessions: Sessions, round_id: int, kind: str = "manual") -> ScheduleVersion:
    async with sessions.begin() as session:
        run_id = await enqueue_solve(session, round_id, requested_by=None, time_limit=5.0, workers=1, seed=0, kind=kind)
    assert await Worker(sessions, SETTINGS).drain(asyncio.Event()) == [run_id]
    async with sessions() as session:
        run = await session.get(SolveRun, run_id)
        assert run is not None and run.state == "done", run and run.error
        version = await session.get(ScheduleVersion, run.schedule_version_id)
    assert version is not None
    return version


async def test_every_change_a_solve_reads_counts_and_nothing_else_does(sessions: Sessions) -> None:
    round_id = await _import(sessions)
    elsewhere = await _import(sessions, "2027-II-elsewhere")
    revision = await _revision(sessions, round_id)

    async def bumps(change: Any) -> bool:
        """Whether `change(session)` in a transaction of its own moved the round's input revision."""
        nonlocal revision
        async with sessions.begin() as session:
            await change(session)
        now = await _revision(sessions, round_id)
        moved, revision = now != revision, now
        return moved

    async def one(session: AsyncSession, table: type[Any], *where: Any) -> Any:
        row = await session.scalar(select(table).where(*where).limit(1))
        assert row is not None
        return row

    async def grade(session: AsyncSession) -> None:
        review = await one(session, Review, col(Review.proposal_id).in_(proposals))
        review.grade = 2.0 if review.grade != 2.0 else 3.0

    async def feasibility(session: AsyncSession) -> None:
        (await one(session, Proposal, col(Proposal.id) == proposal_id)).technically_feasible = False

    async def shifts(session: AsyncSession) -> None:
        (await one(session, Request, col(Request.round_id) == round_id)).shifts = 2

    async def team(session: AsyncSession) -> None:
        await session.delete(await one(session, TeamMember, col(TeamMember.proposal_id).in_(proposals)))

    async def link(session: AsyncSession) -> None:
        await session.delete(await one(session, Link, col(Link.proposal_id).in_(proposals)))

    async def quota(session: AsyncSession) -> None:
        (await one(session, Quota, col(Quota.round_id) == round_id)).max_share = 0.9

    async def window(session: AsyncSession) -> None:
        (await one(session, Window, col(Window.instrument_id).is_not(None))).reason = "moved"

    async def instrument(session: AsyncSession) -> None:
        (await one(session, Instrument, col(Instrument.code) == "PIK-SANS")).changeover_shifts += 1

    async def owner(session: AsyncSession) -> None:
        (await one(session, Proposal, col(Proposal.id) == proposal_id)).owner_id = proposer

    async def confirmed_country(session: AsyncSession) -> None:
        account = await one(session, User, col(User.id) == proposer)
        account.country, account.country_confirmed = "FR", True

    async def account_name(session: AsyncSession) -> None:
        (await one(session, User, col(User.id) == proposer)).name = "Renamed"

    async def grid(session: AsyncSession) -> None:
        (await one(session, Round, col(Round.id) == round_id)).shift_hours = 12

    async def phase(session: AsyncSession) -> None:
        (await one(session, Round, col(Round.id) == round_id)).phase = "review"

    async def other_rounds_quota(session: AsyncSession) -> None:
        (await one(session, Quota, col(Quota.round_id) == elsewhere)).max_share = 0.9

    async def audit(session: AsyncSession) -> None:
        session.add(AuditEntry(user_id=None, action="note", entity="round", entity_id=str(round_id), detail={}))

    proposals = select(col(Proposal.id)).where(col(Proposal.round_id) == round_id)
    async with sessions() as session:
        proposal_id = (await one(session, Proposal, col(Proposal.round_id) == round_id)).id
    proposer = await make_user(sessions, "proposer", "pi@example.org")
    counted = [grade, feasibility, shifts, team, link, quota, window, instrument, owner, confirmed_country, grid]
    assert [change.__name__ for change in counted if not await bumps(change)] == []
    not_counted = [phase, other_rounds_quota, audit, account_name]
    assert [change.__name__ for change in not_counted if await bumps(change)] == []


async def test_a_draft_solved_from_an_older_input_is_stale_and_is_never_published(
    database_url: str, sessions: Sessions
) -> None:
    round_id = await _import(sessions)
    await make_user(sessions, "admin", "admin@example.org")
    stale = await _solved_draft(sessions, round_id, EDITED_UNDER_THE_SOLVE.name)
    assert "stale" in stale.note
    fresh = await _solved_draft(sessions, round_id)
    assert "stale" not in fresh.note
    async with api_client(database_url) as client:
        admin = await login(client, "admin@example.org")
        revision = (await client.get(f"/rounds/{round_id}/schedules", headers=admin)).json()["revision"]
        body = {"expected_revision": revision}
        refused = await client.post(f"/schedules/{stale.id}/publish", json=body, headers=admin)
        assert refused.status_code == 409, refused.text
        assert "the round changed since this draft was solved" in refused.json()["detail"]
        assert "solve again" in refused.json()["detail"]

        async with sessions() as session:
            window_id = await session.scalar(select(col(Window.id)).limit(1))
        moved = await client.patch(f"/windows/{window_id}", json={"reason": "rescheduled"}, headers=admin)
        assert moved.status_code == 200, moved.text
        made_stale = await client.post(
            f"/schedules/{fresh.id}/publish", json={"expected_revision": revision}, headers=admin
        )
        assert made_stale.status_code == 409, made_stale.text
        assert "solve again" in made_stale.json()["detail"]

        again = await _solved_draft(sessions, round_id)
        published = await client.post(
            f"/schedules/{again.id}/publish", json={"expected_revision": revision}, headers=admin
        )
        assert published.status_code == 200, published.text
    async with sessions() as session:
        statuses = dict((await session.execute(select(col(ScheduleVersion.id), col(ScheduleVersion.status)))).all())
    assert statuses == {stale.id: "draft", fresh.id: "draft", again.id: "published"}


async def test_the_grid_cannot_move_while_a_solve_of_the_round_is_under_way(
    database_url: str, sessions: Sessions
) -> None:
    round_id = await _import(sessions)
    await make_user(sessions, "coordinator", "coord@example.org", facility_codes=["SKIF", "PIK"])
    async with api_client(database_url) as client:
        headers = await login(client, "coord@example.org")
        round_ = (await client.get(f"/rounds/{round_id}", headers=headers)).json()
        solve = await client.post(f"/rounds/{round_id}/solves", json={"time_limit": 1}, headers=headers)
        assert solve.status_code == 202, solve.text
        week_later = {name: (datetime.fromisoformat(round_[name]) + timedelta(days=7)).isoformat() for name in GRID}
        refused = await client.patch(f"/rounds/{round_id}", json=week_later, headers=headers)
        assert refused.status_code == 409, refused.text
        assert f"solve {solve.json()['id']} under way" in refused.json()["detail"]
        renamed = await client.patch(f"/rounds/{round_id}", json={"name": "Renamed"}, headers=headers)
        assert renamed.status_code == 200, renamed.text
        assert (await client.get(f"/rounds/{round_id}", headers=headers)).json()["start"] == round_["start"]

        assert (await client.delete(f"/solves/{solve.json()['id']}", headers=headers)).status_code == 202
        moved = await client.patch(f"/rounds/{round_id}", json=week_later, headers=headers)
        assert moved.status_code == 200, moved.text
