"""A round's input revision: the count of changes to what a solve of the round reads.

A solve records the input revision it read (`SolveRun.input_revision`); its
result for an older one is a stale draft that is never published. Every
ORM write is counted by a `before_flush` listener on all sessions, which finds
the rounds of the changed rows, so a new write path cannot forget it. Bulk
statements (the round file importer's) name their rounds with `touch_rounds`.

A transaction moves a round's revision once, at its first change of it: the UPDATE
locks the round's row until the transaction ends (so no other change of what the
round's solve reads commits in between), and further changes of the same transaction
need no second statement. `bumped` tells what the revision was before the transaction
and is now (`scheduler.rounds.integrity` keeps which revisions passed the checks).
A write that changes a round's proposals only may leave the move to its end
(`move_last`, then `move_now`, or its commit): it holds the round's row for its last
statements only, and checks the round again once it holds it.

What the process knows of a round at a revision (whether it passed every check, what it offers proposals) is kept
per revision (`ByRevision`) and carried on by the writes that keep it; a write that reads a revision another of the
process's transactions has just committed waits for that transaction's end, when what it knew is noted
(`RoundsByRevision.at`).

What a solve reads: the round's own fields, its facilities with their
instruments, windows and equipment, its equipment, quotas and country groups,
its proposals with their team, requests, links and reviews, and the accounts of
their people and reviewers (e-mail, confirmed country).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    Row,
    bindparam,
    event,
    inspect,
    or_,
    select,
    true,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction, aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.dml import ReturningUpdate
from sqlmodel import col

from scheduler.db import tables
from scheduler.errors import Conflict
from scheduler.schedules.versions import PUBLISHED

ROUND_FIELDS_A_SOLVE_READS = frozenset(
    {"code", "name", "start", "end", "shift_hours", "utc_offset_minutes", "scoring", "frozen_horizon_days"}
)
"""A round's own columns in its round file; its phase, dates of the call and publishing policy are not."""
ACCOUNT_FIELDS_A_SOLVE_READS = ("email", "country", "country_confirmed")
"""An account's columns a round's export reads: a person's confirmed country, a reviewer's e-mail."""
GRID_FIELDS = ("start", "end", "shift_hours")
"""The columns that place every allocation: a solve under way must not see them move."""

_OF_A_ROUND = (
    tables.Proposal,
    tables.Request,
    tables.Quota,
    tables.CountryGroup,
    tables.RoundFacility,
    tables.RoundInstrument,
    tables.RoundEquipment,
)
_OF_A_PROPOSAL = (tables.TeamMember, tables.Link, tables.Review, tables.ReviewAssignment)


_BUMPED = "beamtime_input_revisions"
"""The key in `Session.info` of the rounds the session's transaction has counted a change of."""
_LAST = "beamtime_input_revisions_moved_last"
"""The key in `Session.info` of the rounds whose move the session's transaction leaves to `move_now` or its commit."""


class StaleSolveError(Conflict):
    """The draft was solved from an older input revision of its round."""


@dataclass(frozen=True)
class Bump:
    """A round's input revision moved by a transaction: from `before` (as committed then) to `after`."""

    before: int
    after: int
    transaction: SessionTransaction
    """The (sub)transaction that moved it: a savepoint rolled back takes the move with it."""


Value = TypeVar("Value")


class ByRevision(Generic[Value]):
    """What this process knows of one round at its input revisions: values noted at committed revisions, and moves
    of the round by committed writes that kept the value (`kept`), so that a value known at `before` is known at
    `after` too.

    Writes of one round commit one after another, but the process hears of their commits in the order their
    answers are read, which is not always that order; and a write that read the round's revision before other writes
    committed asks about an older revision than the last one noted. So a move heard of before the value at its
    `before` is kept until that value is noted, and older revisions are answered too (the last `KEPT` of them)."""

    KEPT = 128

    def __init__(self) -> None:
        self._values: dict[int, Value] = {}
        self._moves: dict[int, int] = {}

    def at(self, revision: int) -> Value | None:
        return self._values.get(revision)

    def note(self, revision: int, value: Value) -> None:
        """`value` is what the round was at the committed `revision` (and at the revisions moves kept it to)."""
        self._values[revision] = value
        while revision in self._moves:
            revision = self._moves.pop(revision)
            self._values[revision] = value
        _keep_latest(self._values, self.KEPT)

    def kept(self, before: int, after: int) -> None:
        """A committed write moved the round from `before` to `after` and left the value as it was."""
        value = self._values.get(before)
        if value is None:
            self._moves[before] = after
            _keep_latest(self._moves, self.KEPT)
        else:
            self.note(after, value)


def _keep_latest(by_revision: dict[int, Any], kept: int) -> None:
    if len(by_revision) > 2 * kept:
        for revision in sorted(by_revision)[:-kept]:
            del by_revision[revision]


class RoundsByRevision(Generic[Value]):
    """A `ByRevision` for each round of each database (engine) the process writes to."""

    def __init__(self) -> None:
        self._rounds: WeakKeyDictionary[Engine, dict[int, ByRevision[Value]]] = WeakKeyDictionary()

    def of(self, session: Session, round_id: int) -> ByRevision[Value]:
        """The round's, in the database `session` writes to."""
        return self._rounds.setdefault(_engine(session), {}).setdefault(round_id, ByRevision())

    async def at(self, session: AsyncSession, round_id: int, revision: int) -> Value | None:
        """What is known of the round at the committed `revision`, which `session` read. When a transaction of this
        process moved the round to `revision` and has not ended yet (its commit was answered, or the revision would
        not have been read, but the process has not yet heard what the commit noted), once it has ended."""
        known = self.of(session.sync_session, round_id)
        value = known.at(revision)
        if value is None and await _moved_here(session, round_id, revision):
            value = known.at(revision)
        return value


_ENDINGS: WeakKeyDictionary[Engine, dict[tuple[int, int], asyncio.Event]] = WeakKeyDictionary()
"""Per database: (round id, revision) → set when the transaction of this process that moved the round to the revision
ends."""
_ENDING = "beamtime_input_revisions_ending"
"""The key in `Session.info` of the events of `_ENDINGS` for the session's transaction's moves, set at its end."""
HEARD_WITHIN = 0.5
"""Seconds `RoundsByRevision.at` waits for a transaction's end: its commit was answered, so it ends at once unless the
process is stalled; after that, what it would have told is read from the database instead."""


def _engine(session: Session) -> Engine:
    return session.get_bind().engine


def _expect_end(session: Session, round_id: int, revision: int) -> None:
    """The transaction moved the round to `revision`: writes that read it wait for the transaction's end."""
    ending: dict[tuple[int, int], asyncio.Event] = session.info.setdefault(_ENDING, {})
    event = ending.setdefault((round_id, revision), asyncio.Event())
    _ENDINGS.setdefault(_engine(session), {})[round_id, revision] = event


async def _moved_here(session: AsyncSession, round_id: int, revision: int) -> bool:
    """Whether another transaction of this process moved the round to `revision`; if so, once it has ended."""
    event = _ENDINGS.get(_engine(session.sync_session), {}).get((round_id, revision))
    if event is None or (round_id, revision) in session.sync_session.info.get(_ENDING, {}):
        return False
    with suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), HEARD_WITHIN)
    return True


async def touch_rounds(session: AsyncSession, round_ids: Iterable[int]) -> None:
    """Counts a change to what a solve of each round reads (for writes the listener cannot see: bulk statements)."""
    await session.run_sync(lambda sync_session: _bump(sync_session, round_ids))


def move_last(session: AsyncSession, round_id: int) -> None:
    """Leaves the move of the round's revision, and the lock of its row that comes with it, to `move_now` or else
    to the transaction's commit: for a write that changes the round's proposals and nothing else, so that proposal
    writes of one round hold its row only from their `move_now` on, not while they do their work."""
    session.sync_session.info.setdefault(_LAST, set()).add(round_id)


async def move_now(session: AsyncSession, round_id: int) -> tuple[Bump, tables.Round]:
    """Moves the round's revision (`move_last`'s) now: the round's row is locked from here to the transaction's
    end, and what other writes committed before is what the next statements read. The same statement returns the
    round as committed now (refreshed in the session), so a write that holds it reads it no second time."""

    def move(sync_session: Session) -> tuple[Bump, tables.Round]:
        sync_session.flush()  # the write's own changes first, if it left any to the session
        sync_session.info.get(_LAST, set()).discard(round_id)
        # `move_last` kept every earlier move of the round in this transaction for this one, so none was made.
        round_ = _bump(sync_session, [round_id], reading=True).get(round_id)
        bump = bumped(sync_session, round_id)
        if bump is None or round_ is None:
            raise LookupError(f"no round {round_id}")
        return bump, round_

    return await session.run_sync(move)


def bumped(session: Session, round_id: int) -> Bump | None:
    """The move of the round's input revision this session's transaction holds, if it made one."""
    bump: Bump | None = session.info.get(_BUMPED, {}).get(round_id)
    return bump if bump is not None and _holds(session, bump.transaction) else None


async def rounds_of_facilities(session: AsyncSession, facility_ids: Collection[int]) -> set[int]:
    """The rounds that hold any of the facilities: the rounds a change to their catalogue reaches."""
    return await session.run_sync(lambda sync_session: _rounds_of_facilities(sync_session.connection(), facility_ids))


async def rounds_of_equipment(session: AsyncSession, equipment_ids: Collection[int]) -> set[int]:
    """The rounds that offer any of the equipment: the rounds a change to it reaches."""
    return await session.run_sync(lambda sync_session: _rounds_of_equipment(sync_session.connection(), equipment_ids))


async def input_revision(session: AsyncSession, round_id: int) -> int:
    revision = await session.scalar(select(col(tables.Round.input_revision)).where(col(tables.Round.id) == round_id))
    if revision is None:
        raise LookupError(f"no round {round_id}")
    return revision


async def require_no_solve_under_way(session: AsyncSession, round_id: int) -> None:
    """Conflict while a solve of the round is queued or running: it would place its result on a moved grid."""
    run_id = await session.scalar(
        select(col(tables.SolveRun.id))
        .where(col(tables.SolveRun.round_id) == round_id, col(tables.SolveRun.state).in_(("queued", "running")))
        .limit(1)
    )
    if run_id is not None:
        raise Conflict(
            f"the round has solve {run_id} under way: its start, end and shift length cannot change until it ends"
        )


async def solved_input_revision(session: AsyncSession, version_id: int) -> int | None:
    """The input revision the solve that made the version read; None for a version no solve made."""
    return await session.scalar(
        select(col(tables.SolveRun.input_revision))
        .where(col(tables.SolveRun.schedule_version_id) == version_id)
        .limit(1)
    )


async def require_current_input(session: AsyncSession, version: tables.ScheduleVersion) -> int | None:
    """StaleSolveError when the version was solved from an older input revision than the round's;
    the revision it was solved from (None when no solve made it)."""
    solved_at = await solved_input_revision(session, version.id or 0)
    if solved_at is None:
        return None
    current = await input_revision(session, version.round_id)
    if solved_at != current:
        raise StaleSolveError(
            f"the round changed since this draft was solved (input revision {solved_at}, now {current}); solve again"
        )
    return solved_at


def _bump(session: Session, round_ids: Iterable[int], *, reading: bool = False) -> dict[int, tables.Round]:
    """One UPDATE of the rounds this transaction has not moved yet, and of the rounds that read what they delivered
    (`_BUMP`), which locks their rows until it ends. `reading`: returning the rounds `round_ids` as committed now, in
    the session (`move_now`'s); else returning none (the flush's listener runs it)."""
    known: dict[int, Bump] = session.info.setdefault(_BUMPED, {})
    last = session.info.get(_LAST, set())
    ids = [round_id for round_id in set(round_ids) if bumped(session, round_id) is None and round_id not in last]
    if not ids:
        return {}
    moved_before = [round_id for round_id in known if bumped(session, round_id) is not None]
    transaction = session.get_nested_transaction() or session.get_transaction()
    assert transaction is not None, "a flush runs in a transaction"
    parameters = {"changed": ids, "moved": moved_before}
    rows: Iterable[tuple[int | None, int, tables.Round | None]]
    if reading:
        one = len(ids) == 1 and not moved_before
        moved = session.connection().execute(
            _BUMP_ONE_READING if one else _BUMP_READING, {"changed": ids[0]} if one else parameters
        )
        rows = ((row.id, row.input_revision, _refreshed(session, row) if row.id in ids else None) for row in moved)
    else:
        rows = ((round_id, revision, None) for round_id, revision in session.connection().execute(_BUMP, parameters))
    rounds: dict[int, tables.Round] = {}
    for round_id, revision, round_ in rows:
        assert round_id is not None, "stored rounds have ids"
        earlier = known.get(round_id)
        # A savepoint's move that was rolled back is moved again: the first `before` still is what was committed.
        before = revision - 1 if earlier is None else earlier.before
        known[round_id] = Bump(before, revision, transaction)
        _expect_end(session, round_id, revision)
        if round_ is not None:
            rounds[round_id] = round_
    return rounds


def _bump_statement(*returning: Any, one: bool = False) -> ReturningUpdate[Any]:
    """The UPDATE of `_bump`, built once (its aliases cost more CPU than the rest of a write's flush): the rounds
    `changed`, and the later rounds under the fair-return policy of each published one of them that are not among the
    rounds `moved` already. Their solve input has what it delivered as it is exported now
    (`scheduler.rounds.fair_return`), so a change of its proposals or their people changes theirs. A published
    round's start moves only by an admin's forced import, which counts the changes of the rounds after its old start
    and its new one itself (`scheduler.rounds.replacement`).

    `one`: for one round `changed` in a transaction that moved none before (every proposal write's): no lists as
    parameters, which SQLAlchemy would write into the statement's text at each run."""
    changed, reader = aliased(tables.Round), aliased(tables.Round)
    published = select(col(tables.ScheduleVersion.id)).where(
        col(tables.ScheduleVersion.round_id) == col(changed.id), col(tables.ScheduleVersion.status) == PUBLISHED
    )
    same_policy = col(reader.fair_return_policy_id) == col(changed.fair_return_policy_id)
    round_id = col(tables.Round.id)
    not_moved = true() if one else round_id.not_in(bindparam("moved", expanding=True))
    readers = (
        select(col(reader.id))
        .join(changed, same_policy & (col(reader.start) > col(changed.start)))
        .where(_among_changed(col(changed.id), one), published.exists())
    )
    return (
        update(tables.Round)
        .where(or_(_among_changed(round_id, one), not_moved & round_id.in_(readers)))
        .values(input_revision=col(tables.Round.input_revision) + 1)
        .returning(*returning)
    )


def _among_changed(round_id: Any, one: bool) -> ColumnElement[bool]:
    """`round_id` is the one round `changed`, or among the rounds `changed`."""
    among: ColumnElement[bool] = (
        round_id == bindparam("changed") if one else round_id.in_(bindparam("changed", expanding=True))
    )
    return among


_BUMP = _bump_statement(col(tables.Round.id), col(tables.Round.input_revision))
_BUMP_READING = _bump_statement(*tables.Round.__table__.columns)  # type: ignore[attr-defined]
"""`_BUMP` returning each round moved as committed now, for `_refreshed` (the ORM's own UPDATE costs five times as
much CPU, and loading the returned row through the session cost a proposal write 0.2 M instructions more)."""
_BUMP_ONE_READING = _bump_statement(*tables.Round.__table__.columns, one=True)  # type: ignore[attr-defined]
"""`_BUMP_READING` for one round, `changed` (a proposal write's `move_now`)."""


def _refreshed(session: Session, row: Row[Any]) -> tables.Round:
    """The round of `row`, as committed now, in the session: the one it holds given the row's values as committed (as a
    query with `populate_existing` would), else read."""
    round_ = session.identity_map.get(identity_key(tables.Round, row.id))
    if not isinstance(round_, tables.Round):
        read = session.get(tables.Round, row.id, populate_existing=True)
        assert read is not None, "the round's row is locked by this transaction"
        return read
    for name, value in row._mapping.items():
        set_committed_value(round_, name, value)
    return round_


def _holds(session: Session, transaction: SessionTransaction) -> bool:
    """Whether `transaction` is the session's current (sub)transaction or one it is nested in."""
    current = session.get_nested_transaction() or session.get_transaction()
    while current is not None:
        if current is transaction:
            return True
        current = current.parent
    return False


_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_ROUNDS_OF_FACILITIES = select(col(tables.RoundFacility.round_id)).where(
    col(tables.RoundFacility.facility_id).in_(_IDS)
)
_ROUNDS_OF_PROPOSALS = select(col(tables.Proposal.round_id)).where(col(tables.Proposal.id).in_(_IDS))
_FACILITIES_OF_INSTRUMENTS = select(col(tables.Instrument.facility_id)).where(col(tables.Instrument.id).in_(_IDS))
_ROUNDS_OF_EQUIPMENT = select(col(tables.RoundEquipment.round_id)).where(
    col(tables.RoundEquipment.equipment_id).in_(_IDS)
)
"""What `_changed_rounds` looks up by ids, as statements built once (the listener runs for every flush of a
catalogue write)."""


def _rounds_of_facilities(connection: Connection, facility_ids: Collection[int]) -> set[int]:
    if not facility_ids:
        return set()
    return set(connection.execute(_ROUNDS_OF_FACILITIES, {"ids": list(facility_ids)}).scalars())


def _rounds_of_equipment(connection: Connection, equipment_ids: Collection[int]) -> set[int]:
    if not equipment_ids:
        return set()
    return set(connection.execute(_ROUNDS_OF_EQUIPMENT, {"ids": list(equipment_ids)}).scalars())


def _rounds_of_accounts(connection: Connection, user_ids: Collection[int], emails: Collection[str]) -> set[int]:
    """The rounds with a proposal the accounts own, name as PI or team member, or reviewed."""
    owned = select(col(tables.Proposal.round_id)).where(
        or_(col(tables.Proposal.owner_id).in_(list(user_ids)), col(tables.Proposal.pi_email).in_(list(emails)))
    )
    proposal_of = col(tables.Proposal.id) == col(tables.TeamMember.proposal_id)
    teams = (
        select(col(tables.Proposal.round_id))
        .join(tables.TeamMember, proposal_of)
        .where(col(tables.TeamMember.email).in_(list(emails)))
    )
    reviewed = (
        select(col(tables.Proposal.round_id))
        .join(tables.Review, col(tables.Review.proposal_id) == col(tables.Proposal.id))
        .where(col(tables.Review.reviewer_id).in_(list(user_ids)))
    )
    return set(connection.execute(union(owned, teams, reviewed)).scalars())


def _changed_rounds(session: Session) -> set[int]:
    """The rounds whose solve input the session's pending changes reach."""
    changed: list[Any] = [
        *session.new,
        *session.deleted,
        *(row for row in session.dirty if session.is_modified(row, include_collections=False)),
    ]
    rounds: set[int] = set()
    proposals: set[int] = set()
    facilities: set[int] = set()
    instruments: set[int] = set()
    equipment: set[int] = set()
    accounts: set[int] = set()
    emails: set[str] = set()
    for row in changed:
        if isinstance(row, tables.Round):
            state = inspect(row)
            if row.id is not None and any(
                state.attrs[name].history.has_changes() for name in ROUND_FIELDS_A_SOLVE_READS
            ):
                rounds.add(row.id)
            continue
        if isinstance(row, tables.User):
            attributes = inspect(row).attrs
            if row.id is not None and any(
                attributes[name].history.has_changes() for name in ACCOUNT_FIELDS_A_SOLVE_READS
            ):
                accounts.add(row.id)
                emails.update(filter(None, [row.email, *attributes["email"].history.deleted]))
            continue
        if isinstance(row, _OF_A_ROUND):
            rounds.add(row.round_id)
        if isinstance(row, _OF_A_PROPOSAL):
            proposals.add(row.proposal_id)
        if isinstance(row, tables.Facility) and row.id is not None:
            facilities.add(row.id)
        if isinstance(row, tables.Instrument):
            facilities.add(row.facility_id)
        if isinstance(row, tables.Window):
            if row.facility_id is not None:
                facilities.add(row.facility_id)
            if row.instrument_id is not None:
                instruments.add(row.instrument_id)
        if isinstance(row, tables.Equipment):
            if row.facility_id is not None:
                facilities.add(row.facility_id)
            if row.id is not None:
                equipment.add(row.id)
    if not (rounds or proposals or facilities or instruments or equipment or accounts):
        return set()
    connection = session.connection()
    if accounts:
        rounds.update(_rounds_of_accounts(connection, accounts, emails))
    loaded = [session.identity_map.get(identity_key(tables.Proposal, proposal_id)) for proposal_id in proposals]
    rounds.update(proposal.round_id for proposal in loaded if isinstance(proposal, tables.Proposal))
    unloaded = proposals - {proposal.id for proposal in loaded if isinstance(proposal, tables.Proposal)}
    if unloaded:
        rounds.update(connection.execute(_ROUNDS_OF_PROPOSALS, {"ids": list(unloaded)}).scalars())
    if instruments:
        facilities.update(connection.execute(_FACILITIES_OF_INSTRUMENTS, {"ids": list(instruments)}).scalars())
    return rounds | _rounds_of_equipment(connection, equipment) | _rounds_of_facilities(connection, facilities)


@event.listens_for(Session, "before_flush")
def _count_changes_solves_read(session: Session, _context: UOWTransaction, _instances: object) -> None:
    rounds = _changed_rounds(session)
    if rounds:
        _bump(session, rounds)


@event.listens_for(Session, "before_commit")
def _move_what_was_left(session: Session) -> None:
    """The moves left to the end (`move_last`) that no `move_now` made."""
    last = session.info.pop(_LAST, set())
    if last:
        _bump(session, last)


@event.listens_for(Session, "after_transaction_end")
def _forget_moves(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_BUMPED, None)
        session.info.pop(_LAST, None)
        ending: dict[tuple[int, int], asyncio.Event] = session.info.pop(_ENDING, {})
        endings = _ENDINGS.get(_engine(session), {}) if ending else {}
        for key, event in ending.items():
            if endings.get(key) is event:
                del endings[key]
            event.set()
