"""The coordinator's pages: the rounds they manage, a round with one version shown, and two versions compared.

A round page is built from the round as a round file (`export_round`) and a
schedule version as a schedule file (`export_schedule`): priorities, reasons and drafts,
so a round's page is `READ_SCHEDULE` of the policy with its drafts, and to anyone else the
round's page does not exist (NotFound). Grades, priorities and reasons are shown only of the
proposals the viewer reads in confidence (`confided`: in a shared round, those asking for
their facilities' instruments). A shared round's page says who signed off the version shown
and whose sign-off is awaited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from advanced_alchemy.filters import LimitOffset
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.web.views.panels import (
    ChangeRow,
    QuotaRow,
    Ranking,
    ScheduleSummary,
    UnallocatedRow,
    change_rows,
    quota_rows,
    ranking,
    summary,
    unallocated_rows,
)
from api.web.views.timeline import Timeline, timeline
from scheduler import access
from scheduler.access import Operation
from scheduler.accounts.schemas import Claims
from scheduler.errors import NotFound
from scheduler.jobs import SolveRunPublic, list_runs
from scheduler.roundfile.checks import InputError
from scheduler.rounds.deadlines import Deadline, round_deadlines
from scheduler.rounds.exporter import export_round
from scheduler.rounds.schemas import RoundPublic
from scheduler.rounds.service import RoundService, round_facts
from scheduler.schedules import signoffs
from scheduler.schedules.export import export_schedule
from scheduler.schedules.service import PUBLISHED, VersionPublic, confided, diff, list_versions, withhold
from scheduler.schedules.signoffs import SignOffs

RECENT_RUNS = 8


class RoundCard(BaseModel):
    round: RoundPublic
    published: VersionPublic | None
    drafts: int


class RoundPage(BaseModel):
    round: RoundPublic
    deadlines: list[Deadline]
    """What is due (the call's close, the reviews'), in the round's time zone, and whether it has passed."""
    problems: list[str]
    """Why the round is not yet a complete round file (no facility, a proposal without requests)."""
    revision: int
    versions: list[VersionPublic]
    shown: VersionPublic | None
    summary: ScheduleSummary | None
    timeline: Timeline | None
    quotas: list[QuotaRow]
    ranking: Ranking | None
    unallocated: list[UnallocatedRow]
    runs: list[SolveRunPublic]
    sign_offs: SignOffs | None
    """Of the version shown, in a shared round."""


class ComparePage(BaseModel):
    round: RoundPublic
    versions: list[VersionPublic]
    before: VersionPublic
    after: VersionPublic
    changes: list[ChangeRow]
    unchanged: int
    before_timeline: Timeline
    after_timeline: Timeline


async def coordinated_rounds(session: AsyncSession, actor: Claims) -> list[RoundCard]:
    """The rounds the actor manages, newest first, with their published version and draft count."""
    cards = []
    for round_ in (await RoundService(session=session).list_page()).items:
        if not access.may(actor, Operation.READ_SCHEDULE, await _facts(session, round_.id)):
            continue
        versions = (await list_versions(session, round_.id)).items
        published = next((v for v in versions if v.status == PUBLISHED), None)
        cards.append(RoundCard(round=round_, published=published, drafts=sum(v.status == "draft" for v in versions)))
    return cards


async def round_page(
    session: AsyncSession, actor: Claims, round_id: int, *, version_id: int | None = None, week: int | None = None
) -> RoundPage:
    """A round as its coordinators see it.

    The version shown is `version_id`, else the published one, else the newest.
    """
    round_ = await _managed_round(session, actor, round_id)
    listed = await list_versions(session, round_id)
    shown = _pick_version(listed.items, version_id)
    page = RoundPage(
        round=round_,
        deadlines=await round_deadlines(session, round_),
        problems=[],
        revision=listed.revision,
        versions=listed.items,
        shown=shown,
        summary=None,
        timeline=None,
        quotas=[],
        ranking=None,
        unallocated=[],
        runs=(await list_runs(session, round_id, LimitOffset(limit=RECENT_RUNS, offset=0))).items,
        sign_offs=None,
    )
    if shown is not None and len(round_.facilities) > 1:
        page.sign_offs = await signoffs.read(session, actor, shown.id)
    try:
        round_file = await export_round(session, round_id)
    except InputError as error:
        return page.model_copy(update={"problems": [f"{p.path}: {p.message}" for p in error.problems]})
    shown_proposals = await confided(session, actor, round_id)
    schedule = withhold(await export_schedule(session, shown.id), shown_proposals) if shown is not None else None
    allocations = schedule.allocations if schedule is not None else []
    return page.model_copy(
        update={
            "summary": summary(schedule) if schedule is not None else None,
            "timeline": timeline(round_file, allocations, week=week),
            "quotas": quota_rows(round_file, schedule),
            "ranking": ranking(round_file, allocations, shown_proposals),
            "unallocated": unallocated_rows(round_file, schedule),
        }
    )


async def compare_page(
    session: AsyncSession, actor: Claims, round_id: int, before_id: int, after_id: int, *, week: int | None = None
) -> ComparePage:
    """Two versions of a round, one above the other, the requests that changed between them highlighted."""
    round_ = await _managed_round(session, actor, round_id)
    listed = (await list_versions(session, round_id)).items
    versions = {version.id: version for version in listed}
    if before_id not in versions or after_id not in versions:
        raise NotFound(f"round {round_.code} has no versions {before_id} and {after_id}")
    changes = await diff(session, before_id, after_id)
    rows = change_rows(changes)
    round_file = await export_round(session, round_id)
    shown = await confided(session, actor, round_id)
    before = withhold(await export_schedule(session, before_id), shown)
    after = withhold(await export_schedule(session, after_id), shown)
    return ComparePage(
        round=round_,
        versions=listed,
        before=versions[before_id],
        after=versions[after_id],
        changes=rows,
        unchanged=changes.unchanged,
        before_timeline=timeline(
            round_file, before.allocations, week=week, changes={r.request: r.kind for r in rows if r.before}
        ),
        after_timeline=timeline(
            round_file, after.allocations, week=week, changes={r.request: r.kind for r in rows if r.after}
        ),
    )


async def _managed_round(session: AsyncSession, actor: Claims, round_id: int) -> RoundPublic:
    access.require(actor, Operation.READ_SCHEDULE, await _facts(session, round_id), f"round {round_id}")
    return await RoundService(session=session).read(round_id)


async def _facts(session: AsyncSession, round_id: int) -> access.Facts:
    """The round's page shows its drafts: whoever may not read them may not know the page exists."""
    return replace(await round_facts(session, round_id), draft=True)


def _pick_version(versions: Sequence[VersionPublic], version_id: int | None) -> VersionPublic | None:
    if version_id is not None:
        chosen = next((version for version in versions if version.id == version_id), None)
        if chosen is None:
            raise NotFound(f"the round has no schedule version {version_id}")
        return chosen
    published = next((version for version in versions if version.status == PUBLISHED), None)
    return published or max(versions, key=lambda version: version.number, default=None)
