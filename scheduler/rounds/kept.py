"""Round files kept between reads: a facility round's export and ranking take seconds, and a round is read far more
often than it changes (every view of its page, every export of its versions).

A kept round is the coordinators' full view (every review, priority and reason): whoever shows it to someone
withholds what they may not read (`scheduler.schedules.confidential`), exactly as with a fresh export. It is kept
under what it was read from (`RoundInputs`): the database, the round (id and creation, so a database made again
reuses no key), its input revision (`scheduler.rounds.revision`: every change a solve reads moves it) and its
published version, and the same of the rounds under its fair-return policy (what they delivered is its history).
A change to any of them is a new key, so a kept round is never served stale; the old one ages out.

A transaction that changed one of those rounds itself reads a fresh export and keeps nothing: the revision it
sees is not committed, and after a rollback the next change would count to the same number.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.tables import Round, ScheduleVersion
from scheduler.roundfile.contract import RoundFile
from scheduler.roundfile.scoring import ProposalScore, score_round
from scheduler.roundfile.solving import SetAside, ranked_with_set_aside, set_aside_with_and_without_previous
from scheduler.roundfile.validate import Referee
from scheduler.rounds.exporter import export_round
from scheduler.rounds.revision import bumped
from scheduler.schedules.versions import PUBLISHED

KEPT_ROUNDS = 4
"""Rounds kept at once, least recently read dropped first; a facility round's file and ranking are tens of MB."""

Key = TypeVar("Key")
Value = TypeVar("Value")
RoundState = tuple[int, datetime, int, int | None]
"""A round's id, creation, input revision and published version (None: none published)."""


@dataclass(frozen=True)
class RoundInputs:
    """What a round's export is read from: while this is the same, so is the export."""

    database: str
    round_id: int
    rounds: tuple[RoundState, ...]
    """The round's state and that of the other rounds under its fair-return policy, by id."""

    def stored(self) -> list[list[Any]]:
        """`rounds` as a JSON column holds them, to tie what is stored in the database to these inputs (the database
        is the one holding it)."""
        return [
            [round_id, created.isoformat(), revision, published]
            for round_id, created, revision, published in self.rounds
        ]


@dataclass(eq=False)
class KeptRound:
    """A round as a round file, with what pages and exports compute from it once per `inputs`.

    Shared by every reader: read-only (copy it, as `model_copy` does, to change anything).
    """

    round_file: RoundFile
    inputs: RoundInputs | None = field(default=None)
    """None for an export read in a transaction that changed the round: it is not kept."""

    @cached_property
    def ranking(self) -> list[ProposalScore]:
        """Every proposal ranked, those set aside last (`ranked_with_set_aside`), with the kept `scores` when the
        same proposals are set aside with the previous schedule as without it (scoring does not read it)."""
        aside = self._set_aside[0]
        same = aside.reasons.keys() == self.schedulable.reasons.keys()
        return ranked_with_set_aside(self.round_file, aside, self.scores if same else None)

    @cached_property
    def schedulable(self) -> SetAside:
        """The round without its previous schedule and without the proposals set aside: what a version is
        measured in (`scheduler.schedules.export`) and hand edits are priced in."""
        return self._set_aside[1]

    @cached_property
    def _set_aside(self) -> tuple[SetAside, SetAside]:
        """The round's proposals set aside with its previous schedule (for the ranking) and without it, checked
        once for both when the round breaks no rule."""
        return set_aside_with_and_without_previous(self.round_file)

    @cached_property
    def scores(self) -> list[ProposalScore]:
        """The schedulable round scored, once per kept round: what its versions are measured with and hand edits
        priced and judged with."""
        return score_round(self.schedulable.round_file)

    @cached_property
    def referee(self) -> Referee:
        """The round's hard rules, indexed once for the many schedules a drag on the round page judges."""
        return Referee(self.round_file)

    @cached_property
    def owners(self) -> dict[str, str]:
        """Each request's proposal."""
        return {request.id: proposal.id for proposal in self.round_file.proposals for request in proposal.requests}


class LeastRecent(Generic[Key, Value]):
    """At most `size` values, the least recently read dropped first; a None key keeps nothing."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Key, Value] = OrderedDict()

    def get(self, key: Key | None) -> Value | None:
        if key is None or key not in self._values:
            return None
        self._values.move_to_end(key)
        return self._values[key]

    def keep(self, key: Key | None, value: Value) -> Value:
        if key is not None:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value


_kept: LeastRecent[RoundInputs, KeptRound] = LeastRecent(KEPT_ROUNDS)


async def kept_round(session: AsyncSession, round_id: int) -> KeptRound:
    """The round's export, kept per `RoundInputs`; LookupError for no such round, InputError for no valid file.

    The inputs are read before the export, so a change committed in between is in the export (newer than its key,
    never older): a reader that sees the new inputs reads a new export.
    """
    inputs = await round_inputs(session, round_id)
    return _kept.get(inputs) or _kept.keep(inputs, KeptRound(await export_round(session, round_id), inputs))


async def round_inputs(session: AsyncSession, round_id: int) -> RoundInputs | None:
    """The key of the round's export; None when this session's transaction changed one of the rounds it reads."""
    inputs = await seen_inputs(session, round_id)
    if any(bumped(session.sync_session, state[0]) is not None for state in inputs.rounds):
        return None
    return inputs


async def seen_inputs(session: AsyncSession, round_id: int) -> RoundInputs:
    """The round's inputs as this session's transaction sees them, whether it changed them or not: what a
    measurement it stores is tied to (`scheduler.schedules.export`); LookupError for no such round."""
    policy = select(col(Round.fair_return_policy_id)).where(col(Round.id) == round_id).scalar_subquery()
    rows = await session.execute(
        select(col(Round.id), col(Round.created_at), col(Round.input_revision), col(ScheduleVersion.id))
        .outerjoin(
            ScheduleVersion,
            and_(col(ScheduleVersion.round_id) == col(Round.id), col(ScheduleVersion.status) == PUBLISHED),
        )
        .where(
            or_(
                col(Round.id) == round_id,
                and_(col(Round.fair_return_policy_id).is_not(None), col(Round.fair_return_policy_id) == policy),
            )
        )
        .order_by(col(Round.id))
    )
    rounds = tuple(
        (read_id, created, revision, published)
        for read_id, created, revision, published in rows
        if read_id is not None  # stored rows have ids
    )
    if not any(state[0] == round_id for state in rounds):
        raise LookupError(f"no round {round_id}")
    return RoundInputs(str(session.sync_session.get_bind().engine.url), round_id, rounds)
