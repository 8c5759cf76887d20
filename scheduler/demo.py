"""The demo `beamtime serve --demo` starts with: a round that has been through its whole workflow.

On an empty database it imports the bundled medium round (218 proposals, 5
facilities), creates one account per role, solves the round once through the
solve queue (a worker running the solver in a process of its own, as in
production) and publishes the schedule. A proposer owns a few of the round's
proposals, chosen from the ranking so that their statuses differ: the two best
(scheduled), the last eligible one (often waitlisted) and one not feasible.

Then the consortium agrees on fair return (issue 13): a policy owes the CIS
partner countries five points more of the time than the first round gave them,
both rounds are attached to it, and the next round (the same call eight weeks
on, 2027-II) is solved once, with the first round's published schedule as its
history. Its draft's `fair_return` report (`GET /solves/{id}/output`) shows the
deficit the first round left paid back; a coordinator publishes it or not.

Each step is kept as soon as it is done, so a demo stopped during a solve
resumes with that solve on the next start; a database that holds the demo
already is left as it is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

import fixtures
from scheduler.accounts.schemas import Claims, Role
from scheduler.accounts.service import create_user
from scheduler.db.tables import Proposal, Round, ScheduleVersion, SolveRun, User
from scheduler.jobs import Worker, enqueue_solve, get_run
from scheduler.proposals.reviews import assign_reviewer
from scheduler.proposals.schemas import AssignmentIn
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import Category, FairReturnTarget, RoundFile
from scheduler.roundfile.fair_return import delivered
from scheduler.roundfile.scoring import score_round
from scheduler.rounds.fair_return import FairReturnPolicyCreate, FairReturnPolicyService
from scheduler.rounds.importer import import_round
from scheduler.rounds.service import RoundService
from scheduler.runtime import service_runtime
from scheduler.schedules.service import publish
from scheduler.schedules.versions import PUBLISHED, version_schedule
from scheduler.settings import Settings

DEMO_ROUND = Path(fixtures.__file__).resolve().parent / "rounds" / "medium.json"
DEMO_TIME_LIMIT = 15.0
"""Seconds of search: the medium round's schedule is good well before, and a newcomer does not wait long."""
REVIEWED_PROPOSALS = 3
SECOND_ROUND = "2027-II"
SECOND_ROUND_LATER = timedelta(weeks=8)
"""The second round is the bundled one moved on by its own length: the consortium's next call."""
FAIR_RETURN_POLICY = FairReturnPolicyCreate(
    name="CIS partners' fair return",
    targets=[FairReturnTarget(id="cis", category=Category(country_group="CIS"), share=0.23)],
    attribution="team",
)
"""The consortium's policy; its share is set above what the first round gave (`owing_more_than`)."""
FAIR_RETURN_MARGIN = 0.05
"""How much more than the first round gave them the CIS partners are owed, so that the second round pays back."""


@dataclass(frozen=True)
class DemoAccount:
    role: Role
    email: str
    name: str
    password: str
    """Fixed, so that every start can print it: demo accounts are for a machine of one's own only."""


ADMIN = DemoAccount("admin", "admin@example.org", "Demo Admin", "admin-demo")
COORDINATOR = DemoAccount("coordinator", "coordinator@example.org", "Demo Coordinator", "coordinator-demo")
REVIEWER = DemoAccount("reviewer", "reviewer@example.org", "Demo Reviewer", "reviewer-demo")
PROPOSER = DemoAccount("proposer", "proposer@example.org", "Demo Proposer", "proposer-demo")
ACCOUNTS = (ADMIN, COORDINATOR, REVIEWER, PROPOSER)


@dataclass(frozen=True)
class Demo:
    round_id: int
    round_code: str
    schedule_version_id: int
    proposer_proposals: list[str]
    second_round_id: int
    second_solve_id: int
    """The second round's solve under the fair-return policy: its output reports the deficit repaid."""


class DemoError(Exception):
    """The demo cannot be set up here; the message says why."""


async def set_up_demo(settings: Settings, *, time_limit: float = DEMO_TIME_LIMIT) -> Demo:
    """Brings the database of `settings` to the finished demo, migrating it first; quick when it is there already.
    Ctrl-C interrupts it (no stop signal of its own): an interrupted solve runs again on the next start."""
    round_file = load_round(DEMO_ROUND)
    async with service_runtime(settings, signals=False) as runtime:
        sessions = runtime.sessions
        async with sessions.begin() as session:
            round_id = await session.scalar(select(col(Round.id)).where(col(Round.code) == round_file.round.id))
            if round_id is None:
                await _require_empty(session)
                round_id = await _import(session, round_file)
            admin = await _admin(session)
            version_id = await session.scalar(
                select(col(ScheduleVersion.id)).where(
                    col(ScheduleVersion.round_id) == round_id, col(ScheduleVersion.status) == PUBLISHED
                )
            )
            owned = await session.execute(
                select(col(Proposal.code))
                .join(User, col(User.id) == col(Proposal.owner_id))
                .where(col(Proposal.round_id) == round_id, col(User.email) == PROPOSER.email)
                .order_by(col(Proposal.position))
            )
            proposer_proposals = list(owned.scalars())
        if version_id is None:
            _, version_id = await _solve(sessions, settings, round_id, admin, time_limit)
            async with sessions.begin() as session:
                await _publish(session, round_id, version_id, admin)
        second_id, second_solve_id = await _second_round(
            sessions, settings, round_file, (round_id, version_id), admin, time_limit
        )
    return Demo(round_id, round_file.round.id, version_id, proposer_proposals, second_id, second_solve_id)


async def _second_round(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    first: RoundFile,
    published: tuple[int, int],
    admin: Claims,
    time_limit: float,
) -> tuple[int, int]:
    """The next round under the fair-return policy with the first, solved once: its id and its solve's."""
    async with sessions.begin() as session:
        second_id = await session.scalar(select(col(Round.id)).where(col(Round.code) == SECOND_ROUND))
        if second_id is None:
            second_id = await import_round(session, _next_round(first))
            for phase in ("review", "allocation"):
                await RoundService(session=session).change_phase(admin, second_id, phase)
            first_id, version_id = published
            schedule = await version_schedule(session, version_id)
            (given,) = delivered(first, schedule, FAIR_RETURN_POLICY.targets, FAIR_RETURN_POLICY.attribution)
            policies = FairReturnPolicyService(session=session)
            policy = await policies.create_item(admin, owing_more_than(given.shifts / max(given.shifts_total, 1.0)))
            for round_id in (first_id, second_id):
                await policies.attach(admin, policy.id, round_id)
        solve_id = await session.scalar(select(col(SolveRun.id)).where(col(SolveRun.round_id) == second_id))
    if solve_id is None:
        solve_id, _ = await _solve(sessions, settings, second_id, admin, time_limit)
    return second_id, solve_id


def owing_more_than(given_share: float) -> FairReturnPolicyCreate:
    """The policy with its target owed `FAIR_RETURN_MARGIN` more than the share the first round gave."""
    (target,) = FAIR_RETURN_POLICY.targets
    owed = target.model_copy(update={"share": round(min(1.0, given_share + FAIR_RETURN_MARGIN), 2)})
    return FAIR_RETURN_POLICY.model_copy(update={"targets": [owed]})


def _next_round(first: RoundFile) -> RoundFile:
    """The first round's file moved on by `SECOND_ROUND_LATER`, as round `SECOND_ROUND`."""
    document = first.model_dump(mode="json", exclude_none=True)
    document["round"]["id"] = SECOND_ROUND
    document["round"]["name"] = f"Consortium round {SECOND_ROUND}, the call after {first.round.id}"
    return RoundFile.model_validate(_later(document))


def _later(value: Any) -> Any:
    """Every instant of a round file's JSON (start, end, earliest, latest) moved on by `SECOND_ROUND_LATER`."""
    if isinstance(value, list):
        return [_later(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: (datetime.fromisoformat(item) + SECOND_ROUND_LATER).isoformat()
        if key in ("start", "end", "earliest", "latest") and isinstance(item, str)
        else _later(item)
        for key, item in value.items()
    }


async def _require_empty(session: AsyncSession) -> None:
    for table in (User, Round):
        if await session.scalar(select(func.count()).select_from(table)):
            raise DemoError(
                "the database has users or rounds but not the demo round: --demo sets up an empty database only "
                "(point DATABASE_URL at a new one, or serve without --demo)"
            )


async def _import(session: AsyncSession, round_file: RoundFile) -> int:
    """The round, its accounts, the proposer's proposals and the reviewer's assignments; phase allocation."""
    round_id = await import_round(session, round_file)
    facilities = [facility.id for facility in round_file.facilities]
    users = {
        account.role: await create_user(
            session,
            account.email,
            account.name,
            account.role,
            account.password,
            facilities if account.role == "coordinator" else (),
        )
        for account in ACCOUNTS
    }
    ranked = sorted(score_round(round_file), key=lambda score: score.rank)
    eligible = [score.proposal for score in ranked if score.excluded_reason is None]
    excluded = [score.proposal for score in ranked if score.excluded_reason is not None]
    owned = [*eligible[:2], eligible[-1], *excluded[:1]]
    await session.execute(
        update(Proposal)
        .where(col(Proposal.round_id) == round_id, col(Proposal.code).in_(owned))
        .values(owner_id=users["proposer"].id)
    )
    admin = Claims(user_id=users["admin"].id, role="admin")
    reviewed = await session.execute(
        select(col(Proposal.id))
        .where(col(Proposal.round_id) == round_id, col(Proposal.code).not_in(owned))
        .order_by(col(Proposal.position))
        .limit(REVIEWED_PROPOSALS)
    )
    for proposal_id in reviewed.scalars():
        assert proposal_id is not None, "stored rows have ids"
        await assign_reviewer(session, admin, proposal_id, AssignmentIn(user_id=users["reviewer"].id))
    for phase in ("review", "allocation"):
        await RoundService(session=session).change_phase(admin, round_id, phase)
    return round_id


async def _admin(session: AsyncSession) -> Claims:
    admin_id = await session.scalar(select(col(User.id)).where(col(User.email) == ADMIN.email))
    if admin_id is None:
        raise DemoError(f"the demo round is there but its admin {ADMIN.email} is not")
    return Claims(user_id=admin_id, role="admin")


async def _solve(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, round_id: int, admin: Claims, time_limit: float
) -> tuple[int, int]:
    """One solve through the queue, run here by a worker to the end; its id and the id of the draft it made."""
    async with sessions.begin() as session:
        run_id = await enqueue_solve(
            session,
            round_id,
            requested_by=admin.user_id,
            time_limit=time_limit,
            workers=settings.solve_workers,
            seed=0,
        )
    await Worker(sessions, settings).drain(asyncio.Event())
    async with sessions.begin() as session:
        run = await get_run(session, run_id)
    if run is None or run.result is None or run.result.schedule_version_id is None:
        error = "it never ran" if run is None else run.error or f"it ended {run.state} without a schedule"
        raise DemoError(f"the demo round's solve (run {run_id}) failed: {error}")
    return run_id, run.result.schedule_version_id


async def _publish(session: AsyncSession, round_id: int, version_id: int, admin: Claims) -> None:
    revision = await session.scalar(select(col(Round.revision)).where(col(Round.id) == round_id))
    assert revision is not None
    await publish(session, version_id, expected_revision=revision, user_id=admin.user_id)
    await RoundService(session=session).change_phase(admin, round_id, "published")
