"""What happens to a round after its schedule is published, as direct database edits, for the nightly tests.

Teams cancel (the proposal is withdrawn), rapid-access proposals arrive, instruments
get unplanned windows; rounds are moved in time so that their nights fall where a
test needs them (around a DST change, say).
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from scheduler.db.tables import Instrument, Proposal, Request, Review, Round, ScheduleVersion, Window
from scheduler.roundfile.contract import PreviousAllocation, RoundFile
from scheduler.rounds.importer import import_round

Sessions = async_sessionmaker[AsyncSession]
Placement = tuple[str, str, int, int]
TIME_KEYS = ("start", "end", "earliest", "latest")


class Clock:
    """The nightly scheduler's time, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def shifted(document: dict[str, Any], by: timedelta) -> dict[str, Any]:
    """A copy of a round document with every instant moved by `by` (shift numbers are unchanged)."""
    moved = copy.deepcopy(document)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in TIME_KEYS and isinstance(value, str):
                    node[key] = (datetime.fromisoformat(value) + by).isoformat()
                else:
                    visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(moved)
    return moved


async def import_published(sessions: Sessions, round_file: RoundFile, placements: list[Placement]) -> int:
    """The round, with `placements` as its published version (source "import")."""
    previous = [PreviousAllocation(request=r, instrument=i, start_shift=s, shifts=n) for r, i, s, n in placements]
    async with sessions.begin() as session:
        return await import_round(session, round_file.model_copy(update={"previous_schedule": previous}))


async def published_since(sessions: Sessions, round_id: int, at: datetime) -> None:
    """Dates the round's published version back, as if it had been published at `at`."""
    async with sessions.begin() as session:
        await session.execute(
            update(ScheduleVersion)
            .where(col(ScheduleVersion.round_id) == round_id, col(ScheduleVersion.status) == "published")
            .values(published_at=at)
        )


async def set_round(sessions: Sessions, round_id: int, **values: Any) -> None:
    async with sessions.begin() as session:
        await session.execute(update(Round).where(col(Round.id) == round_id).values(**values))


async def cancel(session: AsyncSession, round_id: int, code: str) -> None:
    """The team cancels: the proposal is withdrawn."""
    await session.execute(
        update(Proposal).where(col(Proposal.round_id) == round_id, col(Proposal.code) == code).values(withdrawn=True)
    )


async def add_rapid_access(
    session: AsyncSession, round_id: int, code: str, instrument: str, shifts: int, earliest: datetime, priority: float
) -> None:
    """A rapid-access proposal with one request of `shifts` on `instrument`, not before `earliest`."""
    position = len((await session.execute(select(Proposal.id).where(col(Proposal.round_id) == round_id))).all())
    proposal = Proposal(
        round_id=round_id,
        code=code,
        title="Rapid-access measurement",
        type="rapid_access",
        pi_name=f"PI {code}",
        pi_country="RU",
        priority=priority,
        position=position,
    )
    session.add(proposal)
    await session.flush()
    assert proposal.id is not None
    session.add(
        Request(
            proposal_id=proposal.id,
            round_id=round_id,
            code=f"{code}-a",
            instruments=[instrument],
            shifts=shifts,
            earliest=earliest,
        )
    )
    session.add_all(
        Review(proposal_id=proposal.id, reviewer=reviewer, grade=1.5, position=k)
        for k, reviewer in enumerate(("RA-panel", "RA-chair"))
    )
    await session.flush()


async def add_window(session: AsyncSession, instrument: str, start: datetime, end: datetime, reason: str) -> None:
    """An unplanned maintenance window on one instrument."""
    instrument_id = await session.scalar(select(Instrument.id).where(col(Instrument.code) == instrument))
    assert instrument_id is not None
    session.add(Window(instrument_id=instrument_id, start=start, end=end, kind="maintenance", reason=reason))
    await session.flush()
