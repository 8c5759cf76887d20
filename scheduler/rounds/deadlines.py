"""A round's deadlines: proposals are submitted and rewritten until `call_closes`, reviews taken until
`review_closes`. Both are shown, and named in refusals, in the round's time zone (its first facility's).

A write checks its deadline on the round row it read, locked (`lock_round`) until its transaction ends, so a
coordinator moving a deadline and a late proposal cannot both win. A proposal write takes the row at its end and
checks the deadline there again (`scheduler.proposals.offer.held_round`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.repository import locked
from scheduler.db.tables import Facility, Round, RoundFacility
from scheduler.errors import Conflict
from scheduler.rounds.schemas import RoundPublic

DeadlineKind = Literal["call", "review"]
FALLBACK_ZONE = "UTC"
"""A round without facilities has no zone of its own."""


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    at: datetime
    """In the round's zone."""
    zone: str
    passed: bool

    @property
    def shown(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} ({self.zone})"

    @property
    def what(self) -> str:
        """In words, as due or as passed: 'the call closes', 'reviews closed'."""
        if self.kind == "call":
            return "the call closed" if self.passed else "the call closes"
        return "reviews closed" if self.passed else "reviews close"


async def lock_round(session: AsyncSession, round_id: int) -> Round:
    """The round's row, read afresh and locked until the transaction ends (`scheduler.db.repository.locked`), so what
    a write checks of it (phase, deadlines, counts) still holds when the write commits. On SQLite, which has no row
    locks, the API's write requests take turns instead (`api.database`)."""
    return await locked(session, Round, round_id, "round")


async def round_zone(session: AsyncSession, round_id: int) -> str:
    """The IANA zone of the round's first facility."""
    zone = await session.scalar(
        select(col(Facility.timezone))
        .join(RoundFacility, col(RoundFacility.facility_id) == col(Facility.id))
        .where(col(RoundFacility.round_id) == round_id)
        .order_by(col(RoundFacility.position), col(Facility.id))
        .limit(1)
    )
    return zone or FALLBACK_ZONE


async def round_deadlines(
    session: AsyncSession, round_: Round | RoundPublic, now: datetime | None = None
) -> list[Deadline]:
    """The deadlines the round has set, call first."""
    assert round_.id is not None, "stored rounds have ids"
    zone = await round_zone(session, round_.id)
    moment = now or datetime.now(UTC)
    dates: list[tuple[DeadlineKind, datetime | None]] = [("call", round_.call_closes), ("review", round_.review_closes)]
    return [
        Deadline(kind=kind, at=at.astimezone(ZoneInfo(zone)), zone=zone, passed=moment >= at)
        for kind, at in dates
        if at is not None
    ]


async def require_before(session: AsyncSession, round_: Round, kind: DeadlineKind) -> None:
    """Conflict naming the deadline of `kind`, in the round's zone, once it has passed."""
    at = round_.call_closes if kind == "call" else round_.review_closes
    if at is None or datetime.now(UTC) < at:
        return  # the zone that names it is read only for a refusal
    deadline = next((d for d in await round_deadlines(session, round_) if d.kind == kind and d.passed), None)
    if deadline is None:
        return
    what = "proposals are submitted and rewritten" if kind == "call" else "reviews are taken"
    raise Conflict(f"{deadline.what} at {deadline.shown}: {what} only until then")
