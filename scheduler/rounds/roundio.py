"""Round files and schedule files into and out of the database, key for key.

Facilities, instruments, equipment and their windows are a catalogue that rounds
share: an import upserts them by code, and for the windows of its facilities and
instruments in its period the file is the truth (identical windows are kept, not
duplicated). Everything else belongs to one round. Rows go in with bulk inserts,
so a facility-size round takes about a second, and export(import(file)) gives the
file back, times in the round's own UTC offset.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError
from sqlalchemy import String, delete, insert, inspect, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator
from sqlmodel import col

from scheduler.db.tables import (
    Allocation,
    ChangeNotice,
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
    ScheduleVersion,
    SolveRun,
    TeamMember,
    Window,
    now,
)
from scheduler.roundfile import contract as c
from scheduler.roundfile.build import prepare
from scheduler.roundfile.checks import InputError, InputProblem, check_round, problems_from_validation_error
from scheduler.roundfile.grid import Grid
from scheduler.roundfile.schedule import schedule_file
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import exclusions, priorities
from scheduler.roundfile.validate import format_violations, validate_schedule
from solver.explain import explain_unallocated
from solver.problem import Placement
from solver.solution import Solution, quota_outcomes

WindowKey = tuple[int | None, int | None, datetime, datetime, str, str]
"""A window's identity: facility id, instrument id, start, end, kind, reason."""


async def import_round(
    session: AsyncSession, round_file: c.RoundFile, *, owner_id: int | None = None, into: int | None = None
) -> int:
    """Stores a round file and returns the round's id; `into` replaces that round's content instead.

    Nothing is written before every check has passed (InputError lists each problem
    with its JSON path); a failure after that leaves the caller's transaction to roll
    back, so an import lands whole or not at all. `owner_id` is the user the new
    proposals belong to. Replacing a round drops its schedule versions (their requests
    are gone) but keeps, by proposal code, the owners, reviewer assignments and
    reviewers' accounts and comments. `previous_schedule` becomes the published
    version (source "import").
    """
    problems = [*check_round(round_file), *_storage_problems(round_file)]
    problems += await _conflicts(session, round_file, into)
    if problems:
        raise InputError(problems)
    kept = await _clear_round(session, into) if into is not None else _Kept()
    facility_ids, instrument_ids = await _upsert_facilities(session, round_file.facilities)
    equipment_ids = await _upsert_equipment(session, round_file.equipment)
    await _replace_windows(session, round_file, facility_ids, instrument_ids)
    round_id = await _write_round(session, round_file, into)
    await _insert(
        session,
        RoundFacility,
        [
            {"round_id": round_id, "facility_id": facility_ids[facility.id], "position": position}
            for position, facility in enumerate(round_file.facilities)
        ],
    )
    await _insert(
        session,
        RoundInstrument,
        [
            {"round_id": round_id, "instrument_id": instrument_ids[instrument.id], "position": position}
            for position, instrument in enumerate(i for facility in round_file.facilities for i in facility.instruments)
        ],
    )
    await _insert(
        session,
        RoundEquipment,
        [
            {"round_id": round_id, "equipment_id": equipment_ids[item.id], "position": position}
            for position, item in enumerate(round_file.equipment)
        ],
    )
    await _insert(
        session,
        CountryGroup,
        [
            {"round_id": round_id, "name": name, "countries": countries, "position": position}
            for position, (name, countries) in enumerate(round_file.country_groups.items())
        ],
    )
    await _insert(
        session, Quota, [_quota_row(round_id, position, quota) for position, quota in enumerate(round_file.quotas)]
    )
    request_ids = await _insert_proposals(session, round_id, round_file.proposals, owner_id, kept)
    if round_file.previous_schedule is not None:
        await _insert_previous_schedule(session, round_id, round_file.previous_schedule, request_ids, instrument_ids)
    return round_id


async def export_round(session: AsyncSession, round_id: int) -> c.RoundFile:
    """The round as a round file; `previous_schedule` is the published version, absent when there is none.

    Withdrawn proposals are left out. The windows are those of the round's
    facilities and instruments that overlap its period. A round that is no valid
    file yet (no facility, a proposal without requests) raises InputError.
    """
    round_row = (
        await session.execute(
            select(
                col(Round.code),
                col(Round.name),
                col(Round.start),
                col(Round.end),
                col(Round.shift_hours),
                col(Round.utc_offset_minutes),
                col(Round.scoring),
            ).where(col(Round.id) == round_id)
        )
    ).one_or_none()
    if round_row is None:
        raise LookupError(f"no round {round_id}")
    zone = timezone(timedelta(minutes=round_row.utc_offset_minutes))
    proposals, request_codes = await _export_proposals(session, round_id, zone)
    document = {
        "format": c.ROUND_FORMAT,
        "round": {
            "id": round_row.code,
            "name": round_row.name,
            "start": round_row.start.astimezone(zone),
            "end": round_row.end.astimezone(zone),
            "shift_hours": round_row.shift_hours,
        },
        "country_groups": await _export_country_groups(session, round_id),
        "facilities": await _export_facilities(session, round_id, round_row.start, round_row.end, zone),
        "equipment": await _export_equipment(session, round_id),
        "quotas": await _export_quotas(session, round_id),
        "proposals": proposals,
        "scoring": round_row.scoring,
        "previous_schedule": await _export_published(session, round_id, request_codes),
    }
    try:
        return c.RoundFile.model_validate(document)
    except ValidationError as error:
        raise InputError(problems_from_validation_error(error)) from None


async def export_schedule(session: AsyncSession, version_id: int) -> c.ScheduleFile:
    """A schedule version as a schedule file: its allocations in the round's terms and times.

    A version made by a solve reports the run's status, objective, bound, reasons and
    quota shares. Any other version (imported, edited) is measured here: reasons and
    quota shares from the engine's explanations, and status `feasible` when it keeps
    every rule, `unknown` with the broken rules in `notes` when it does not.
    """
    version = (
        await session.execute(select(col(ScheduleVersion.round_id)).where(col(ScheduleVersion.id) == version_id))
    ).one_or_none()
    if version is None:
        raise LookupError(f"no schedule version {version_id}")
    round_file = (await export_round(session, version.round_id)).model_copy(update={"previous_schedule": None})
    placed = await _allocation_rows(session, version_id)
    solved = await _solve_output(session, version_id)
    if solved is not None:
        given = {allocation.request: allocation.priority for allocation in solved.allocations}
        if all(allocation.request in given for allocation in placed):
            return solved.model_copy(update={"allocations": _on_grid(round_file, placed, given)})
    return _measured(round_file, placed)


# Import


def _storage_problems(round_file: c.RoundFile) -> list[InputProblem]:
    """What the file's checks allow but the tables cannot hold: over-long codes, a reviewer twice on a proposal."""
    problems = [
        InputProblem(path, f"longer than {limit} characters")
        for path, value, limit in _codes(round_file)
        if len(value) > limit
    ]
    for p, proposal in enumerate(round_file.proposals):
        seen: set[str] = set()
        for r, review in enumerate(proposal.reviews):
            if review.reviewer in seen:
                message = f"reviewer {review.reviewer!r} has reviewed this proposal already"
                problems.append(InputProblem(f"$.proposals[{p}].reviews[{r}].reviewer", message))
            seen.add(review.reviewer)
    return problems


def _codes(round_file: c.RoundFile) -> Iterator[tuple[str, str, int]]:
    yield "$.round.id", round_file.round.id, _width(Round)
    for f, facility in enumerate(round_file.facilities):
        yield f"$.facilities[{f}].id", facility.id, _width(Facility)
        for i, instrument in enumerate(facility.instruments):
            yield f"$.facilities[{f}].instruments[{i}].id", instrument.id, _width(Instrument)
    for e, item in enumerate(round_file.equipment):
        yield f"$.equipment[{e}].id", item.id, _width(Equipment)
    for q, quota in enumerate(round_file.quotas):
        yield f"$.quotas[{q}].id", quota.id, _width(Quota)
    for p, proposal in enumerate(round_file.proposals):
        yield f"$.proposals[{p}].id", proposal.id, _width(Proposal)
        for r, request in enumerate(proposal.requests):
            yield f"$.proposals[{p}].requests[{r}].id", request.id, _width(Request)


def _width(table: type[Any]) -> int:
    column_type = inspect(table).columns["code"].type
    stored = column_type.impl_instance if isinstance(column_type, TypeDecorator) else column_type
    assert isinstance(stored, String) and stored.length is not None
    return stored.length


async def _conflicts(session: AsyncSession, round_file: c.RoundFile, into: int | None) -> list[InputProblem]:
    """Clashes with the stored data: a round code taken, an instrument the catalogue puts at another facility."""
    if into is not None and await session.scalar(select(col(Round.id)).where(col(Round.id) == into)) is None:
        raise LookupError(f"no round {into}")
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
class _Kept:
    """What a replaced round's proposals carry over to the new ones of the same code."""

    owners: dict[str, int] = field(default_factory=dict)
    assignments: dict[str, set[int]] = field(default_factory=dict)
    reviewers: dict[tuple[str, str], tuple[int | None, str]] = field(default_factory=dict)

    def reviewer(self, proposal: str, reviewer: str) -> dict[str, Any]:
        """The account and comment of a review, by proposal code and reviewer name."""
        reviewer_id, comment = self.reviewers.get((proposal, reviewer), (None, ""))
        return {"reviewer_id": reviewer_id, "comment": comment}


async def _clear_round(session: AsyncSession, round_id: int) -> _Kept:
    """Deletes the round's own rows, after noting what the new proposals keep; the catalogue stays."""
    kept = _Kept()
    of_round = col(Proposal.round_id) == round_id
    owners = await session.execute(select(col(Proposal.code), col(Proposal.owner_id)).where(of_round))
    kept.owners = {code: owner for code, owner in owners if owner is not None}
    assignments = await session.execute(
        select(col(Proposal.code), col(ReviewAssignment.user_id))
        .join(Proposal, col(Proposal.id) == col(ReviewAssignment.proposal_id))
        .where(of_round)
    )
    for code, user_id in assignments:
        kept.assignments.setdefault(code, set()).add(user_id)
    reviews = await session.execute(
        select(col(Proposal.code), col(Review.reviewer), col(Review.reviewer_id), col(Review.comment))
        .join(Proposal, col(Proposal.id) == col(Review.proposal_id))
        .where(of_round)
    )
    kept.reviewers = {(code, reviewer): (user_id, comment) for code, reviewer, user_id, comment in reviews}

    proposals = select(col(Proposal.id)).where(of_round)
    versions = select(col(ScheduleVersion.id)).where(col(ScheduleVersion.round_id) == round_id)
    statements = [
        update(SolveRun).where(col(SolveRun.schedule_version_id).in_(versions)).values(schedule_version_id=None),
        delete(Allocation).where(col(Allocation.schedule_version_id).in_(versions)),
        delete(ChangeNotice).where(col(ChangeNotice.schedule_version_id).in_(versions)),
        delete(ScheduleVersion).where(col(ScheduleVersion.round_id) == round_id),
        delete(ReviewAssignment).where(col(ReviewAssignment.proposal_id).in_(proposals)),
        delete(Review).where(col(Review.proposal_id).in_(proposals)),
        delete(TeamMember).where(col(TeamMember.proposal_id).in_(proposals)),
        delete(Link).where(col(Link.proposal_id).in_(proposals)),
        delete(Request).where(col(Request.round_id) == round_id),
        delete(Proposal).where(col(Proposal.round_id) == round_id),
        delete(Quota).where(col(Quota.round_id) == round_id),
        delete(CountryGroup).where(col(CountryGroup.round_id) == round_id),
        delete(RoundFacility).where(col(RoundFacility.round_id) == round_id),
        delete(RoundEquipment).where(col(RoundEquipment.round_id) == round_id),
        delete(RoundInstrument).where(col(RoundInstrument.round_id) == round_id),
    ]
    for statement in statements:
        # Rows of other tables are not loaded in this session; there is nothing to synchronise.
        await session.execute(statement.execution_options(synchronize_session=False))
    return kept


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
    # The versions went with the old content, so a publish begun before the import must fail.
    await session.execute(
        update(Round).where(col(Round.id) == into).values({**values, "revision": col(Round.revision) + 1})
    )
    return into


def _quota_row(round_id: int, position: int, quota: c.Quota) -> dict[str, Any]:
    return {
        "round_id": round_id,
        "position": position,
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
    session: AsyncSession, round_id: int, proposals: Sequence[c.Proposal], owner_id: int | None, kept: _Kept
) -> dict[str, int]:
    """Proposals and everything in them; returns request code → id."""
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
                "priority": proposal.priority,
                "technically_feasible": proposal.technically_feasible,
                "missed_rounds": proposal.missed_rounds,
                "first_time_users": proposal.first_time_users,
                "early_career_pi": proposal.early_career_pi,
                "owner_id": owner_id if owner_id is not None else kept.owners.get(proposal.id),
            }
            for position, proposal in enumerate(proposals)
        ],
    )
    await _insert(
        session,
        TeamMember,
        [
            {
                "proposal_id": proposal_ids[proposal.id],
                "position": position,
                "name": member.name,
                "institution": member.institution,
                "country": member.country,
            }
            for proposal in proposals
            for position, member in enumerate(proposal.team)
        ],
    )
    await _insert(
        session,
        Review,
        [
            {
                "proposal_id": proposal_ids[proposal.id],
                "position": position,
                "reviewer": review.reviewer,
                "grade": review.grade,
                "conflict": review.conflict,
            }
            | kept.reviewer(proposal.id, review.reviewer)
            for proposal in proposals
            for position, review in enumerate(proposal.reviews)
        ],
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
        [
            _link_row(proposal_ids[proposal.id], position, link)
            for proposal in proposals
            for position, link in enumerate(proposal.links)
        ],
    )
    return await _insert_returning_ids(
        session,
        Request,
        [
            {
                "round_id": round_id,
                "proposal_id": proposal_ids[proposal.id],
                "position": position,
                "code": request.id,
                "instruments": request.instruments,
                "shifts": request.shifts,
                "min_shifts": request.min_shifts,
                "equipment": request.equipment,
                "earliest": request.earliest,
                "latest": request.latest,
                "unavailable": [interval.model_dump(mode="json") for interval in request.unavailable],
            }
            for proposal in proposals
            for position, request in enumerate(proposal.requests)
        ],
    )


def _link_row(proposal_id: int, position: int, link: c.AllOrNothingLink | c.AfterLink) -> dict[str, Any]:
    row: dict[str, Any] = {"proposal_id": proposal_id, "position": position, "type": link.type}
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


async def _insert_previous_schedule(
    session: AsyncSession,
    round_id: int,
    allocations: Sequence[c.PreviousAllocation],
    request_ids: Mapping[str, int],
    instrument_ids: Mapping[str, int],
) -> None:
    version_id = (
        await session.execute(
            insert(ScheduleVersion)
            .values(
                round_id=round_id,
                number=1,  # the round is new, or its versions went with its old content
                status="published",
                source="import",
                note="previous_schedule of the imported round file",
                published_at=now(),
            )
            .returning(col(ScheduleVersion.id))
        )
    ).scalar_one()
    await _insert(
        session,
        Allocation,
        [
            {
                "schedule_version_id": version_id,
                "request_id": request_ids[allocation.request],
                "instrument_id": instrument_ids[allocation.instrument],
                "start_shift": allocation.start_shift,
                "shifts": allocation.shifts,
                "pinned": allocation.pinned,
            }
            for allocation in allocations
        ],
    )


# Export


async def _export_country_groups(session: AsyncSession, round_id: int) -> dict[str, list[str]]:
    rows = await session.execute(
        select(col(CountryGroup.name), col(CountryGroup.countries))
        .where(col(CountryGroup.round_id) == round_id)
        .order_by(col(CountryGroup.position), col(CountryGroup.id))
    )
    return dict(rows.all())


async def _export_facilities(
    session: AsyncSession, round_id: int, start: datetime, end: datetime, zone: timezone
) -> list[dict[str, Any]]:
    facilities = (
        await session.execute(
            select(
                col(Facility.id), col(Facility.code), col(Facility.name), col(Facility.country), col(Facility.timezone)
            )
            .join(RoundFacility, col(RoundFacility.facility_id) == col(Facility.id))
            .where(col(RoundFacility.round_id) == round_id)
            .order_by(col(RoundFacility.position))
        )
    ).all()
    facility_ids = [facility.id for facility in facilities]
    instruments = (
        await session.execute(
            select(
                col(Instrument.id),
                col(Instrument.facility_id),
                col(Instrument.code),
                col(Instrument.name),
                col(Instrument.techniques),
                col(Instrument.changeover_shifts),
                col(Instrument.reserve_share),
            )
            .join(RoundInstrument, col(RoundInstrument.instrument_id) == col(Instrument.id))
            .where(col(RoundInstrument.round_id) == round_id)
            .order_by(col(RoundInstrument.position))
        )
    ).all()
    windows = await session.execute(
        select(
            col(Window.facility_id),
            col(Window.instrument_id),
            col(Window.start),
            col(Window.end),
            col(Window.kind),
            col(Window.reason),
        )
        .where(
            or_(
                col(Window.facility_id).in_(facility_ids),
                col(Window.instrument_id).in_([instrument.id for instrument in instruments]),
            ),
            col(Window.start) < end,
            col(Window.end) > start,
        )
        .order_by(col(Window.position), col(Window.start), col(Window.id))
    )
    facility_windows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    instrument_windows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for facility_id, instrument_id, window_start, window_end, kind, reason in windows:
        window = {"start": window_start.astimezone(zone), "end": window_end.astimezone(zone), "kind": kind}
        window["reason"] = reason
        if facility_id is not None:
            facility_windows[facility_id].append(window)
        elif instrument_id is not None:
            instrument_windows[instrument_id].append(window)
    instruments_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for instrument in instruments:
        instruments_of[instrument.facility_id].append(
            {
                "id": instrument.code,
                "name": instrument.name,
                "techniques": instrument.techniques,
                "changeover_shifts": instrument.changeover_shifts,
                "reserve_share": instrument.reserve_share,
                "maintenance": instrument_windows[instrument.id],
            }
        )
    return [
        {
            "id": facility.code,
            "name": facility.name,
            "country": facility.country,
            "timezone": facility.timezone,
            "maintenance": facility_windows[facility.id],
            "instruments": instruments_of[facility.id],
        }
        for facility in facilities
    ]


async def _export_equipment(session: AsyncSession, round_id: int) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(col(Equipment.code), col(Equipment.name), col(Equipment.units))
        .join(RoundEquipment, col(RoundEquipment.equipment_id) == col(Equipment.id))
        .where(col(RoundEquipment.round_id) == round_id)
        .order_by(col(RoundEquipment.position))
    )
    return [{"id": code, "name": name, "units": units} for code, name, units in rows]


async def _export_quotas(session: AsyncSession, round_id: int) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(
            col(Quota.code),
            col(Quota.scope),
            col(Quota.category),
            col(Quota.min_share),
            col(Quota.max_share),
            col(Quota.attribution),
            col(Quota.soft),
            col(Quota.penalty),
        )
        .where(col(Quota.round_id) == round_id)
        .order_by(col(Quota.position), col(Quota.id))
    )
    return [
        {
            "id": quota.code,
            "scope": quota.scope,
            "category": quota.category,
            "min_share": quota.min_share,
            "max_share": quota.max_share,
            "attribution": quota.attribution,
            "soft": quota.soft,
            "penalty": quota.penalty,
        }
        for quota in rows
    ]


async def _export_proposals(
    session: AsyncSession, round_id: int, zone: timezone
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """The round's proposals that are not withdrawn, and their requests' codes by id."""
    proposals = (
        await session.execute(
            select(
                col(Proposal.id),
                col(Proposal.code),
                col(Proposal.title),
                col(Proposal.type),
                col(Proposal.pi_name),
                col(Proposal.pi_institution),
                col(Proposal.pi_country),
                col(Proposal.priority),
                col(Proposal.technically_feasible),
                col(Proposal.missed_rounds),
                col(Proposal.first_time_users),
                col(Proposal.early_career_pi),
            )
            .where(col(Proposal.round_id) == round_id, col(Proposal.withdrawn).is_(False))
            .order_by(col(Proposal.position), col(Proposal.id))
        )
    ).all()
    of_round = select(col(Proposal.id)).where(col(Proposal.round_id) == round_id)
    team: dict[int, list[dict[str, Any]]] = defaultdict(list)
    members = await session.execute(
        select(col(TeamMember.proposal_id), col(TeamMember.name), col(TeamMember.institution), col(TeamMember.country))
        .where(col(TeamMember.proposal_id).in_(of_round))
        .order_by(col(TeamMember.proposal_id), col(TeamMember.position), col(TeamMember.id))
    )
    for proposal_id, name, institution, country in members:
        team[proposal_id].append({"name": name, "institution": institution, "country": country})
    reviews: dict[int, list[dict[str, Any]]] = defaultdict(list)
    review_rows = await session.execute(
        select(col(Review.proposal_id), col(Review.reviewer), col(Review.grade), col(Review.conflict))
        .where(col(Review.proposal_id).in_(of_round))
        .order_by(col(Review.proposal_id), col(Review.position), col(Review.id))
    )
    for proposal_id, reviewer, grade, conflict in review_rows:
        reviews[proposal_id].append({"reviewer": reviewer, "grade": grade, "conflict": conflict})
    links: dict[int, list[dict[str, Any]]] = defaultdict(list)
    link_rows = await session.execute(
        select(
            col(Link.proposal_id),
            col(Link.type),
            col(Link.requests),
            col(Link.first),
            col(Link.then),
            col(Link.min_gap_shifts),
            col(Link.max_gap_shifts),
        )
        .where(col(Link.proposal_id).in_(of_round))
        .order_by(col(Link.proposal_id), col(Link.position), col(Link.id))
    )
    for link in link_rows:
        links[link.proposal_id].append(
            {"type": link.type, "requests": link.requests}
            if link.type == "all_or_nothing"
            else {
                "type": link.type,
                "first": link.first,
                "then": link.then,
                "min_gap_shifts": link.min_gap_shifts,
                "max_gap_shifts": link.max_gap_shifts,
            }
        )
    exported = {proposal.id for proposal in proposals}
    requests: dict[int, list[dict[str, Any]]] = defaultdict(list)
    request_codes: dict[int, str] = {}
    request_rows = await session.execute(
        select(
            col(Request.id),
            col(Request.proposal_id),
            col(Request.code),
            col(Request.instruments),
            col(Request.shifts),
            col(Request.min_shifts),
            col(Request.equipment),
            col(Request.earliest),
            col(Request.latest),
            col(Request.unavailable),
        )
        .where(col(Request.round_id) == round_id)
        .order_by(col(Request.proposal_id), col(Request.position), col(Request.id))
    )
    for request in request_rows:
        if request.proposal_id not in exported:
            continue
        request_codes[request.id] = request.code
        requests[request.proposal_id].append(
            {
                "id": request.code,
                "instruments": request.instruments,
                "shifts": request.shifts,
                "min_shifts": request.min_shifts,
                "equipment": request.equipment,
                "earliest": None if request.earliest is None else request.earliest.astimezone(zone),
                "latest": None if request.latest is None else request.latest.astimezone(zone),
                "unavailable": request.unavailable,
            }
        )
    return [
        {
            "id": proposal.code,
            "title": proposal.title,
            "type": proposal.type,
            "pi": {"name": proposal.pi_name, "institution": proposal.pi_institution, "country": proposal.pi_country},
            "team": team[proposal.id],
            "priority": proposal.priority,
            "reviews": reviews[proposal.id],
            "technically_feasible": proposal.technically_feasible,
            "requests": requests[proposal.id],
            "links": links[proposal.id],
            "missed_rounds": proposal.missed_rounds,
            "first_time_users": proposal.first_time_users,
            "early_career_pi": proposal.early_career_pi,
        }
        for proposal in proposals
    ], request_codes


async def _export_published(
    session: AsyncSession, round_id: int, request_codes: Mapping[int, str]
) -> list[dict[str, Any]] | None:
    """The published version's allocations, without those of withdrawn proposals."""
    published = await session.scalar(
        select(col(ScheduleVersion.id)).where(
            col(ScheduleVersion.round_id) == round_id, col(ScheduleVersion.status) == "published"
        )
    )
    if published is None:
        return None
    return [
        {
            "request": allocation.request,
            "instrument": allocation.instrument,
            "start_shift": allocation.start_shift,
            "shifts": allocation.shifts,
            "pinned": allocation.pinned,
        }
        for allocation in await _allocation_rows(session, published)
        if allocation.request_id in request_codes
    ]


# Schedules


@dataclass(frozen=True)
class _Placed:
    """An allocation row in the round's codes."""

    request_id: int
    proposal: str
    request: str
    instrument: str
    start_shift: int
    shifts: int
    pinned: bool


async def _allocation_rows(session: AsyncSession, version_id: int) -> list[_Placed]:
    """A version's allocations in the order they were written."""
    rows = await session.execute(
        select(
            col(Allocation.request_id),
            col(Proposal.code),
            col(Request.code),
            col(Instrument.code),
            col(Allocation.start_shift),
            col(Allocation.shifts),
            col(Allocation.pinned),
        )
        .join(Request, col(Request.id) == col(Allocation.request_id))
        .join(Proposal, col(Proposal.id) == col(Request.proposal_id))
        .join(Instrument, col(Instrument.id) == col(Allocation.instrument_id))
        .where(col(Allocation.schedule_version_id) == version_id)
        .order_by(col(Allocation.id))
    )
    return [_Placed(*row) for row in rows]


async def _solve_output(session: AsyncSession, version_id: int) -> c.ScheduleFile | None:
    output = await session.scalar(
        select(col(SolveRun.output))
        .where(col(SolveRun.schedule_version_id) == version_id, col(SolveRun.output).is_not(None))
        .order_by(col(SolveRun.id).desc())
    )
    return None if output is None else c.ScheduleFile.model_validate(output)


def _on_grid(
    round_file: c.RoundFile, placed: Sequence[_Placed], priority_of: Mapping[str, float]
) -> list[c.Allocation]:
    """`priority_of` maps request codes to their proposal's priority."""
    grid = Grid(round_file.round)
    return [
        c.Allocation(
            proposal=p.proposal,
            request=p.request,
            instrument=p.instrument,
            start_shift=p.start_shift,
            shifts=p.shifts,
            start=grid.time(p.start_shift),
            end=grid.time(p.start_shift + p.shifts),
            priority=priority_of[p.request],
            pinned=p.pinned,
        )
        for p in placed
    ]


def _measured(round_file: c.RoundFile, placed: Sequence[_Placed]) -> c.ScheduleFile:
    """A schedule no solve reported on, measured as the engine measures its own: reasons, quota shares, rules."""
    scores = score_round(round_file)
    scored, excluded = priorities(scores), exclusions(scores)
    prepared = prepare(round_file, scored, excluded)
    given = {proposal.id: proposal.priority for proposal in round_file.proposals}
    allocations = _on_grid(
        round_file, placed, {p.request: scored.get(p.proposal, given.get(p.proposal) or 0.0) for p in placed}
    )
    request_index = {code: r for r, code in enumerate(prepared.request_ids)}
    instrument_index = {code: i for i, code in enumerate(prepared.instrument_ids)}
    placements = tuple(
        Placement(request_index[p.request], instrument_index[p.instrument], p.start_shift, p.shifts)
        for p in placed
        if p.request in request_index and p.instrument in instrument_index
    )
    problem = prepared.problem
    solution = Solution(
        status="feasible",
        placements=placements,
        objective=0.0,
        bound=None,
        seconds=0.0,
        quotas=quota_outcomes(problem, placements),
        unallocated=explain_unallocated(problem, placements),
    )
    measured = schedule_file(prepared, solution)
    allocated = {p.request for p in placed}
    schedule = measured.model_copy(
        update={
            "allocations": allocations,
            "unallocated": [item for item in measured.unallocated if item.request not in allocated],
            "objective": math.fsum(allocation.priority * allocation.shifts for allocation in allocations),
        }
    )
    violations = validate_schedule(round_file, schedule, scored, excluded)
    if not violations:
        return schedule
    return schedule.model_copy(update={"status": "unknown", "notes": format_violations(violations).splitlines()})
