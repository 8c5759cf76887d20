"""What a proposer sees: each of their proposals with a plain status, and their slots as an iCalendar feed.

Status of a proposal, decided in this order:
- `withdrawn`: the team withdrew it.
- When its round has a published schedule version:
  - `scheduled`: at least one of its requests has an allocation there (`slots`
    gives each, with times in the facility's timezone); requests left out are
    listed in `unallocated`.
  - `not_scheduled`: none has, and the scoring rules give it no time
    (reason `below_cutoff`, which includes too few usable reviews, or `not_feasible`).
  - `waitlisted`: none has although it is eligible (scored above the cut-off and
    technically feasible): it is next in line if time frees up. The reason is the
    engine's (`capacity`, `quota`, `window`, `link`, `equipment`) when known.
- Otherwise by the round's phase: `submitted` while the call is open,
  `under_review` in review, `scored` after that until a schedule is published.

Reasons come from the published version's solve output (the solve run that made
it), one per request; a version not made by a solve (imported, edited by hand) is
measured as the engine measures its own (`export_schedule`): scoring of the round
as it is now, then the engine's explanation of each request left out.

The feed has one VEVENT per allocation of the user's proposals in published
versions, with a UID stable per request so that calendar apps update the event
when a new version moves it; its SEQUENCE is the request's number of change
notices (`scheduler.schedules.notices`), so every published change supersedes the copy a
calendar app holds. A slot the latest change dropped stays in the feed as a
cancelled event (STATUS:CANCELLED, same UID); every slot in force is
STATUS:CONFIRMED. Times are UTC (DTSTART/DTEND with Z), which needs no VTIMEZONE;
the description gives them in the facility's timezone as well.

The feed's address holds a random token, its only credential; only the token's
SHA-256 is kept (`token_hash`), so an address is shown once, when it is made, and
making a new one ends the one before. Calendar apps send no `Accept-Language`: the
address made in another language than English carries it (`?lang=ru`), and the API
tells the events' words in it (the sentences below are forms `api.explanations`
reads back).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import msgspec
from icalendar import Calendar, Event
from pydantic import TypeAdapter
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.repository import record
from scheduler.db.tables import (
    Instrument,
    Proposal,
    Request,
    Round,
    ScheduleVersion,
    SolveRun,
    User,
)
from scheduler.errors import NotFound
from scheduler.roundfile.checks import InputError
from scheduler.roundfile.contract import Unallocated, UnallocatedReason
from scheduler.schedules.confidential import SCORING_REASONS, for_proposer
from scheduler.schedules.export import export_schedule
from scheduler.schedules.notices import CalendarNotices, calendar_notices
from scheduler.schedules.slots import PublishedSlot, published_allocations, published_slot
from scheduler.schedules.versions import PUBLISHED

ProposalState = Literal["submitted", "under_review", "scored", "scheduled", "waitlisted", "not_scheduled", "withdrawn"]
Outcome = tuple[UnallocatedReason | None, str | None]
NO_REASON: Outcome = (None, None)
UNALLOCATED = TypeAdapter(list[Unallocated])
FEED_TOKEN_BYTES = 32
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
"""What `secrets.token_urlsafe` gives; anything else is not looked up."""
PHASE_STATES: Mapping[str, ProposalState] = {"open": "submitted", "review": "under_review"}


class RequestOutcome(msgspec.Struct, frozen=True):
    request: str
    reason: UnallocatedReason | None
    detail: str | None

    @classmethod
    def of(cls, request: str, outcome: Outcome) -> RequestOutcome:
        return cls(request=request, reason=outcome[0], detail=outcome[1])


class ProposalStatus(msgspec.Struct, frozen=True):
    """msgspec like its slots (`PublishedSlot`, shared with `GET /proposals/{id}/slots`)."""

    id: int
    proposal: str
    title: str
    round_id: int
    round: str
    status: ProposalState
    reason: Annotated[
        UnallocatedReason | None, msgspec.Meta(description="Why a waitlisted or not scheduled proposal got no time.")
    ] = None
    detail: Annotated[str | None, msgspec.Meta(description="The reason in words.")] = None
    slots: Annotated[
        list[PublishedSlot], msgspec.Meta(description="Its allocations in the published schedule, earliest first.")
    ] = msgspec.field(default_factory=list)
    unallocated: Annotated[
        list[RequestOutcome],
        msgspec.Meta(description="Once a schedule is published: its requests that got no time, each with why."),
    ] = msgspec.field(default_factory=list)


@dataclass(frozen=True)
class _Placed:
    """A slot of the owner's in a published version, with what its calendar event names besides."""

    proposal_id: int
    proposal: str
    title: str
    round: str
    published_at: datetime
    slot: PublishedSlot


async def _published_placements(session: AsyncSession, owner_id: int) -> list[_Placed]:
    rows = await session.execute(
        published_allocations(
            col(Proposal.id),
            col(Proposal.code),
            col(Proposal.title),
            col(Round.code),
            func.coalesce(col(ScheduleVersion.published_at), col(ScheduleVersion.created_at)),
        ).where(col(Proposal.owner_id) == owner_id, col(Proposal.withdrawn).is_(False))
    )
    return [
        _Placed(
            proposal_id, proposal, title, round_, published_at, published_slot(start, timedelta(hours=hours), *slot)
        )
        for proposal_id, proposal, title, round_, published_at, start, hours, *slot in rows
    ]


async def my_proposals(session: AsyncSession, user_id: int) -> list[ProposalStatus]:
    """The user's proposals, newest round first, each with its status."""
    proposals = (
        await session.execute(
            select(Proposal, Round)
            .join(Round, col(Round.id) == col(Proposal.round_id))
            .where(col(Proposal.owner_id) == user_id)
            .order_by(col(Round.start).desc(), col(Proposal.position), col(Proposal.code))
        )
    ).all()
    published = {
        version.round_id: version
        for version in (
            await session.execute(
                select(ScheduleVersion).where(
                    col(ScheduleVersion.round_id).in_({proposal.round_id for proposal, _ in proposals}),
                    col(ScheduleVersion.status) == PUBLISHED,
                )
            )
        ).scalars()
    }
    slots: dict[int, list[PublishedSlot]] = defaultdict(list)
    for placement in await _published_placements(session, user_id):
        slots[placement.proposal_id].append(placement.slot)
    requests: dict[int, list[str]] = defaultdict(list)
    for proposal_id, code in await session.execute(
        select(col(Request.proposal_id), col(Request.code))
        .where(col(Request.proposal_id).in_([proposal.id for proposal, _ in proposals]))
        .order_by(col(Request.position))
    ):
        requests[proposal_id].append(code)

    reasons: dict[int, Mapping[str, Outcome]] = {}
    statuses = []
    for proposal, round_ in proposals:
        assert proposal.id is not None
        status = ProposalStatus(
            id=proposal.id,
            proposal=proposal.code,
            title=proposal.title,
            round_id=proposal.round_id,
            round=round_.code,
            status="withdrawn" if proposal.withdrawn else PHASE_STATES.get(round_.phase, "scored"),
        )
        version = published.get(proposal.round_id)
        if version is not None and not proposal.withdrawn:
            placed = {slot.request for slot in slots[proposal.id]}
            missing = [code for code in requests[proposal.id] if code not in placed]
            if missing and version.round_id not in reasons:
                reasons[version.round_id] = await _reasons(session, version)
            outcomes = [RequestOutcome.of(code, reasons[version.round_id].get(code, NO_REASON)) for code in missing]
            status = _outcome(status, slots[proposal.id], outcomes)
        if proposal.inadmissible_reason is not None and not proposal.withdrawn:
            detail = f"inadmissible: {proposal.inadmissible_reason}"
            status = msgspec.structs.replace(status, reason="not_feasible", detail=detail)
        statuses.append(status)
    return statuses


def _outcome(status: ProposalStatus, slots: list[PublishedSlot], unallocated: list[RequestOutcome]) -> ProposalStatus:
    """The status of a proposal in a round with a published schedule, from its slots and reasons."""
    if slots:
        return msgspec.structs.replace(status, status="scheduled", slots=slots, unallocated=unallocated)
    excluded = [outcome for outcome in unallocated if outcome.reason in SCORING_REASONS]
    explained = excluded or [outcome for outcome in unallocated if outcome.reason is not None]
    return msgspec.structs.replace(
        status,
        status="not_scheduled" if excluded else "waitlisted",
        reason=explained[0].reason if explained else None,
        detail=explained[0].detail if explained else None,
        unallocated=unallocated,
    )


async def _reasons(session: AsyncSession, version: ScheduleVersion) -> Mapping[str, Outcome]:
    """Request code -> (reason, detail) for the requests a published version leaves out, in words that name
    no other proposal (`for_proposer`).

    A solve's own output is read straight from its run, which is cheap; any other
    version is measured by `export_schedule`, which scores and explains the round.
    """
    assert version.id is not None
    recorded = await session.scalar(
        select(col(SolveRun.output)["unallocated"])
        .where(col(SolveRun.schedule_version_id) == version.id, col(SolveRun.output).is_not(None))
        .order_by(col(SolveRun.id).desc())
        .limit(1)
    )
    if recorded is not None:
        unallocated = UNALLOCATED.validate_python(recorded)
    else:
        try:
            unallocated = (await export_schedule(session, version.id)).unallocated
        except InputError:
            return {}
    return {entry.request: (entry.reason, for_proposer(entry).detail) for entry in unallocated}


def token_hash(token: str) -> str:
    """What is kept of a feed's token: its SHA-256, so a copy of the database opens nobody's feed."""
    return hashlib.sha256(token.encode()).hexdigest()


async def has_calendar_feed(session: AsyncSession, user_id: int) -> bool:
    digest = await session.scalar(select(col(User.calendar_token_hash)).where(col(User.id) == user_id))
    return digest is not None


FEED_LANGUAGE = "lang"
"""The query parameter of a feed's address that names the language its events are told in."""
WRITTEN_IN = "en"
"""The language the feed's sentences are written in here: an address in it names none."""


def _as_written(text: str) -> str:
    return text


async def new_calendar_path(session: AsyncSession, user_id: int, language: str = WRITTEN_IN) -> str:
    """A new address for the user's feed, whose token is the only credential a calendar app sends; the address
    before it stops working. Only the token's hash is kept, so the address can be shown this once. The `language`
    the user reads the page or the API in goes into the address, unless it is the feed's own."""
    token = secrets.token_urlsafe(FEED_TOKEN_BYTES)
    changed = await session.scalar(
        update(User)
        .where(col(User.id) == user_id)
        .values(calendar_token_hash=token_hash(token))
        .returning(col(User.id))
    )
    if changed is None:
        raise NotFound(f"user {user_id} does not exist")
    await record(session, user_id, "calendar.new_address", "user", user_id, {})
    return f"/calendar/{token}.ics" + ("" if language == WRITTEN_IN else f"?{FEED_LANGUAGE}={language}")


async def calendar_feed(session: AsyncSession, token: str, told: Callable[[str], str] = _as_written) -> bytes:
    """The iCalendar document of the slots of the user holding `token`; NotFound for any other token. `told`
    gives each event's summary and description in the feed's language (as written: English)."""
    user = None
    if TOKEN.fullmatch(token):
        user = await session.scalar(
            select(User).where(col(User.calendar_token_hash) == token_hash(token), col(User.active))
        )
    if user is None or user.id is None:
        raise NotFound("no calendar for this address")
    calendar = Calendar()
    calendar.add("prodid", "-//beamtime//schedule feed//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"Beamtime: {user.name}")
    placements = await _published_placements(session, user.id)
    notices = await calendar_notices(session, user.id)
    for event in _events(placements, notices.sequences, told):
        calendar.add_component(event)
    placed = {(placement.proposal_id, placement.slot.request) for placement in placements}
    for event in await _cancelled_events(session, notices, placed, told):
        calendar.add_component(event)
    return bytes(calendar.to_ical())


def _events(
    placements: Iterable[_Placed], sequences: Mapping[tuple[int, str], int], told: Callable[[str], str]
) -> Iterable[Event]:
    for placed in placements:
        slot = placed.slot
        event = Event()
        event.add("uid", _uid(placed.round, slot.request))
        event.add("sequence", sequences.get((placed.proposal_id, slot.request), 0))
        event.add("status", "CONFIRMED")
        event.add("dtstamp", placed.published_at)
        event.add("dtstart", slot.start.astimezone(UTC))
        event.add("dtend", slot.end.astimezone(UTC))
        event.add("summary", told(f"{placed.proposal} on {slot.instrument_name} ({slot.instrument})"))
        event.add("location", f"{slot.facility_name}, {slot.instrument_name}")
        event.add("description", told(_description(placed)))
        yield event


async def _cancelled_events(
    session: AsyncSession, notices: CalendarNotices, placed: set[tuple[int, str]], told: Callable[[str], str]
) -> list[Event]:
    """A slot dropped by the latest change to its request, as a cancelled event under the same UID,
    so that calendar apps take it off rather than keep a slot that no longer exists."""
    dropped = [slot for slot in notices.dropped if (slot.proposal_id, slot.request) not in placed]
    if not dropped:
        return []
    proposals = {
        proposal.id: (proposal, round_)
        for proposal, round_ in await session.execute(
            select(Proposal, Round)
            .join(Round, col(Round.id) == col(Proposal.round_id))
            .where(col(Proposal.id).in_({slot.proposal_id for slot in dropped}))
        )
    }
    instruments = await session.execute(
        select(col(Instrument.code), col(Instrument.name)).where(
            col(Instrument.code).in_({slot.slot.instrument for slot in dropped})
        )
    )
    names = dict(instruments.all())
    events = []
    for slot in dropped:
        proposal, round_ = proposals[slot.proposal_id]
        instrument = slot.slot.instrument
        event = Event()
        event.add("uid", _uid(round_.code, slot.request))
        event.add("sequence", notices.sequences[(slot.proposal_id, slot.request)])
        event.add("status", "CANCELLED")
        event.add("dtstamp", slot.dropped_at)
        event.add("dtstart", slot.slot.start.astimezone(UTC))
        event.add("dtend", slot.slot.end.astimezone(UTC))
        event.add("summary", told(f"Cancelled: {proposal.code} on {names.get(instrument, instrument)} ({instrument})"))
        events.append(event)
    return events


def _uid(round_code: str, request_code: str) -> str:
    return f"{round_code}-{request_code}@beamtime"


def _description(placed: _Placed) -> str:
    slot = placed.slot
    local = f"{slot.start:%Y-%m-%d %H:%M} – {slot.end:%Y-%m-%d %H:%M} {slot.timezone}"
    return f"{placed.title}\nRound {placed.round}, request {slot.request}: {slot.shifts} shifts, {local}"
