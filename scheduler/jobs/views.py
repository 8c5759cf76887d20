"""What the API shows of solve runs, read without loading the kept input and output files.

A run's input (the round file) can be megabytes; progress is polled often, so
the summary reads only the columns it shows and the result's headline fields
out of the stored schedule file.
"""

from __future__ import annotations

from typing import Any

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.tables import SolveRun
from scheduler.jobs.queue import RunState
from scheduler.jobs.repeats import SAME_AS_VERSION
from scheduler.roundfile.contract import Status


class SolveSettings(BaseModel):
    time_limit: float
    workers: int
    seed: int


class SolveProgress(BaseModel):
    elapsed: float
    """Seconds since the engine started."""
    objective: float
    bound: float | None
    phase: str


class SolveResult(BaseModel):
    status: Status
    objective: float
    bound: float | None
    schedule_version_id: int | None
    """The draft version the run created; None when the solve found no schedule or repeated a version."""
    same_as_version_id: int | None = None
    """The published version the result allocates exactly as: no draft was made."""


class SolveRunPublic(BaseModel):
    id: int
    round_id: int
    state: RunState
    kind: str
    settings: SolveSettings
    progress: SolveProgress | None
    result: SolveResult | None
    error: str | None
    cancel_requested: bool
    requested_by: int | None
    worker: str | None
    created_at: AwareDatetime
    started_at: AwareDatetime | None
    finished_at: AwareDatetime | None
    heartbeat_at: AwareDatetime | None
    has_input: bool
    has_output: bool


def _summaries() -> Select[Any]:
    return select(
        col(SolveRun.id),
        col(SolveRun.round_id),
        col(SolveRun.state),
        col(SolveRun.kind),
        col(SolveRun.settings),
        col(SolveRun.progress),
        col(SolveRun.error),
        col(SolveRun.cancel_requested),
        col(SolveRun.requested_by),
        col(SolveRun.worker),
        col(SolveRun.schedule_version_id),
        col(SolveRun.created_at),
        col(SolveRun.started_at),
        col(SolveRun.finished_at),
        col(SolveRun.heartbeat_at),
        col(SolveRun.input)["format"].as_string().label("input_format"),
        col(SolveRun.output)["status"].as_string().label("status"),
        col(SolveRun.output)["objective"].as_float().label("objective"),
        col(SolveRun.output)["bound"].as_float().label("bound"),
        col(SolveRun.settings)[SAME_AS_VERSION].as_integer().label("same_as_version_id"),
    )


def _public(row: Row[Any]) -> SolveRunPublic:
    """The summary's columns by name, and what is made of the headline fields of the input and output."""
    return SolveRunPublic.model_validate(
        {
            **row._mapping,
            "progress": row.progress or None,
            "result": None
            if row.status is None
            else {
                "status": row.status,
                "objective": row.objective,
                "bound": row.bound,
                "schedule_version_id": row.schedule_version_id,
                "same_as_version_id": row.same_as_version_id,
            },
            "has_input": row.input_format is not None,
            "has_output": row.status is not None,
        }
    )


async def get_run(session: AsyncSession, run_id: int) -> SolveRunPublic | None:
    row = (await session.execute(_summaries().where(col(SolveRun.id) == run_id))).one_or_none()
    return None if row is None else _public(row)


async def list_runs(session: AsyncSession, round_id: int, page: LimitOffset) -> OffsetPagination[SolveRunPublic]:
    """A page of the round's runs, newest first, with the count of all of them."""
    of_round = col(SolveRun.round_id) == round_id
    total = await session.scalar(select(func.count()).select_from(SolveRun).where(of_round))
    rows = await session.execute(
        _summaries().where(of_round).order_by(col(SolveRun.id).desc()).limit(page.limit).offset(page.offset)
    )
    return OffsetPagination(
        items=[_public(row) for row in rows], limit=page.limit, offset=page.offset, total=total or 0
    )


async def run_input(session: AsyncSession, run_id: int) -> dict[str, Any] | None:
    """The round file the run solved, as it was when the worker took the run."""
    return await session.scalar(select(col(SolveRun.input)).where(col(SolveRun.id) == run_id))


async def run_output(session: AsyncSession, run_id: int) -> dict[str, Any] | None:
    """The schedule file the run produced (the best so far for a cancelled run)."""
    return await session.scalar(select(col(SolveRun.output)).where(col(SolveRun.id) == run_id))
