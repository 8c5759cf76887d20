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

The round as it was need not be exported when it is known to pass: each process keeps, per database, the
input revisions (`scheduler.rounds.revision`) at which each round passed every check when committed, noted
by `keeping_valid` and carried on by the writes checked alone (`checked_alone`). The round after the change is
always exported and checked, so a revision wrongly believed to pass could only refuse a write, never let a
problem in.

A write that changed only windows and quotas (every change flushed, none by a bulk statement) of a round that passed
before it and has no published version is checked on the round without its proposals: no rule reads a proposal
together with a window or a quota except those on published allocations, and every rule that reads a window or a
quota is among the round file's checks of the rest (its contract, ids, intervals, references). A round of a few
hundred proposals is checked in a few milliseconds instead of tens.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, event, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction
from sqlmodel import col

from scheduler.db.tables import (
    AuditEntry,
    Instrument,
    Quota,
    Round,
    RoundFacility,
    RoundInstrument,
    Window,
)
from scheduler.errors import Conflict
from scheduler.fields import round_length_problem
from scheduler.roundfile.checks import InputError, InputProblem, check_round
from scheduler.roundfile.contract import RoundFile
from scheduler.roundfile.solving import proposal_problems
from scheduler.rounds.exporter import export_round
from scheduler.rounds.revision import RoundsByRevision, bumped

_STORED = re.compile(r"^\$\.(?:proposals\[(\d+)\](?:\.requests\[(\d+)\])?|previous_schedule\[(\d+)\]|quotas\[(\d+)\])")
_SHOWN = 10
"""Problems named in one refusal; the rest are counted."""
_PASSING: RoundsByRevision[bool] = RoundsByRevision()
"""The input revisions at which each round, as committed, passed every check (True)."""
_NOTED = "beamtime_rounds_passing"
"""The key in `Session.info`: round id → the revision its transaction checked it passing at, or None for a write
checked alone (`checked_alone`), which keeps the revision the round was at before it passing."""
_CHECKED_WITHOUT_PROPOSALS = (Window, Quota, AuditEntry)
"""The rows a write may change and still be checked on its round without the proposals (see the module)."""


def require_schedulable_length(start: datetime, end: datetime, shift_hours: int) -> None:
    """The round file's limit on a round's grid (`round_length_problem`), for a round's settings."""
    problem = round_length_problem(start, end, shift_hours)
    if problem is not None:
        raise InputError([InputProblem("$.end", problem)])


@asynccontextmanager
async def keeping_valid(session: AsyncSession, round_ids: Iterable[int], what: str) -> AsyncIterator[None]:
    """Refuses the write made inside when it adds a problem to one of `round_ids` (see the module)."""
    ids = sorted(set(round_ids))
    revisions = await _revisions(session, ids)
    before = {
        round_id: set()
        if round_id in revisions and await _PASSING.at(session, round_id, revisions[round_id])
        else {str(problem) for problem in (await _problems(session, round_id))[1]}
        for round_id in ids
    }
    with _changes(session.sync_session) as changed:
        yield
        await session.flush()
    for round_id in ids:
        round_file, problems = None, None
        if changed.within(_CHECKED_WITHOUT_PROPOSALS) and not before[round_id]:
            round_file, problems = await _problems(session, round_id, proposals=False)
            if round_file is None or round_file.previous_schedule is not None:
                problems = None
        if problems is None:
            round_file, problems = await _problems(session, round_id)
        added = [problem for problem in problems if str(problem) not in before[round_id]]
        if added:
            _refuse(round_id, round_file, added, what)
        if not problems:
            bump = bumped(session.sync_session, round_id)
            revision = bump.after if bump is not None else revisions.get(round_id)
            session.sync_session.info.setdefault(_NOTED, {})[round_id] = revision


@dataclass
class _Changes:
    """What a write flushed, by table, and whether it ran statements of its own that the session cannot see into."""

    tables: set[type[Any]] = field(default_factory=set)
    statements: bool = False

    def within(self, tables: tuple[type[Any], ...]) -> bool:
        return not self.statements and all(issubclass(table, tables) for table in self.tables)


@contextmanager
def _changes(session: Session) -> Iterator[_Changes]:
    changed = _Changes()

    def flushing(flushed: Session, _context: UOWTransaction, _instances: object) -> None:
        changed.tables.update(type(row) for row in (*flushed.new, *flushed.dirty, *flushed.deleted))

    def executing(state: ORMExecuteState) -> None:
        changed.statements = changed.statements or not state.is_select

    event.listen(session, "before_flush", flushing)
    event.listen(session, "do_orm_execute", executing)
    try:
        yield changed
    finally:
        event.remove(session, "before_flush", flushing)
        event.remove(session, "do_orm_execute", executing)


def checked_alone(session: AsyncSession, round_id: int) -> None:
    """Says that the transaction's change of the round passed the checks of its own kind, which keep a round that
    passed the round file's checks passing them (a proposal's `check_proposal`), so `keeping_valid` need not
    export the round as it was before the next write."""
    session.sync_session.info.setdefault(_NOTED, {}).setdefault(round_id, None)


async def _revisions(session: AsyncSession, round_ids: list[int]) -> dict[int, int]:
    """The rounds' input revisions as committed before this transaction (none of those it has changed already)."""
    unchanged = [round_id for round_id in round_ids if bumped(session.sync_session, round_id) is None]
    rows = await session.execute(_REVISIONS, {"round_ids": unchanged})
    return {round_id: revision for round_id, revision in rows if round_id is not None}


_REVISIONS = select(col(Round.id), col(Round.input_revision)).where(
    col(Round.id).in_(bindparam("round_ids", expanding=True))
)


@event.listens_for(Session, "after_commit")
def _keep_passing_revisions(session: Session) -> None:
    noted: dict[int, int | None] = session.info.get(_NOTED, {})
    if not noted or session.in_nested_transaction():  # a savepoint released: its transaction may still roll back
        return
    for round_id, revision in noted.items():
        bump, passing = bumped(session, round_id), _PASSING.of(session, round_id)
        if revision is None and bump is not None:
            passing.kept(bump.before, bump.after)
        elif revision is not None and (bump is None or bump.after == revision):
            passing.note(revision, True)


@event.listens_for(Session, "after_transaction_end")
def _forget_noted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_NOTED, None)


async def rounds_using_instruments(session: AsyncSession, instrument_ids: Iterable[int]) -> list[int]:
    rows = await session.execute(_ROUNDS_OFFERING, {"instrument_ids": list(instrument_ids)})
    return list(set(rows.scalars()))


async def rounds_using_facility(session: AsyncSession, facility_id: int) -> list[int]:
    """The rounds a facility's windows and instruments reach: those it is in and those offering its instruments."""
    rows = await session.execute(_ROUNDS_USING_FACILITY, {"facility_id": facility_id})
    return list(set(rows.scalars()))


_ROUNDS_OFFERING = select(col(RoundInstrument.round_id)).where(
    col(RoundInstrument.instrument_id).in_(bindparam("instrument_ids", expanding=True))
)
_ROUNDS_USING_FACILITY = union(
    select(col(RoundFacility.round_id)).where(col(RoundFacility.facility_id) == bindparam("facility_id")),
    select(col(RoundInstrument.round_id)).where(
        col(RoundInstrument.instrument_id).in_(
            select(col(Instrument.id)).where(col(Instrument.facility_id) == bindparam("facility_id"))
        )
    ),
)
"""The rounds a catalogue item's change reaches, as statements built once (building one cost as much CPU as
running it)."""


async def _problems(
    session: AsyncSession, round_id: int, *, proposals: bool = True
) -> tuple[RoundFile | None, list[InputProblem]]:
    """The round as a file and what the file's checks and review rules find in it; without `proposals`, the round
    without its proposals and what the file's checks find in that (the review rules are the proposals')."""
    try:
        round_file = await export_round(session, round_id, proposals=proposals)
    except InputError as error:
        return None, error.problems
    except LookupError:
        return None, []
    return round_file, proposal_problems(round_file) if proposals else check_round(round_file)


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
