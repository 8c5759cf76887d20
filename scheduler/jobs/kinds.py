"""Job kinds: what the queue asks of a kind of run, so that it never knows any kind by name.

A run's `kind` column names a registered `JobKind`. The worker exports the round,
lets the kind `prepare` the round file it will solve, solves it, saves a schedule as
a draft version and lets the kind `conclude`: the schedule file it returns is the
run's stored output. The plain solve (`SOLVE`) is registered here; other kinds
register themselves from their own packages (the nightly repair from
`scheduler.nightly`), and a process that runs workers imports those packages first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.roundfile.contract import RoundFile, ScheduleFile


class Prepare(Protocol):
    async def __call__(self, session: AsyncSession, run_id: int, round_file: RoundFile) -> RoundFile:
        """The round file the run solves, from the round as exported when the worker took it."""
        ...


class Conclude(Protocol):
    async def __call__(
        self, session: AsyncSession, run_id: int, version_id: int, schedule: ScheduleFile, *, complete: bool
    ) -> ScheduleFile:
        """The schedule file kept as the run's output, in the transaction that saved `schedule` as draft
        `version_id`; `complete` is False for a solve stopped before it finished."""
        ...


@dataclass(frozen=True)
class JobKind:
    name: str
    """As stored in `SolveRun.kind`."""
    prepare: Prepare
    conclude: Conclude
    draft_when_unchanged: bool = True
    """False when a result allocating exactly as the round's published version makes no draft: a copy a
    coordinator could publish would bump the round's revision and notify nobody of anything."""


class UnknownJobKindError(LookupError):
    """A run of a kind no package registered in this process: it fails rather than being solved wrongly."""


_KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    """Makes runs of `kind.name` solvable in this process; a name is registered once."""
    if _KINDS.setdefault(kind.name, kind) is not kind:
        raise ValueError(f"the job kind {kind.name!r} is registered already")
    return kind


def job_kind(name: str) -> JobKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownJobKindError(f"no job kind {name!r} is registered in this worker") from None


async def _as_exported(session: AsyncSession, run_id: int, round_file: RoundFile) -> RoundFile:
    return round_file


async def _as_solved(
    session: AsyncSession, run_id: int, version_id: int, schedule: ScheduleFile, *, complete: bool
) -> ScheduleFile:
    return schedule


SOLVE = register(JobKind("manual", _as_exported, _as_solved, draft_when_unchanged=False))
"""A coordinator's solve: the round as it is; the draft version is the whole outcome, and no draft when
it would repeat the published one."""
