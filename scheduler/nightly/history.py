"""What a round's coordinators see of its nightly runs: one line per night, with its outcome.

Outcome: `skipped` (nothing changed, or no published schedule), `queued` and
`running` while a worker has it, then `published` (by itself), `waiting` (a draft
for a coordinator to review, `reason` says why), `unchanged` (the repair changed
nothing), `done` (the solve ended without a schedule to judge), or `failed` /
`cancelled`.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.access import Operation
from scheduler.accounts.schemas import Claims
from scheduler.db.tables import SolveRun
from scheduler.jobs.queue import RunState
from scheduler.nightly.decide import NIGHTLY
from scheduler.rounds.service import require_round

NightlyOutcome = Literal[
    "skipped", "queued", "running", "published", "waiting", "unchanged", "done", "failed", "cancelled"
]


class NightlyChanges(BaseModel):
    """Allocations of the schedule in force that the repair moved, resized, dropped, and requests it added."""

    moved: int
    resized: int
    dropped: int
    added: int


class NightlyRunPublic(BaseModel):
    run_id: int
    night: date
    """The local date (the round's first facility's timezone) of the night."""
    state: RunState
    outcome: NightlyOutcome
    reason: str | None
    """Why it was skipped, why its draft waits for review, or what failed."""
    changes: NightlyChanges | None
    moved_share: float | None
    """Share of the published allocations moved, resized or dropped (cancelled proposals aside)."""
    schedule_version_id: int | None
    created_at: AwareDatetime
    finished_at: AwareDatetime | None


async def nightly_history(
    session: AsyncSession, actor: Claims, round_id: int, page: LimitOffset
) -> OffsetPagination[NightlyRunPublic]:
    """A page of the round's nightly runs, newest night first, with the count of all (its coordinators and admins)."""
    await require_round(session, actor, Operation.RUN_SOLVE, round_id)
    nightly_of_round = (col(SolveRun.round_id) == round_id, col(SolveRun.kind) == NIGHTLY)
    total = await session.scalar(select(func.count()).select_from(SolveRun).where(*nightly_of_round))
    rows = await session.execute(
        select(
            col(SolveRun.id),
            col(SolveRun.state),
            col(SolveRun.settings),
            col(SolveRun.error),
            col(SolveRun.schedule_version_id),
            col(SolveRun.created_at),
            col(SolveRun.finished_at),
            col(SolveRun.output)["status"].as_string(),
        )
        .where(*nightly_of_round)
        .order_by(col(SolveRun.id).desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    items = [
        NightlyRunPublic(
            run_id=run_id,
            night=date.fromisoformat(settings["night"]),
            state=state,
            outcome=settings.get("outcome", state),
            reason=_reason(settings, error, status),
            changes=settings.get("changes"),
            moved_share=settings.get("moved_share"),
            schedule_version_id=version_id,
            created_at=created_at,
            finished_at=finished_at,
        )
        for run_id, state, settings, error, version_id, created_at, finished_at, status in rows
    ]
    return OffsetPagination(items=items, limit=page.limit, offset=page.offset, total=total or 0)


def _reason(settings: dict[str, Any], error: str | None, status: str | None) -> str | None:
    if error is not None:
        return error
    if "reason" in settings:
        reason: str = settings["reason"]
        return reason
    if "review" in settings:
        return "; ".join(settings["review"]) or None
    return None if status is None else f"the solve found no schedule (status {status})"
