"""Round files into the database, key for key.

The catalogue part of a file (facilities, instruments, equipment, windows) is
merged into the catalogue rounds share by `scheduler.rounds.catalogue_merge`;
everything else belongs to one round. Rows go in with bulk inserts, so a
facility-size round takes about a second of CPU; measuring the schedule in
force, when the file has one (`publish_previous_schedule`), takes about three
more (the round exported, explained and the measurement stored: BENCHMARKS.md);
`scheduler.rounds.exporter` gives the file back.
`scheduler.rounds.replacement` replaces a round's content with a file through
the same writers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db import tables
from scheduler.roundfile import contract as c
from scheduler.roundfile.checks import InputError, InputProblem, check_round
from scheduler.rounds.catalogue_merge import (
    insert_returning_ids,
    insert_rows,
    merge_catalogue,
    settle_merge,
)
from scheduler.schedules.export import store_measurement
from scheduler.schedules.versions import save_version

ChildT = TypeVar("ChildT")


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
    """The file's `previous_schedule` as the round's published version (source "import"); its id.

    No solve made it, so it is measured here, with the rest of the import (`store_measurement`): the round's
    first view then reads its reasons, quota shares and objective instead of working them out."""
    if round_file.previous_schedule is None:
        return None
    note = "previous_schedule of the imported round file"
    version_id = await save_version(
        session, round_id, round_file.previous_schedule, source="import", note=note, published=True
    )
    await store_measurement(session, version_id)
    return version_id


async def require_valid(session: AsyncSession, round_file: c.RoundFile, into: int | None) -> None:
    """Every problem of the file on its own and against the stored data, at once, before anything is written."""
    problems = [*check_round(round_file), *_storage_problems(round_file), *await _conflicts(session, round_file, into)]
    if problems:
        raise InputError(problems)


async def write_content(
    session: AsyncSession, round_file: c.RoundFile, into: int | None, owner_id: int | None, kept: Carried
) -> int:
    """The catalogue's part of the file (merged), the round's row (`into`: that round's, anew) and its own rows;
    its id."""
    merge = await merge_catalogue(session, round_file, into)
    facility_ids, instrument_ids, equipment_ids = merge.facility_ids, merge.instrument_ids, merge.equipment_ids
    round_id = await _write_round(session, round_file, into)
    instruments = [instrument for facility in round_file.facilities for instrument in facility.instruments]
    members: list[tuple[type[Any], list[dict[str, Any]]]] = [
        (tables.RoundFacility, [{"facility_id": facility_ids[facility.id]} for facility in round_file.facilities]),
        (tables.RoundInstrument, [{"instrument_id": instrument_ids[instrument.id]} for instrument in instruments]),
        (tables.RoundEquipment, [{"equipment_id": equipment_ids[item.id]} for item in round_file.equipment]),
        (
            tables.CountryGroup,
            [{"name": name, "countries": group} for name, group in round_file.country_groups.items()],
        ),
        (tables.Quota, [_quota_row(quota) for quota in round_file.quotas]),
    ]
    for table, rows in members:
        await insert_rows(session, table, [{"round_id": round_id, "position": p, **row} for p, row in enumerate(rows)])
    await _insert_proposals(session, round_id, round_file.proposals, owner_id, kept)
    await settle_merge(session, merge, round_id)
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
    holder = await session.scalar(select(col(tables.Round.id)).where(col(tables.Round.code) == round_file.round.id))
    if holder is not None and holder != into:
        advice = "" if into is not None else "; import into it to replace its content"
        problems.append(InputProblem("$.round.id", f"round {round_file.round.id!r} exists already{advice}"))
    codes = [instrument.id for facility in round_file.facilities for instrument in facility.instruments]
    stored = dict(
        (
            await session.execute(
                select(col(tables.Instrument.code), col(tables.Facility.code))
                .join(tables.Facility, col(tables.Facility.id) == col(tables.Instrument.facility_id))
                .where(col(tables.Instrument.code).in_(codes))
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
        # The file's word, exported as it is while no fair-return policy is attached (scheduler.rounds.fair_return).
        "fair_return": None if round_file.fair_return is None else round_file.fair_return.model_dump(mode="json"),
    }
    if into is None:
        round_id = (
            await session.execute(insert(tables.Round).values(values).returning(col(tables.Round.id)))
        ).scalar_one()
        assert round_id is not None
        return round_id
    # A publish begun before the replacement read the old content: it must fail.
    await session.execute(
        update(tables.Round)
        .where(col(tables.Round.id) == into)
        .values(
            {
                **values,
                "revision": col(tables.Round.revision) + 1,
                "input_revision": col(tables.Round.input_revision) + 1,
                "version": col(tables.Round.version) + 1,
            }
        )
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
    proposal_ids = await insert_returning_ids(
        session,
        tables.Proposal,
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
    await insert_rows(
        session,
        tables.TeamMember,
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
    await insert_rows(
        session,
        tables.Review,
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
    await insert_rows(
        session,
        tables.ReviewAssignment,
        [
            {"proposal_id": proposal_ids[code], "user_id": user_id}
            for code, user_ids in kept.assignments.items()
            if code in proposal_ids
            for user_id in sorted(user_ids)
        ],
    )
    await insert_rows(
        session,
        tables.Link,
        _per_child(proposals, proposal_ids, lambda proposal: proposal.links, lambda _, link: _link_row(link)),
    )
    await insert_rows(
        session,
        tables.Request,
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
