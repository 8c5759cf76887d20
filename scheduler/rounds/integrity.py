"""A stored round is always a valid round: the one place writes ask before they commit.

Every write that changes what a solve reads (a round's facilities, equipment, country groups,
scoring and grid; instruments, equipment and windows; quotas) runs inside `keeping_valid`, which
checks the rounds it touches with the round file's own rules (`scheduler.roundfile.checks` and the
review rules of the scoring, through `proposal_problems`) on the round as exported before and after
the change, flushed but not committed. Only problems the write adds refuse it, so old data never
blocks an unrelated write: problems of stored proposals, allocations and quotas (`$.proposals`,
`$.previous_schedule`, `$.quotas`) are a conflict with stored data (409 naming what holds it), the others are
bad content of the write itself (422 naming the field). A proposal is checked alone, cheaper, by
`scheduler.roundfile.checks.check_proposal` in its service.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.tables import Instrument, RoundEquipment, RoundFacility, RoundInstrument
from scheduler.errors import Conflict
from scheduler.fields import round_length_problem
from scheduler.roundfile.checks import InputError, InputProblem
from scheduler.roundfile.contract import RoundFile
from scheduler.roundfile.solving import proposal_problems
from scheduler.rounds.exporter import export_round

_STORED = re.compile(r"^\$\.(?:proposals\[(\d+)\](?:\.requests\[(\d+)\])?|previous_schedule\[(\d+)\]|quotas\[(\d+)\])")
_SHOWN = 10
"""Problems named in one refusal; the rest are counted."""


def require_schedulable_length(start: datetime, end: datetime, shift_hours: int) -> None:
    """The round file's limit on a round's grid (`round_length_problem`), for a round's settings."""
    problem = round_length_problem(start, end, shift_hours)
    if problem is not None:
        raise InputError([InputProblem("$.end", problem)])


@asynccontextmanager
async def keeping_valid(session: AsyncSession, round_ids: Iterable[int], what: str) -> AsyncIterator[None]:
    """Refuses the write made inside when it adds a problem to one of `round_ids` (see the module)."""
    ids = sorted(set(round_ids))
    before = {round_id: {str(problem) for problem in (await _problems(session, round_id))[1]} for round_id in ids}
    yield
    await session.flush()
    for round_id in ids:
        round_file, problems = await _problems(session, round_id)
        added = [problem for problem in problems if str(problem) not in before[round_id]]
        if added:
            _refuse(round_id, round_file, added, what)


async def rounds_using_instruments(session: AsyncSession, instrument_ids: Iterable[int]) -> list[int]:
    rows = await session.execute(
        select(col(RoundInstrument.round_id)).where(col(RoundInstrument.instrument_id).in_(list(instrument_ids)))
    )
    return list(set(rows.scalars()))


async def rounds_using_facility(session: AsyncSession, facility_id: int) -> list[int]:
    """The rounds a facility's windows and instruments reach: those it is in and those offering its instruments."""
    rows = await session.execute(
        select(col(RoundFacility.round_id)).where(col(RoundFacility.facility_id) == facility_id)
    )
    instruments = select(col(Instrument.id)).where(col(Instrument.facility_id) == facility_id)
    offered = await session.execute(
        select(col(RoundInstrument.round_id)).where(col(RoundInstrument.instrument_id).in_(instruments))
    )
    return list(set(rows.scalars()) | set(offered.scalars()))


async def rounds_using_equipment(session: AsyncSession, equipment_id: int) -> list[int]:
    rows = await session.execute(
        select(col(RoundEquipment.round_id)).where(col(RoundEquipment.equipment_id) == equipment_id)
    )
    return list(set(rows.scalars()))


async def _problems(session: AsyncSession, round_id: int) -> tuple[RoundFile | None, list[InputProblem]]:
    """The round as a file and what the file's checks and review rules find in it."""
    try:
        round_file = await export_round(session, round_id)
    except InputError as error:
        return None, error.problems
    except LookupError:
        return None, []
    return round_file, proposal_problems(round_file)


def _refuse(round_id: int, round_file: RoundFile | None, added: list[InputProblem], what: str) -> None:
    stored = [problem for problem in added if _STORED.match(problem.path)]
    code = round_id if round_file is None else round_file.round.id
    if not stored:
        raise InputError(added)
    held = [_held(round_file, problem) for problem in stored]
    more = f" and {len(held) - _SHOWN} more" if len(held) > _SHOWN else ""
    raise Conflict(f"{what} would leave round {code} invalid: {'; '.join(held[:_SHOWN])}{more}")


def _held(round_file: RoundFile | None, problem: InputProblem) -> str:
    """The problem named by what holds it: the request, proposal or allocation rather than an index."""
    match = _STORED.match(problem.path)
    if round_file is None or match is None:
        return str(problem)
    proposal_index, request_index, allocation_index, quota_index = match.groups()
    if quota_index is not None:
        return f"quota {round_file.quotas[int(quota_index)].id}: {problem.message}"
    if allocation_index is not None:
        allocations = round_file.previous_schedule or []
        return f"the allocation of request {allocations[int(allocation_index)].request}: {problem.message}"
    proposal = round_file.proposals[int(proposal_index)]
    if request_index is not None:
        return f"request {proposal.requests[int(request_index)].id}: {problem.message}"
    return f"proposal {proposal.id}: {problem.message}"
