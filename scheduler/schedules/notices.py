"""Change notices: what a publication changed for each proposal's slots, and why.

People book travel and ship samples once a schedule is published, so every later
publication (by a coordinator or a nightly repair) leaves one notice per request
whose slot it moved, resized, dropped or added, against the version it supersedes.
Notices are written in the publishing transaction, so a publication and its notices
land together or not at all. They are a proposer's change log and drive the
calendar feed: an event's SEQUENCE is its request's number of notices, and a
dropped slot stays in the feed as a cancelled event.

A round whose content a file replaces by force (`scheduler.rounds.replacement`) gets
notices too: each slot of its published schedule that the file's own schedule moves
or drops, or every one of them when the file brings none.

A reason is inferred from what is true now, most specific first:
- a dropped slot of a proposal the replacing file no longer has: the proposal is no longer in the round;
- `cancelled`: the team withdrew the proposal;
- `new <kind> window on <instrument or facility>`: a window covers the old slot;
- `changed by a coordinator`: the new version is a manual edit; `the round was replaced from a
  round file`: a replacement;
- otherwise the repair's own words: moved or dropped to make room, shortened to make
  room, lengthened into freed time; an added slot is a new proposal's (submitted
  since the superseded version was published) or came from the waiting list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.tables import (
    ChangeNotice,
    Facility,
    Instrument,
    Proposal,
    Round,
    ScheduleVersion,
    Window,
)
from scheduler.roundfile.contract import AllocationChange, ScheduleChanges, ScheduleFile, Slot
from scheduler.roundfile.resolve import changes_between
from scheduler.schedules.versions import version_schedule

NoticeKind = Literal["moved", "resized", "dropped", "added"]
KINDS: tuple[NoticeKind, ...] = ("moved", "resized", "dropped", "added")
CANCELLED = "cancelled"
EDITED = "changed by a coordinator"
REPLACED = "the round was replaced from a round file"
REMOVED = "the proposal is no longer in the round: it was replaced from a round file"


class ChangeNoticePublic(BaseModel):
    id: int
    round_id: int
    round: str
    proposal: str
    request: str
    schedule_version_id: int
    version: int
    """The number of the published version that made the change; when a round was replaced with no
    schedule in force, the number of the version the replacement superseded."""
    kind: NoticeKind
    before: Slot | None
    after: Slot | None
    reason: str
    created_at: datetime


@dataclass(frozen=True)
class DroppedSlot:
    """A request's slot that the latest publication touching it dropped: a cancelled calendar event."""

    proposal_id: int
    request: str
    slot: Slot
    dropped_at: datetime


@dataclass(frozen=True)
class CalendarNotices:
    sequences: Mapping[tuple[int, str], int]
    """(proposal id, request code) -> number of notices: the event's SEQUENCE."""
    dropped: Sequence[DroppedSlot]


async def record_changes(session: AsyncSession, version_id: int, superseded_id: int | None) -> int:
    """Writes a notice per request whose slot `version_id` changed against `superseded_id`; how many.

    The first publication of a round supersedes nothing and changes no one's plans.
    """
    if superseded_id is None:
        return 0
    version = await session.get(ScheduleVersion, version_id)
    superseded = await session.get(ScheduleVersion, superseded_id)
    assert version is not None and superseded is not None
    cause = EDITED if version.source == "edit" else None
    before = await version_schedule(session, superseded_id)
    changes = changes_between(before, await version_schedule(session, version_id))
    return await _write(session, version, superseded, changes, cause=cause, removed=frozenset())


async def record_replacement(
    session: AsyncSession, round_id: int, before: ScheduleFile, *, superseded_id: int, version_id: int | None
) -> int:
    """Notices for a round whose content a file replaced by force; how many.

    `before` is the published schedule as it was before the replacement; `version_id` the
    file's own schedule, now published, or None when the file brought none: then nothing
    is in force and every slot is dropped, and the notices name the superseded version.
    """
    superseded = await session.get(ScheduleVersion, superseded_id)
    assert superseded is not None
    version = superseded if version_id is None else await session.get(ScheduleVersion, version_id)
    assert version is not None
    after = (
        before.model_copy(update={"allocations": []})
        if version_id is None
        else await version_schedule(session, version_id)
    )
    in_round = await session.execute(
        select(col(Proposal.code)).where(col(Proposal.round_id) == round_id, col(Proposal.withdrawn).is_(False))
    )
    removed = frozenset({allocation.proposal for allocation in before.allocations} - set(in_round.scalars()))
    return await _write(session, version, superseded, changes_between(before, after), cause=REPLACED, removed=removed)


async def _write(
    session: AsyncSession,
    version: ScheduleVersion,
    superseded: ScheduleVersion,
    changes: ScheduleChanges,
    *,
    cause: str | None,
    removed: frozenset[str],
) -> int:
    """A notice, named after `version`, per change; how many."""
    entries = [(kind, change) for kind in KINDS for change in getattr(changes, kind)]
    if not entries:
        return 0
    changed = [change for _, change in entries]
    reasons = await _Reasons.load(session, version.round_id, superseded, changed, cause=cause, removed=removed)
    assert version.id is not None
    session.add_all(
        ChangeNotice(
            proposal_id=reasons.proposal_ids[change.proposal],
            request_code=change.request,
            schedule_version_id=version.id,
            kind=kind,
            before=None if change.before is None else change.before.model_dump(mode="json"),
            after=None if change.after is None else change.after.model_dump(mode="json"),
            reason=reasons.of(kind, change),
        )
        for kind, change in entries
    )
    await session.flush()
    return len(entries)


async def my_changes(session: AsyncSession, user_id: int, page: LimitOffset) -> OffsetPagination[ChangeNoticePublic]:
    """A page of the change log of the user's proposals, newest first, with the log's total length."""
    mine = col(Proposal.owner_id) == user_id
    total = await session.scalar(
        select(func.count())
        .select_from(ChangeNotice)
        .join(Proposal, col(Proposal.id) == col(ChangeNotice.proposal_id))
        .where(mine)
    )
    rows = await session.execute(
        select(ChangeNotice, col(Proposal.code), col(Round.id), col(Round.code), col(ScheduleVersion.number))
        .join(Proposal, col(Proposal.id) == col(ChangeNotice.proposal_id))
        .join(Round, col(Round.id) == col(Proposal.round_id))
        .join(ScheduleVersion, col(ScheduleVersion.id) == col(ChangeNotice.schedule_version_id))
        .where(mine)
        .order_by(col(ChangeNotice.id).desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    items = [
        ChangeNoticePublic(
            **notice.model_dump(exclude={"proposal_id", "request_code"}),
            request=notice.request_code,
            proposal=proposal_code,
            round_id=round_id,
            round=round_code,
            version=number,
        )
        for notice, proposal_code, round_id, round_code, number in rows
    ]
    return OffsetPagination(items=items, limit=page.limit, offset=page.offset, total=total or 0)


async def calendar_notices(session: AsyncSession, owner_id: int) -> CalendarNotices:
    """What the owner's calendar feed needs: each request's SEQUENCE and the slots dropped last."""
    rows = await session.execute(
        select(ChangeNotice)
        .join(Proposal, col(Proposal.id) == col(ChangeNotice.proposal_id))
        .where(col(Proposal.owner_id) == owner_id)
        .order_by(col(ChangeNotice.id))
    )
    sequences: Counter[tuple[int, str]] = Counter()
    latest: dict[tuple[int, str], ChangeNotice] = {}
    for notice in rows.scalars():
        key = (notice.proposal_id, notice.request_code)
        sequences[key] += 1
        latest[key] = notice
    dropped = [
        DroppedSlot(notice.proposal_id, notice.request_code, Slot.model_validate(notice.before), notice.created_at)
        for notice in latest.values()
        if notice.kind == "dropped" and notice.before is not None
    ]
    return CalendarNotices(dict(sequences), dropped)


@dataclass(frozen=True)
class _Reasons:
    """What the reasons of one publication's notices are inferred from, read in a few queries."""

    proposal_ids: Mapping[str, int]
    withdrawn: frozenset[str]
    new_proposals: Mapping[str, str]
    """Code -> type of the proposals submitted since the superseded version was published."""
    instruments: Mapping[str, Instrument]
    facility_codes: Mapping[int, str]
    windows: Sequence[Window]
    cause: str | None
    """What made every change of the publication, when one thing did (a coordinator's edit, a replacement)."""
    removed: frozenset[str]
    """Proposals a replacement took out of the round."""

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        round_id: int,
        superseded: ScheduleVersion,
        changes: Sequence[AllocationChange],
        *,
        cause: str | None,
        removed: frozenset[str],
    ) -> _Reasons:
        since = superseded.published_at or superseded.created_at
        proposals = await session.execute(
            select(
                col(Proposal.code),
                col(Proposal.id),
                col(Proposal.withdrawn),
                col(Proposal.type),
                col(Proposal.created_at),
            ).where(
                col(Proposal.round_id) == round_id,
                col(Proposal.code).in_({change.proposal for change in changes}),
            )
        )
        proposal_ids: dict[str, int] = {}
        withdrawn: set[str] = set()
        new_proposals: dict[str, str] = {}
        for code, proposal_id, is_withdrawn, kind, created_at in proposals:
            assert proposal_id is not None
            proposal_ids[code] = proposal_id
            if is_withdrawn:
                withdrawn.add(code)
            if created_at > since:
                new_proposals[code] = kind
        codes = {change.before.instrument for change in changes if change.before is not None}
        found = await session.execute(select(Instrument).where(col(Instrument.code).in_(codes)))
        instruments = {instrument.code: instrument for instrument in found.scalars()}
        facility_ids = {instrument.facility_id for instrument in instruments.values()}
        return cls(
            proposal_ids=proposal_ids,
            withdrawn=frozenset(withdrawn),
            new_proposals=new_proposals,
            instruments=instruments,
            facility_codes=await _facility_codes(session, facility_ids),
            windows=await _windows(session, {instrument.id for instrument in instruments.values()}, facility_ids),
            cause=cause,
            removed=removed,
        )

    def of(self, kind: NoticeKind, change: AllocationChange) -> str:
        if kind == "dropped" and change.proposal in self.removed:
            return REMOVED
        if kind == "dropped" and change.proposal in self.withdrawn:
            return CANCELLED
        if change.before is not None and (window := self._covering(change.before)) is not None:
            return window
        if self.cause is not None:
            return self.cause
        match kind:
            case "moved":
                return "moved to make room"
            case "dropped":
                return "dropped to make room"
            case "resized":
                assert change.before is not None and change.after is not None
                if change.after.shifts < change.before.shifts:
                    return "shortened to make room"
                return "lengthened into freed time"
            case "added":
                if change.proposal in self.new_proposals:
                    return f"new {self.new_proposals[change.proposal].replace('_', '-')} proposal"
                return "added from the waiting list"

    def _covering(self, slot: Slot) -> str | None:
        """`new <kind> window on <owner>` for a window of the slot's instrument or facility over the slot."""
        instrument = self.instruments.get(slot.instrument)
        if instrument is None:
            return None
        for window in self.windows:
            mine = window.instrument_id == instrument.id or window.facility_id == instrument.facility_id
            if mine and window.start < slot.end and slot.start < window.end:
                facility = self.facility_codes[instrument.facility_id]
                on = facility if window.instrument_id is None else instrument.code
                words = f"new {window.kind.replace('_', ' ')} window on {on}"
                return f"{words}: {window.reason}" if window.reason else words
        return None


async def _facility_codes(session: AsyncSession, facility_ids: Iterable[int]) -> dict[int, str]:
    rows = await session.execute(select(col(Facility.id), col(Facility.code)).where(col(Facility.id).in_(facility_ids)))
    return {facility_id: code for facility_id, code in rows if facility_id is not None}


async def _windows(session: AsyncSession, instrument_ids: set[int | None], facility_ids: set[int]) -> list[Window]:
    if not instrument_ids:
        return []
    rows = await session.execute(
        select(Window)
        .where(or_(col(Window.instrument_id).in_(instrument_ids), col(Window.facility_id).in_(facility_ids)))
        .order_by(col(Window.start), col(Window.id))
    )
    return list(rows.scalars())
