"""Usage reports and schedule spreadsheets of the rounds in the database, as the viewer may read them.

The figures are `scheduler.reports.usage`'s, computed from the same two files the
command line reads: the round as `export_round` writes it and the version as
`export_schedule` does, so the API, the dashboard and `beamtime report` agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler import access
from scheduler.access import Facts, Operation
from scheduler.accounts.schemas import Claims
from scheduler.db.tables import Round, RoundFacility, ScheduleVersion
from scheduler.errors import NotFound
from scheduler.reports.usage import Grouping, UsageReport, usage_report
from scheduler.roundfile.contract import RoundFile, ScheduleFile
from scheduler.roundfile.quotas import Attribution
from scheduler.roundfile.solving import set_aside
from scheduler.rounds.exporter import export_round
from scheduler.rounds.service import require_round
from scheduler.schedules.export import export_schedule
from scheduler.schedules.service import export_for, require_readers
from scheduler.schedules.versions import PUBLISHED


class RoundUsage(BaseModel):
    """One round's usage report and the schedule version it reports on."""

    round_id: int
    version_id: int
    report: UsageReport


class UsageAcrossRounds(BaseModel):
    by: Grouping
    attribution: Attribution
    rounds: list[RoundUsage]
    """Oldest round first; a round without a published schedule has nothing to report and is left out."""


@dataclass(frozen=True)
class ScheduleSheet:
    """What a schedule spreadsheet is drawn from: the round as it is and the version as the viewer may read it."""

    round_file: RoundFile
    schedule: ScheduleFile


async def round_usage(
    session: AsyncSession,
    actor: Claims,
    round_id: int,
    by: Grouping,
    attribution: Attribution = "pi",
    version_id: int | None = None,
) -> RoundUsage:
    """The usage of the round's schedule in force, or of `version_id`, which must be one of the round's versions."""
    round_ = await require_round(session, actor, Operation.READ_USAGE, round_id)
    if version_id is None:
        version_id = await session.scalar(
            select(col(ScheduleVersion.id)).where(
                col(ScheduleVersion.round_id) == round_id, col(ScheduleVersion.status) == PUBLISHED
            )
        )
        if version_id is None:
            raise NotFound(f"round {round_.code} has no published schedule to report on")
    elif await session.scalar(select(col(ScheduleVersion.round_id)).where(col(ScheduleVersion.id) == version_id)) != (
        round_id
    ):
        raise NotFound(f"no schedule version {version_id} of round {round_.code}")
    return await _usage(session, round_id, version_id, by, attribution)


async def usage_across_rounds(
    session: AsyncSession,
    actor: Claims,
    by: Grouping,
    attribution: Attribution = "pi",
    round_ids: Sequence[int] | None = None,
) -> UsageAcrossRounds:
    """Each named round's usage (each must be readable), or that of every round the actor may read."""
    if round_ids is not None:
        for round_id in round_ids:
            await require_round(session, actor, Operation.READ_USAGE, round_id)
    published = select(col(ScheduleVersion.round_id), col(ScheduleVersion.id)).where(
        col(ScheduleVersion.status) == PUBLISHED
    )
    if round_ids is not None:
        published = published.where(col(ScheduleVersion.round_id).in_(round_ids))
    in_force: dict[int, int] = {
        round_id: version_id for round_id, version_id in (await session.execute(published)).all() if version_id
    }
    facilities: dict[int, set[int]] = defaultdict(set)
    for round_id, facility_id in await session.execute(
        select(col(RoundFacility.round_id), col(RoundFacility.facility_id)).where(
            col(RoundFacility.round_id).in_(in_force)
        )
    ):
        facilities[round_id].add(facility_id)
    ordered = await session.scalars(
        select(col(Round.id)).where(col(Round.id).in_(in_force)).order_by(col(Round.start), col(Round.id))
    )
    readable = [
        round_id
        for round_id in ordered
        if round_id is not None
        and access.may(actor, Operation.READ_USAGE, Facts(facilities=frozenset(facilities[round_id])))
    ]
    return UsageAcrossRounds(
        by=by,
        attribution=attribution,
        rounds=[await _usage(session, round_id, in_force[round_id], by, attribution) for round_id in readable],
    )


async def _usage(
    session: AsyncSession, round_id: int, version_id: int, by: Grouping, attribution: Attribution
) -> RoundUsage:
    # The schedule file leaves out proposals that break the round's rules (`set_aside`); so does the report.
    round_file = set_aside(await export_round(session, round_id)).round_file
    schedule = await export_schedule(session, version_id)
    return RoundUsage(
        round_id=round_id, version_id=version_id, report=usage_report(round_file, schedule, by, attribution)
    )


async def schedule_sheet(session: AsyncSession, actor: Claims, version_id: int) -> ScheduleSheet:
    """A version and its round for a spreadsheet, read as the schedule export is (`READ_SCHEDULE`, withheld
    priorities): the round file names each allocation's proposal, PI and facility."""
    await require_readers(session, actor, version_id)
    schedule = await export_for(session, actor, version_id)
    round_id = await session.scalar(select(col(ScheduleVersion.round_id)).where(col(ScheduleVersion.id) == version_id))
    assert round_id is not None, "require_readers found the version"
    return ScheduleSheet(await export_round(session, round_id), schedule)
