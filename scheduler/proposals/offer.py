"""What a round offers proposals at one input revision (its instruments' facilities, its equipment, its facilities),
remembered in the process so that a proposal write reads it before taking the round's lock, or not at all; and the
proposal writes of one round in this process queued in arrival order for that lock.

Every change an offer is made of moves the round's input revision, so an offer is used only at the revision it
names; a proposal write changes none of it and carries the offer on to the revision its commit moves the round to.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import col

from scheduler.db import tables
from scheduler.rounds.deadlines import lock_round
from scheduler.rounds.revision import bumped


@dataclass(frozen=True)
class Offer:
    """What a round offers proposals at one input revision: its instruments' facilities by code, its equipment
    codes and its facilities."""

    revision: int
    facility_of: dict[str, int]
    equipment: frozenset[str]
    facilities: frozenset[int]


_OFFERS: WeakKeyDictionary[Engine, dict[int, Offer]] = WeakKeyDictionary()
"""Per database: round id → what the round offers, at the input revision the offer names, as this process last read
it or carried it on through its own proposal writes."""


_HOLDERS: WeakKeyDictionary[Engine, dict[int, asyncio.Event]] = WeakKeyDictionary()
"""Per database: round id → the end of the transaction of the last proposal write in this process to queue for the
round's lock, set once that transaction has ended and, if it committed, carried its offer on."""
HOLDER_WAIT = 0.5


async def locked_with_offer(session: AsyncSession, round_id: int) -> tuple[tables.Round, Offer]:
    """The round locked (`lock_round`) and what it offers, for a write that changes a proposal and nothing else (one
    per transaction: a second call in the same one would wait `HOLDER_WAIT` for its own end).

    The proposal writes of a round in this process queue for its lock in arrival order: each waits for the one
    before it to end (at most `HOLDER_WAIT`) before it asks the database, so the round's row is handed on in order
    and only one of them waits for it there (64 writers to one round on PostgreSQL, six runs each alternated:
    median p99 1.28 → 1.02 s, BENCHMARKS.md). The database's lock still decides; the queue only orders this
    process's writes for it. A write queues once its transaction holds a connection, so the one it waits for never
    waits for a connection behind it.

    The offer is the one the write before it carried on, or one read before the lock, and it is kept when the locked
    round's input revision shows that nothing it is made of has changed since (every such change moves the
    revision); otherwise it is read again under the lock. A proposal write changes nothing an offer is made of, so
    once it commits the offer is remembered at the revision it moved the round to: the next write of the round in
    this process reads no offer at all.
    """
    engine = session.sync_session.get_bind().engine
    offers = _OFFERS.setdefault(engine, {})
    holders = _HOLDERS.setdefault(engine, {})
    await session.connection()
    before = holders.get(round_id)
    holders[round_id] = ended = asyncio.Event()

    def end(_: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            ended.set()

    event.listen(session.sync_session, "after_transaction_end", end)
    await _ended(before)
    offer = offers.get(round_id) or await _offer(session, round_id)
    round_ = await lock_round(session, round_id)
    if offer is None or offer.revision != round_.input_revision:
        offer = await _offer(session, round_id)
        assert offer is not None, "a locked round exists"
    offers[round_id] = offer

    def carry_on(committed: Session) -> None:
        bump = bumped(committed, round_id)
        if bump is not None and bump.before == offer.revision and offers.get(round_id) is offer:
            offers[round_id] = replace(offer, revision=bump.after)

    event.listen(session.sync_session, "after_commit", carry_on, once=True)
    return round_, offer


async def _ended(holder: asyncio.Event | None) -> None:
    """Once the transaction of the write queued before this one in this process has run on from its end at the
    database (at most `HOLDER_WAIT` seconds: past it, the write asks the database's lock unordered and may read the
    offer again)."""
    if holder is not None and not holder.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(holder.wait(), HOLDER_WAIT)


async def _offer(session: AsyncSession, round_id: int) -> Offer | None:
    """None when there is no such round (`lock_round` names it)."""
    revision = await session.scalar(select(col(tables.Round.input_revision)).where(col(tables.Round.id) == round_id))
    if revision is None:
        return None
    instruments = await session.execute(
        select(col(tables.Instrument.code), col(tables.Instrument.facility_id))
        .join(tables.RoundInstrument, col(tables.RoundInstrument.instrument_id) == col(tables.Instrument.id))
        .where(col(tables.RoundInstrument.round_id) == round_id)
    )
    equipment = await session.scalars(
        select(col(tables.Equipment.code))
        .join(tables.RoundEquipment, col(tables.RoundEquipment.equipment_id) == col(tables.Equipment.id))
        .where(col(tables.RoundEquipment.round_id) == round_id)
    )
    facilities = await session.scalars(
        select(col(tables.RoundFacility.facility_id)).where(col(tables.RoundFacility.round_id) == round_id)
    )
    facility_of: dict[str, int] = dict(instruments.all())
    return Offer(revision, facility_of, frozenset(equipment), frozenset(facilities))
