"""Replacing a round's content with a round file, never losing its history.

The round's schedule versions and change notices stay: their allocations follow
each request to the new row of the same proposal and request code, and a proposal
the file no longer has but a version or notice names stays as a withdrawn proposal
(out of the round's files and solves, still its owner's). Only a slot whose request
the file takes from a proposal it keeps has nowhere to stay; the replacement reports
it. A round whose schedule is published is replaced only when forced: the published
version is superseded and every slot the replacement moves or drops gets a change
notice, so that proposers' calendars cancel it. The file goes in through the
importer's writers (`scheduler.rounds.importer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db import tables
from scheduler.errors import Conflict
from scheduler.roundfile import contract as c
from scheduler.rounds.fair_return import later_rounds
from scheduler.rounds.importer import Carried, publish_previous_schedule, require_valid, write_content
from scheduler.rounds.revision import touch_rounds
from scheduler.schedules.notices import record_replacement
from scheduler.schedules.versions import allocations_in_codes, version_schedule


class PublishedRoundError(Conflict):
    """The round has a published schedule: replacing its content would take back what proposers were told."""


@dataclass(frozen=True)
class Replacement:
    """What replacing a round's content did to what was there, in codes: for the audit log."""

    removed_proposals: tuple[str, ...]
    """Proposals the file no longer has."""
    kept_withdrawn: tuple[str, ...]
    """Those of them that versions or change notices name: kept, withdrawn."""
    removed_requests: tuple[str, ...]
    versions: int
    """Schedule versions the round keeps."""
    superseded: int | None
    """The number of the published version the replacement superseded."""
    lost_slots: tuple[str, ...]
    """`version N: request` for allocations whose request the file took from a proposal it keeps."""
    notices: int

    def audit(self) -> dict[str, Any]:
        return {
            "removed_proposals": {"count": len(self.removed_proposals), "codes": list(self.removed_proposals)},
            "kept_withdrawn": list(self.kept_withdrawn),
            "removed_requests": {"count": len(self.removed_requests), "codes": list(self.removed_requests)},
            "versions_kept": self.versions,
            "superseded_version": self.superseded,
            "lost_slots": list(self.lost_slots),
            "change_notices": self.notices,
        }


async def replace_round(
    session: AsyncSession, round_id: int, round_file: c.RoundFile, *, force: bool = False, owner_id: int | None = None
) -> Replacement:
    """Replaces the round's whole content with the file, all or nothing, keeping its history (see the module).

    PublishedRoundError when the round has a published schedule, unless `force`. The
    new proposals keep, by code, the owners (unless `owner_id` is given), reviewer
    assignments and reviewers' accounts and comments of those they replace. The file's
    `previous_schedule` becomes the published version; without one, no schedule is in force.
    """
    if await session.scalar(select(col(tables.Round.id)).where(col(tables.Round.id) == round_id)) is None:
        raise LookupError(f"no round {round_id}")
    in_force = (
        await session.execute(
            select(col(tables.ScheduleVersion.id), col(tables.ScheduleVersion.number)).where(
                col(tables.ScheduleVersion.round_id) == round_id, col(tables.ScheduleVersion.status) == "published"
            )
        )
    ).one_or_none()
    if in_force is not None and not force:
        raise PublishedRoundError(
            f"round {round_file.round.id!r} has published schedule version {in_force.number}: replacing its content "
            "would take back what proposers were told; an admin may force it"
        )
    await require_valid(session, round_file, round_id)
    if in_force is not None:  # what it delivered leaves the history of the rounds after its start as it was
        await touch_rounds(session, await later_rounds(session, round_id))
    history = await _History.read(session, round_id, None if in_force is None else in_force.id)
    named = {proposal.id for proposal in round_file.proposals}
    keep = frozenset(history.proposals - named)
    kept = await _clear_round(session, round_id, keep)
    await write_content(session, round_file, round_id, owner_id, kept)
    lost = await history.restore(session, round_id)
    if in_force is not None:
        await session.execute(
            update(tables.ScheduleVersion)
            .where(col(tables.ScheduleVersion.id) == in_force.id)
            .values(status="superseded")
        )
    published_id = await publish_previous_schedule(session, round_id, round_file)
    if published_id is not None:  # and joins the history of the rounds after its start as the file has it
        await touch_rounds(session, await later_rounds(session, round_id))
    notices = 0
    if in_force is not None and history.in_force is not None:
        notices = await record_replacement(
            session, round_id, history.in_force, superseded_id=in_force.id, version_id=published_id
        )
    return Replacement(
        removed_proposals=tuple(sorted(kept.codes - named)),
        kept_withdrawn=tuple(sorted(keep)),
        removed_requests=tuple(sorted(kept.requests - {r.id for p in round_file.proposals for r in p.requests})),
        versions=history.versions + (published_id is not None),
        superseded=None if in_force is None else in_force.number,
        lost_slots=lost,
        notices=notices,
    )


@dataclass(frozen=True)
class _History:
    """The round's versions and notices in codes, read before its content goes, to be pointed at the new rows."""

    allocations: list[tuple[int, str, str, int, int, int, bool]]
    """Version id, proposal code, request code, instrument id, start shift, shifts, pinned; in writing order."""
    notices: list[tuple[str, dict[str, Any]]]
    """Proposal code and the notice's other columns, oldest first."""
    versions: int
    in_force: c.ScheduleFile | None
    """The published version's schedule as it was."""

    @property
    def proposals(self) -> set[str]:
        """The codes of the proposals that versions or notices name."""
        return {proposal for _, proposal, *_ in self.allocations} | {proposal for proposal, _ in self.notices}

    @classmethod
    async def read(cls, session: AsyncSession, round_id: int, in_force: int | None) -> _History:
        of_round = col(tables.ScheduleVersion.round_id) == round_id
        allocations = await session.execute(
            allocations_in_codes(
                col(tables.Allocation.schedule_version_id), col(tables.Allocation.instrument_id)
            ).where(of_round)
        )
        notices = await session.execute(
            select(col(tables.Proposal.code), tables.ChangeNotice)
            .join(tables.Proposal, col(tables.Proposal.id) == col(tables.ChangeNotice.proposal_id))
            .where(col(tables.Proposal.round_id) == round_id)
            .order_by(col(tables.ChangeNotice.id))
        )
        versions = await session.scalar(select(func.count()).select_from(tables.ScheduleVersion).where(of_round))
        return cls(
            allocations=[(v, p, r, i, start, n, pinned) for v, i, p, r, _, start, n, pinned in allocations],
            notices=[(code, notice.model_dump(exclude={"id", "proposal_id"})) for code, notice in notices],
            versions=versions or 0,
            in_force=None if in_force is None else await version_schedule(session, in_force),
        )

    async def restore(self, session: AsyncSession, round_id: int) -> tuple[str, ...]:
        """Writes the allocations anew on the rows of the same proposal and request code, and the notices on
        the proposals of their code, in their order; `version N: request` of the allocations that found no row."""
        requests = await session.execute(
            select(col(tables.Proposal.code), col(tables.Request.code), col(tables.Request.id))
            .join(tables.Proposal, col(tables.Proposal.id) == col(tables.Request.proposal_id))
            .where(col(tables.Request.round_id) == round_id)
        )
        request_ids = {(proposal, request): request_id for proposal, request, request_id in requests}
        proposals = await session.execute(
            select(col(tables.Proposal.code), col(tables.Proposal.id)).where(col(tables.Proposal.round_id) == round_id)
        )
        proposal_ids = {code: proposal_id for code, proposal_id in proposals if proposal_id is not None}
        rows, lost = [], []
        for version_id, proposal, request, instrument_id, start_shift, shifts, pinned in self.allocations:
            request_id = request_ids.get((proposal, request))
            if request_id is None:
                lost.append((version_id, request))
                continue
            rows.append(
                {
                    "schedule_version_id": version_id,
                    "request_id": request_id,
                    "instrument_id": instrument_id,
                    "start_shift": start_shift,
                    "shifts": shifts,
                    "pinned": pinned,
                }
            )
        if rows:
            await session.execute(insert(tables.Allocation), rows)
        if self.notices:
            notices = [{"proposal_id": proposal_ids[code], **notice} for code, notice in self.notices]
            await session.execute(insert(tables.ChangeNotice), notices)
        if not lost:
            return ()
        versions = await session.execute(
            select(col(tables.ScheduleVersion.id), col(tables.ScheduleVersion.number)).where(
                col(tables.ScheduleVersion.id).in_({version_id for version_id, _ in lost})
            )
        )
        numbers = {row.id: row.number for row in versions}
        return tuple(f"version {numbers[version_id]}: {request}" for version_id, request in lost)


async def _clear_round(session: AsyncSession, round_id: int, keep: frozenset[str]) -> Carried:
    """Deletes the round's own rows but its versions and the proposals of the `keep` codes, which are withdrawn
    (`_History.restore` writes the versions' allocations and the notices anew); notes what the new proposals
    keep. The catalogue stays."""
    kept = Carried()
    of_round = col(tables.Proposal.round_id) == round_id
    owners = await session.execute(select(col(tables.Proposal.code), col(tables.Proposal.owner_id)).where(of_round))
    for code, owner in owners:
        kept.codes.add(code)
        if owner is not None:
            kept.owners[code] = owner
    kept.requests = set(
        (
            await session.execute(select(col(tables.Request.code)).where(col(tables.Request.round_id) == round_id))
        ).scalars()
    )
    assignments = await session.execute(
        select(col(tables.Proposal.code), col(tables.ReviewAssignment.user_id))
        .join(tables.Proposal, col(tables.Proposal.id) == col(tables.ReviewAssignment.proposal_id))
        .where(of_round)
    )
    for code, user_id in assignments:
        kept.assignments.setdefault(code, set()).add(user_id)
    reviews = await session.execute(
        select(
            col(tables.Proposal.code),
            col(tables.Review.reviewer),
            col(tables.Review.reviewer_id),
            col(tables.Review.comment),
        )
        .join(tables.Proposal, col(tables.Proposal.id) == col(tables.Review.proposal_id))
        .where(of_round)
    )
    kept.reviewers = {(code, reviewer): (user_id, comment) for code, reviewer, user_id, comment in reviews}

    gone = select(col(tables.Proposal.id)).where(of_round, col(tables.Proposal.code).not_in(keep))
    versions = select(col(tables.ScheduleVersion.id)).where(col(tables.ScheduleVersion.round_id) == round_id)
    statements = [
        delete(tables.Allocation).where(col(tables.Allocation.schedule_version_id).in_(versions)),
        delete(tables.ReviewAssignment).where(col(tables.ReviewAssignment.proposal_id).in_(gone)),
        delete(tables.Review).where(col(tables.Review.proposal_id).in_(gone)),
        delete(tables.TeamMember).where(col(tables.TeamMember.proposal_id).in_(gone)),
        delete(tables.Link).where(col(tables.Link.proposal_id).in_(gone)),
        delete(tables.Request).where(col(tables.Request.proposal_id).in_(gone)),
        delete(tables.ChangeNotice).where(
            col(tables.ChangeNotice.proposal_id).in_(select(col(tables.Proposal.id)).where(of_round))
        ),
        delete(tables.Proposal).where(col(tables.Proposal.id).in_(gone)),
        update(tables.Proposal).where(of_round).values(withdrawn=True),
        delete(tables.Quota).where(col(tables.Quota.round_id) == round_id),
        delete(tables.CountryGroup).where(col(tables.CountryGroup.round_id) == round_id),
        delete(tables.RoundFacility).where(col(tables.RoundFacility.round_id) == round_id),
        delete(tables.RoundEquipment).where(col(tables.RoundEquipment.round_id) == round_id),
        delete(tables.RoundInstrument).where(col(tables.RoundInstrument.round_id) == round_id),
    ]
    for statement in statements:
        # Rows of other tables are not loaded in this session; there is nothing to synchronise.
        await session.execute(statement.execution_options(synchronize_session=False))
    return kept
