"""What a round offers proposals at one input revision (its instruments' facilities, its equipment, its facilities),
remembered in the process; and the round's row taken by a proposal write at its end, not its start.

A proposal write reads the round and its offer unlocked, checks and writes the proposal, and only then moves the
round's input revision (`scheduler.rounds.revision.move_now`), which locks the round's row until it commits. Under
that lock it reads the round again and checks once more what another write may have changed meanwhile (the phase,
the deadline, the grid, the offer), so one round's proposal writes hold its row for their last few statements
instead of their whole transaction, and a change of the round committed before a write's end is seen by it.

Every change an offer is made of moves the round's input revision, so an offer is used only at the revisions it is
known at; a proposal write changes none of it and carries the offer on to the revision its commit moves the round to:
the next write of the round in this process reads no offer at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Integer, String, bindparam, cast, event, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import col

from scheduler.db import tables
from scheduler.errors import NotFound
from scheduler.rounds.revision import Bump, RoundsByRevision, bumped, move_last, move_now


@dataclass(frozen=True)
class Offer:
    """What a round offers proposals: its instruments' facilities by code, its equipment codes and its facilities."""

    facility_of: dict[str, int]
    equipment: frozenset[str]
    facilities: frozenset[int]

    def same_as(self, other: Offer) -> bool:
        """Whether both offer the same, at whatever revisions."""
        return (self.facility_of, self.equipment, self.facilities) == (
            other.facility_of,
            other.equipment,
            other.facilities,
        )


_OFFERS: RoundsByRevision[Offer] = RoundsByRevision()
"""What each round offers at its input revisions, as this process read it or carried it on through its own proposal
writes."""


async def round_with_offer(session: AsyncSession, round_id: int) -> tuple[tables.Round, Offer]:
    """The round as committed now (or as this write read it already), not locked, and what it offers, for a
    write that changes its proposals and nothing else (NotFound when there is no such round): what the write checks
    before it writes. The move of the round's revision, and the lock of its row, are left to the write's
    `held_round` (`move_last`)."""
    round_ = await session.get(tables.Round, round_id)
    if round_ is None:
        raise NotFound(f"no round {round_id}")
    move_last(session, round_id)
    return round_, await _offer_at(session, round_id, round_.input_revision)


async def held_round(session: AsyncSession, round_id: int) -> tuple[tables.Round, Offer]:
    """The round, locked until the transaction ends, and what it offers, read once the write has made its changes:
    what the write checked of them before may have changed in between, and is checked again by the caller on these.
    Once the write commits, the offer is remembered at the revision it moved the round to."""
    try:
        bump, round_ = await move_now(session, round_id)
    except LookupError as gone:
        raise NotFound(f"no round {round_id}") from gone
    offer = await _offer_at(session, round_id, bump.before)
    session.sync_session.info.setdefault(_CARRIED, set()).add(round_id)
    return round_, offer


_CARRIED = "beamtime_offers_carried_on"
"""The key in `Session.info` of the rounds whose offer the transaction's write held, carried on at its commit
(`_carry_on`)."""


@event.listens_for(Session, "after_commit")
def _carry_on(committed: Session) -> None:
    """The offer of each round a committed write held is the offer at the revision the write moved the round to."""
    for round_id in committed.info.pop(_CARRIED, set()):
        moved: Bump | None = bumped(committed, round_id)
        if moved is not None:
            _OFFERS.of(committed, round_id).kept(moved.before, moved.after)


@event.listens_for(Session, "after_transaction_end")
def _forget_carried(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_CARRIED, None)


async def _offer_at(session: AsyncSession, round_id: int, revision: int) -> Offer:
    """The offer known at `revision`, else read (and noted at it)."""
    remembered = await _OFFERS.at(session, round_id, revision)
    if remembered is not None:
        return remembered
    rows = (await session.execute(_OFFER_ROWS, {"round_id": round_id})).all()
    offer = Offer(
        facility_of={code: facility for kind, code, facility in rows if kind == "instrument"},
        equipment=frozenset(code for kind, code, _ in rows if kind == "equipment"),
        facilities=frozenset(facility for kind, _, facility in rows if kind == "facility"),
    )
    _OFFERS.of(session.sync_session, round_id).note(revision, offer)
    return offer


_OFFER_ROWS = union_all(
    select(literal("instrument"), col(tables.Instrument.code), col(tables.Instrument.facility_id))
    .join(tables.RoundInstrument, col(tables.RoundInstrument.instrument_id) == col(tables.Instrument.id))
    .where(col(tables.RoundInstrument.round_id) == bindparam("round_id")),
    select(literal("equipment"), col(tables.Equipment.code), cast(null(), Integer))
    .join(tables.RoundEquipment, col(tables.RoundEquipment.equipment_id) == col(tables.Equipment.id))
    .where(col(tables.RoundEquipment.round_id) == bindparam("round_id")),
    select(literal("facility"), cast(null(), String), col(tables.RoundFacility.facility_id)).where(
        col(tables.RoundFacility.round_id) == bindparam("round_id")
    ),
)
"""What a round offers, in one statement: (kind, code, facility id) of its instruments, equipment and facilities."""
