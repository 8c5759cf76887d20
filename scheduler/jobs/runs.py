"""What coordinators do with solve runs: start, watch, cancel, fetch the kept files.

A run belongs to its round: admins and the round's coordinators see it; to
anyone else it does not exist (NotFound, not Forbidden), so ids do not leak
which rounds are being solved. Starting and cancelling are audited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler import access
from scheduler.access import Operation
from scheduler.accounts.schemas import Claims
from scheduler.db.repository import record
from scheduler.errors import Conflict, NotFound
from scheduler.fields import Input
from scheduler.jobs.queue import UNDER_WAY, enqueue_manual_solve, request_cancel
from scheduler.jobs.views import SolveRunPublic, get_run, list_runs, run_input, run_output
from scheduler.roundfile.contract import RoundFile, ScheduleFile
from scheduler.rounds.service import require_round, round_facts
from scheduler.schedules.confidential import withhold, withhold_round
from scheduler.schedules.service import confided
from scheduler.settings import Settings


class SolveOptions(Input):
    """What a coordinator may choose for one solve; a missing value takes the service's default."""

    time_limit: float | None = Field(
        default=None, gt=0.0, description="Seconds, up to the service's cap (settings.solve_max_time_limit)."
    )
    workers: int | None = Field(
        default=None, ge=1, description="CP-SAT workers, up to the service's cap (settings.solve_max_workers)."
    )
    seed: int = Field(default=0, ge=0, lt=2**31)


async def start_solve(
    session: AsyncSession, actor: Claims, round_id: int, options: SolveOptions, settings: Settings
) -> SolveRunPublic:
    """Queues a solve of the round within the limits of `enqueue_manual_solve`; a worker picks it up (in the API
    process or on another machine)."""
    await require_round(session, actor, Operation.RUN_SOLVE, round_id)
    run_id = await enqueue_manual_solve(
        session,
        round_id,
        requested_by=actor.user_id,
        time_limit=options.time_limit,
        workers=options.workers,
        seed=options.seed,
        settings=settings,
    )
    await record(session, actor.user_id, "solve.start", "solverun", run_id, {"round_id": round_id})
    return await _visible(session, actor, run_id)


async def solves_of_round(
    session: AsyncSession, actor: Claims, round_id: int, page: LimitOffset
) -> OffsetPagination[SolveRunPublic]:
    """A page of the round's runs, newest first."""
    await require_round(session, actor, Operation.RUN_SOLVE, round_id)
    return await list_runs(session, round_id, page)


async def solve(session: AsyncSession, actor: Claims, run_id: int) -> SolveRunPublic:
    return await _visible(session, actor, run_id)


async def cancel_solve(session: AsyncSession, actor: Claims, run_id: int) -> SolveRunPublic:
    """A queued run ends at once; a running one stops within a second or so, keeping the best
    schedule so far; a run that has ended already is a Conflict (there is nothing left to cancel)."""
    state = (await _visible(session, actor, run_id)).state
    if state in UNDER_WAY:
        state = await request_cancel(session, run_id) or state
        if state in ("cancelled", "running"):
            await record(session, actor.user_id, "solve.cancel", "solverun", run_id)
            return await _visible(session, actor, run_id)
    raise Conflict(f"solve {run_id} has ended already ({state}): there is nothing to cancel")


async def solve_input(session: AsyncSession, actor: Claims, run_id: int) -> dict[str, Any]:
    """The round file the run solved, with the panel results the actor may read in confidence."""
    run = await _visible(session, actor, run_id)
    document = await _kept(session, run_id, run_input, "has no input yet: no worker has taken it")
    shown = await confided(session, actor, run.round_id)
    return withhold_round(RoundFile.model_validate(document), shown).model_dump(mode="json")


async def solve_output(session: AsyncSession, actor: Claims, run_id: int) -> dict[str, Any]:
    """The schedule file the run produced, with the panel results the actor may read in confidence."""
    run = await _visible(session, actor, run_id)
    document = await _kept(session, run_id, run_output, "has no output: it has not finished with a schedule")
    shown = await confided(session, actor, run.round_id)
    return withhold(ScheduleFile.model_validate(document), shown).model_dump(mode="json")


async def _kept(
    session: AsyncSession,
    run_id: int,
    read: Callable[[AsyncSession, int], Awaitable[dict[str, Any] | None]],
    missing: str,
) -> dict[str, Any]:
    """A file the run keeps; NotFound saying why (`missing`) when it has none."""
    document = await read(session, run_id)
    if document is None:
        raise NotFound(f"solve {run_id} {missing}")
    return document


async def _visible(session: AsyncSession, actor: Claims, run_id: int) -> SolveRunPublic:
    run = await get_run(session, run_id)
    if run is None:
        raise NotFound(f"no solve {run_id}")
    access.require(actor, Operation.WATCH_SOLVE, await round_facts(session, run.round_id), f"solve {run_id}")
    return run
