"""Round files into the database, key for key.

Facilities, instruments, equipment and their windows are a catalogue that rounds
share: an import upserts them by code, and for the windows of its facilities and
instruments in its period the file is the truth (identical windows are kept, not
duplicated). Everything else belongs to one round. Rows go in with bulk inserts,
so a facility-size round takes about a second; `scheduler.rounds.exporter` gives
the file back. `scheduler.rounds.replacement` replaces a round's content with a
file through the same writers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.tables import (
    CountryGroup,
    Equipment,
    Facility,
    Instrument,
    Link,
    Proposal,
    Quota,
    Request,
    Review,
    ReviewAssignment,
    Round,
    RoundEquipment,
    RoundFacility,
    RoundInstrument,
    TeamMember,
    Window,
)
from scheduler.roundfile import contract as c
from scheduler.roundfile.checks import InputError, InputProblem, check_round
from scheduler.schedules.versions import save_version

ChildT = TypeVar("ChildT")

WindowKey = tuple[int | None, int | None, datetime, datetime, str, str]
"""A window's identity: facility id, instrument id, start, end, kind, reason."""


async def import_round(session: AsyncSession, round_file: c.RoundFile, *, owner_id: int | None = None) -> int:
    """Stores a round file as a new round and returns its id.

    Nothing is written before every check has passed (InputError lists each problem
    with its JSON path); a failure after that leaves the caller's transaction to roll
    back, so an import lands whole or not at all. `owner_id` is the user the proposals
    belong to. `previous_schedule` becomes the published version (source "import").
    """
    await require_valid(session, round_file, None)
    round_id = await write_content(session, round_file, None, owner_id, Carried())
    await publish_previous_schedule(session, round_id, round_file)
    return round_id


async def publish_previous_schedule(session: AsyncSession, round_id: int, round_file: c.RoundFile) -> int | None:
    """The file's `previous_schedule` as the round's published version (source "import"); its id."""
    if round_file.previous_schedule is None:
        return None
    note = "previous_schedule of the imported round file"
    return await save_version(
        session, round_id, round_file.previous_schedule, source="import", note=note, published=True
    )


async def require_valid(session: AsyncSession, round_file: c.RoundFile, into: int | None) -> None:
    """Every problem of the file on its own and against the stored data, at once, before anything is written."""
    problems = [*check_round(round_file), *_storage_problems(round_file), *await _conflicts(session, round_file, into)]
    if problems:
        raise InputError(problems)


async def write_content(
    session: AsyncSession, round_file: c.RoundFile, into: int | None, owner_id: int | None, kept: Carried
) -> int:
    """The catalogue's part of the file, the round's row (`into`: that round's, anew) and its own rows; its id."""
    facility_ids, instrument_ids = await _upsert_facilities(session, round_file.facilities)
    equipment_ids = await _upsert_equipment(session, round_file.equipment)
    await _replace_windows(session, round_file, facility_ids, instrument_ids)
    round_id = await _write_round(session, round_file, into)
    instruments = [instrument for facility in round_file.facilities for instrument in facility.instruments]
    members: list[tuple[type[Any], list[dict[str, Any]]]] = [
        (RoundFacility, [{"facility_id": facility_ids[facility.id]} for facility in round_file.facilities]),
        (RoundInstrument, [{"instrument_id": instrument_ids[instrument.id]} for instrument in instruments]),
        (RoundEquipment, [{"equipment_id": equipment_ids[item.id]} for item in round_file.equipment]),
        (CountryGroup, [{"name": name, "countries": group} for name, group in round_file.country_groups.items()]),
        (Quota, [_quota_row(quota) for quota in round_file.quotas]),
    ]
    for table, rows in members:
        await _insert(session, table, [{"round_id": round_id, "position": p, **row} for p, row in enumerate(rows)])
    await _insert_proposals(session, round_id, round_file.proposals, owner_id, kept)
    return round_id


def _storage_problems(round_file: c.RoundFile) -> list[InputProblem]:
    """What the file's checks allow but the tables cannot hold: a reviewer twice on a proposal."""
    problems = []
    for p, proposal in enumerate(round_file.proposals):
        seen: set[str] = set()
        for r, review in enumerate(proposal.reviews):
            if review.reviewer in seen:
                message = f"reviewer {review.reviewer!r} has reviewed this proposal already"
                problems.append(InputProblem(f"$.proposals[{p}].reviews[{r}].reviewer", message))
            seen.add(review.reviewer)
    return problems


async def _conflicts(session: AsyncSession, round_file: c.RoundFile, into: int | None) -> list[InputProblem]:
    """Clashes with the stored data: a round code taken, an instrument the catalogue puts at another facility."""
    problems = []
    holder = await session.scalar(select(col(Round.id)).where(col(Round.code) == round_file.round.id))
    if holder is not None and holder != into:
        advice = "" if into is not None else "; import into it to replace its content"
        problems.append(InputProblem("$.round.id", f"round {round_file.round.id!r} exists already{advice}"))
    codes = [instrument.id for facility in round_file.facilities for instrument in facility.instruments]
    stored = dict(
        (
            await session.execute(
                select(col(Instrument.code), col(Facility.code))
                .join(Facility, col(Facility.id) == col(Instrument.facility_id))
                .where(col(Instrument.code).in_(codes))
            )
        ).all()
    )
    for f, facility in enumerate(round_file.facilities):
        for i, instrument in enumerate(facility.instruments):
            home = stored.get(instrument.id, facility.id)
            if home != facility.id:
                message = f"instrument {instrument.id!r} is at facility {home!r} in the catalogue"
                problems.append(InputProblem(f"$.facilities[{f}].instruments[{i}].id", message))
    return problems


@dataclass
class Carried:
    """What a replaced round's proposals carry over to the new ones of the same code, and what they were
    (`scheduler.rounds.replacement` fills it in; a new round's is empty)."""

    owners: dict[str, int] = field(default_factory=dict)
    assignments: dict[str, set[int]] = field(default_factory=dict)
    reviewers: dict[tuple[str, str], tuple[int | None, str]] = field(default_factory=dict)
    codes: set[str] = field(default_factory=set)
    """The replaced proposals' codes."""
    requests: set[str] = field(default_factory=set)
    """Their requests' codes."""

    def reviewer(self, proposal: str, reviewer: str) -> dict[str, Any]:
        """The account and comment of a review, by proposal code and reviewer name."""
        reviewer_id, comment = self.reviewers.get((proposal, reviewer), (None, ""))
        return {"reviewer_id": reviewer_id, "comment": comment}


async def _insert(session: AsyncSession, table: type[Any], rows: Sequence[Mapping[str, Any]]) -> None:
    """One bulk insert; an empty list would insert a row of defaults."""
    if rows:
        await session.execute(insert(table).execution_options(render_nulls=True), rows)


async def _insert_returning_ids(
    session: AsyncSession, table: type[Any], rows: Sequence[Mapping[str, Any]]
) -> dict[str, int]:
    """Inserts rows that have a `code` and returns code → new id.

    `render_nulls` keeps the None values in, so all rows have the same columns and
    go in a few multi-row statements instead of one statement per run of alike rows.
    """
    if not rows:
        return {}
    statement = insert(table).returning(table.code, table.id).execution_options(render_nulls=True)
    return dict((await session.execute(statement, rows)).all())


async def _upsert(session: AsyncSession, table: type[Any], rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Updates the catalogue rows whose code exists and inserts the others; returns code → id."""
    codes = [row["code"] for row in rows]
    existing: dict[str, int] = dict(
        (await session.execute(select(table.code, table.id).where(table.code.in_(codes)))).all()
    )
    changed = [{**row, "id": existing[row["code"]]} for row in rows if row["code"] in existing]
    if changed:
        await session.execute(update(table), changed)
    return existing | await _insert_returning_ids(session, table, [row for row in rows if row["code"] not in existing])


async def _upsert_facilities(
    session: AsyncSession, facilities: Sequence[c.Facility]
) -> tuple[dict[str, int], dict[str, int]]:
    facility_ids = await _upsert(
        session,
        Facility,
        [
            {"code": facility.id, "name": facility.name, "country": facility.country, "timezone": facility.timezone}
            for facility in facilities
        ],
    )
    instrument_ids = await _upsert(
        session,
        Instrument,
        [
            {
                "code": instrument.id,
                "name": instrument.name,
                "techniques": instrument.techniques,
                "changeover_shifts": instrument.changeover_shifts,
                "reserve_share": instrument.reserve_share,
                "facility_id": facility_ids[facility.id],
                "position": position,
            }
            for facility in facilities
            for position, instrument in enumerate(facility.instruments)
        ],
    )
    return facility_ids, instrument_ids


async def _upsert_equipment(session: AsyncSession, equipment: Sequence[c.Equipment]) -> dict[str, int]:
    rows = [{"code": item.id, "name": item.name, "units": item.units} for item in equipment]
    return await _upsert(session, Equipment, rows) if rows else {}


async def _replace_windows(
    session: AsyncSession,
    round_file: c.RoundFile,
    facility_ids: Mapping[str, int],
    instrument_ids: Mapping[str, int],
) -> None:
    """Makes the file the truth about its facilities' and instruments' windows in the round's period.

    Windows already stored identically stay (taking the file's order), the file's
    new ones are added, and stored ones in the period that the file no longer has
    are deleted, so a moved maintenance window does not linger as a second one.
    Windows of other owners, and outside the period, are other rounds' business.
    """
    wanted: list[tuple[WindowKey, int]] = []
    for facility in round_file.facilities:
        for position, window in enumerate(facility.maintenance):
            wanted.append((_window_key(facility_ids[facility.id], None, window), position))
        for instrument in facility.instruments:
            for position, window in enumerate(instrument.maintenance):
                wanted.append((_window_key(None, instrument_ids[instrument.id], window), position))
    stored = await session.execute(
        select(
            col(Window.facility_id),
            col(Window.instrument_id),
            col(Window.start),
            col(Window.end),
            col(Window.kind),
            col(Window.reason),
            col(Window.id),
        )
        .where(
            or_(
                col(Window.facility_id).in_(list(facility_ids.values())),
                col(Window.instrument_id).in_(list(instrument_ids.values())),
            )
        )
        .order_by(col(Window.id))
    )
    unmatched: dict[WindowKey, list[int | None]] = defaultdict(list)
    for facility_id, instrument_id, start, end, kind, reason, window_id in stored:
        unmatched[(facility_id, instrument_id, start, end, kind, reason)].append(window_id)
    kept, added = [], []
    for key, position in wanted:
        if unmatched[key]:
            kept.append({"id": unmatched[key].pop(0), "position": position})
        else:
            facility_id, instrument_id, start, end, kind, reason = key
            added.append(
                {
                    "facility_id": facility_id,
                    "instrument_id": instrument_id,
                    "start": start,
                    "end": end,
                    "kind": kind,
                    "reason": reason,
                    "position": position,
                }
            )
    period = round_file.round
    dropped = [
        window_id
        for (_, _, start, end, _, _), window_ids in unmatched.items()
        if start < period.end and end > period.start
        for window_id in window_ids
    ]
    if dropped:
        await session.execute(
            delete(Window).where(col(Window.id).in_(dropped)).execution_options(synchronize_session=False)
        )
    if kept:
        await session.execute(update(Window), kept)
    await _insert(session, Window, added)


def _window_key(facility_id: int | None, instrument_id: int | None, window: c.Window) -> WindowKey:
    return (facility_id, instrument_id, window.start, window.end, window.kind, window.reason)


async def _write_round(session: AsyncSession, round_file: c.RoundFile, into: int | None) -> int:
    info = round_file.round
    offset = info.start.utcoffset()
    values = {
        "code": info.id,
        "name": info.name,
        "start": info.start,
        "end": info.end,
        "shift_hours": info.shift_hours,
        "utc_offset_minutes": 0 if offset is None else int(offset.total_seconds()) // 60,
        "scoring": None
        if round_file.scoring is None
        else round_file.scoring.model_dump(mode="json", exclude_unset=True),
    }
    if into is None:
        round_id = (await session.execute(insert(Round).values(values).returning(col(Round.id)))).scalar_one()
        assert round_id is not None
        return round_id
    # A publish begun before the replacement read the old content: it must fail.
    await session.execute(
        update(Round).where(col(Round.id) == into).values({**values, "revision": col(Round.revision) + 1})
    )
    return into


def _quota_row(quota: c.Quota) -> dict[str, Any]:
    return {
        "code": quota.id,
        "scope": quota.scope.model_dump(mode="json", exclude_none=True),
        "category": quota.category.model_dump(mode="json", exclude_none=True),
        "min_share": quota.min_share,
        "max_share": quota.max_share,
        "attribution": quota.attribution,
        "soft": quota.soft,
        "penalty": quota.penalty,
    }


async def _insert_proposals(
    session: AsyncSession, round_id: int, proposals: Sequence[c.Proposal], owner_id: int | None, kept: Carried
) -> None:
    """Proposals and everything in them."""
    proposal_ids = await _insert_returning_ids(
        session,
        Proposal,
        [
            {
                "round_id": round_id,
                "position": position,
                "code": proposal.id,
                "title": proposal.title,
                "type": proposal.type,
                "pi_name": proposal.pi.name,
                "pi_institution": proposal.pi.institution,
                "pi_country": proposal.pi.country,
                "pi_email": proposal.pi.email,
                "priority": proposal.priority,
                "technically_feasible": proposal.technically_feasible,
                "missed_rounds": proposal.missed_rounds,
                "first_time_users": proposal.first_time_users,
                "early_career_pi": proposal.early_career_pi,
                # Only a round's coordinators import its file: its bonus facts and types are theirs, confirmed.
                "bonus_facts_confirmed": True,
                "type_confirmed": True,
                "owner_id": owner_id if owner_id is not None else kept.owners.get(proposal.id),
            }
            for position, proposal in enumerate(proposals)
        ],
    )
    await _insert(
        session,
        TeamMember,
        _per_child(
            proposals,
            proposal_ids,
            lambda proposal: proposal.team,
            lambda _, member: {
                "name": member.name,
                "institution": member.institution,
                "country": member.country,
                "email": member.email,
            },
        ),
    )
    await _insert(
        session,
        Review,
        _per_child(
            proposals,
            proposal_ids,
            lambda proposal: proposal.reviews,
            lambda proposal, review: (
                {"reviewer": review.reviewer, "grade": review.grade, "conflict": review.conflict}
                | kept.reviewer(proposal.id, review.reviewer)
            ),
        ),
    )
    await _insert(
        session,
        ReviewAssignment,
        [
            {"proposal_id": proposal_ids[code], "user_id": user_id}
            for code, user_ids in kept.assignments.items()
            if code in proposal_ids
            for user_id in sorted(user_ids)
        ],
    )
    await _insert(
        session,
        Link,
        _per_child(proposals, proposal_ids, lambda proposal: proposal.links, lambda _, link: _link_row(link)),
    )
    await _insert(
        session,
        Request,
        _per_child(
            proposals,
            proposal_ids,
            lambda proposal: proposal.requests,
            lambda _, request: {
                "round_id": round_id,
                "code": request.id,
                "instruments": request.instruments,
                "shifts": request.shifts,
                "min_shifts": request.min_shifts,
                "equipment": request.equipment,
                "earliest": request.earliest,
                "latest": request.latest,
                "unavailable": [interval.model_dump(mode="json") for interval in request.unavailable],
            },
        ),
    )


def _per_child(
    proposals: Sequence[c.Proposal],
    proposal_ids: Mapping[str, int],
    children: Callable[[c.Proposal], Sequence[ChildT]],
    columns: Callable[[c.Proposal, ChildT], dict[str, Any]],
) -> list[dict[str, Any]]:
    """A row per child of each proposal (team member, review, link, request): proposal id, place, `columns`."""
    return [
        {"proposal_id": proposal_ids[proposal.id], "position": position} | columns(proposal, child)
        for proposal in proposals
        for position, child in enumerate(children(proposal))
    ]


def _link_row(link: c.AllOrNothingLink | c.AfterLink) -> dict[str, Any]:
    row: dict[str, Any] = {"type": link.type}
    if isinstance(link, c.AllOrNothingLink):
        return row | {
            "requests": link.requests,
            "first": None,
            "then": None,
            "min_gap_shifts": 0,
            "max_gap_shifts": None,
        }
    return row | {
        "requests": None,
        "first": link.first,
        "then": link.then,
        "min_gap_shifts": link.min_gap_shifts,
        "max_gap_shifts": link.max_gap_shifts,
    }
