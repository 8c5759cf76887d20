"""The coordinator's pages: the rounds they manage, a round with one version shown, and two versions compared.

A round page is built from the round as a round file (kept between views: `scheduler.rounds.kept`) and a
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
from datetime import datetime
from zoneinfo import ZoneInfo

from advanced_alchemy.filters import LimitOffset
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.i18n import N_, translate
from api.web.views.panels import (
    ChangeRow,
    Lists,
    QuotaRow,
    Ranking,
    ScheduleSummary,
    add_lists,
    change_rows,
    lists,
    quota_rows,
    summary,
)
from api.web.views.timeline import Payload, Timeline
from scheduler import access
from scheduler.access import Operation
from scheduler.accounts.schemas import Claims
from scheduler.errors import NotFound
from scheduler.jobs import SolveRunPublic, list_runs
from scheduler.roundfile import contract as c
from scheduler.roundfile.checks import InputError
from scheduler.rounds.deadlines import Deadline, round_deadlines
from scheduler.rounds.kept import KeptRound, LeastRecent, RoundInputs, kept_round
from scheduler.rounds.schemas import RoundPublic
from scheduler.rounds.service import RoundService, round_facts
from scheduler.schedules import signoffs
from scheduler.schedules.confidential import withhold
from scheduler.schedules.export import export_schedule
from scheduler.schedules.service import VersionPublic, confided, diff, list_versions
from scheduler.schedules.signoffs import SignOffs
from scheduler.schedules.versions import PUBLISHED

RECENT_RUNS = 8
KEPT_DRAWINGS = 16
"""Round pages' drawings kept, least recently shown dropped first; a facility round's is about 1 MB."""


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
    unallocated: int
    """How many requests of the shown version got no time (their rows are in the payload)."""
    payload: str | None
    """As JSON, what the page's script draws: the timeline and the lists (`api.web.views.timeline.Payload`)."""
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
    payload: str


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
    session: AsyncSession,
    actor: Claims,
    round_id: int,
    *,
    version_id: int | None = None,
    week: int | None = None,
    locale: str,
) -> RoundPage:
    """A round as its coordinators see it, the engine's reasons told in `locale`.

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
        unallocated=0,
        payload=None,
        runs=(await list_runs(session, round_id, LimitOffset(limit=RECENT_RUNS, offset=0))).items,
        sign_offs=None,
    )
    if shown is not None and len(round_.facilities) > 1:
        page.sign_offs = await signoffs.read(session, actor, shown.id)
    try:
        kept = await kept_round(session, round_id)
    except InputError as error:
        return page.model_copy(update={"problems": [f"{p.path}: {p.message}" for p in error.problems]})
    version_id = shown.id if shown is not None else None
    key = None if kept.inputs is None else (kept.inputs, version_id, week, locale, actor)
    drawing = _drawings.get(key) or _drawings.keep(
        key, await _drawing(session, actor, round_id, kept, version_id, week=week, locale=locale)
    )
    return page.model_copy(update=dict(drawing))


class Drawing(BaseModel):
    """What a round page draws of a version for one viewer: the version's figures, timeline and lists."""

    summary: ScheduleSummary | None
    timeline: Timeline
    quotas: list[QuotaRow]
    ranking: Ranking
    unallocated: int
    payload: str


_drawings: LeastRecent[tuple[RoundInputs, int | None, int | None, str, Claims], Drawing] = LeastRecent(KEPT_DRAWINGS)
"""Kept per the round's inputs, the version, the zoom, the language and the viewer (whose claims decide what of the
full export they read): a repeat view of an unchanged round draws nothing again."""


async def _drawing(
    session: AsyncSession,
    actor: Claims,
    round_id: int,
    kept: KeptRound,
    version_id: int | None,
    *,
    week: int | None,
    locale: str,
) -> Drawing:
    """The version as the actor may read it (`withhold`), drawn from the round's kept export."""
    round_file = kept.round_file
    shown_proposals = await confided(session, actor, round_id)
    schedule = withhold(await export_schedule(session, version_id), shown_proposals) if version_id is not None else None
    payload = Payload(round_file, week=week, locale=locale)
    timeline = payload.add_timeline(schedule.allocations if schedule is not None else [])
    ranking = add_lists(payload, round_file, lists(round_file, kept.ranking, schedule, shown_proposals), locale)
    return Drawing(
        summary=summary(schedule) if schedule is not None else None,
        timeline=timeline,
        quotas=quota_rows(round_file, schedule),
        ranking=ranking,
        unallocated=len(payload.extra["unallocated"]),
        payload=payload.embedded(),
    )


async def compare_page(
    session: AsyncSession,
    actor: Claims,
    round_id: int,
    before_id: int,
    after_id: int,
    *,
    week: int | None = None,
    locale: str,
) -> ComparePage:
    """Two versions of a round, one above the other, the requests that changed between them highlighted."""
    round_ = await _managed_round(session, actor, round_id)
    listed = (await list_versions(session, round_id)).items
    versions = {version.id: version for version in listed}
    if before_id not in versions or after_id not in versions:
        raise NotFound(f"round {round_.code} has no versions {before_id} and {after_id}")
    changes = await diff(session, before_id, after_id)
    rows = change_rows(changes)
    round_file = (await kept_round(session, round_id)).round_file
    shown = await confided(session, actor, round_id)
    before = withhold(await export_schedule(session, before_id), shown)
    after = withhold(await export_schedule(session, after_id), shown)
    payload = Payload(round_file, week=week, locale=locale)
    before_label = translate(locale, N_("Version %(number)s")) % {"number": versions[before_id].number}
    after_label = translate(locale, N_("Version %(number)s")) % {"number": versions[after_id].number}
    return ComparePage(
        round=round_,
        versions=listed,
        before=versions[before_id],
        after=versions[after_id],
        changes=rows,
        unchanged=changes.unchanged,
        before_timeline=payload.add_timeline(
            before.allocations, label=before_label, changes={r.request: r.kind for r in rows if r.before}
        ),
        after_timeline=payload.add_timeline(
            after.allocations, label=after_label, changes={r.request: r.kind for r in rows if r.after}
        ),
        payload=payload.embedded(),
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


class InstrumentSlot(BaseModel):
    request: str
    proposal: str
    title: str
    pi: str
    start: datetime
    end: datetime
    """In the facility's time zone."""
    shifts: int
    pinned: bool


class InstrumentSchedule(BaseModel):
    code: str
    name: str
    facility: str
    timezone: str
    slots: list[InstrumentSlot]


class InstrumentsPage(BaseModel):
    round: RoundPublic
    shown: VersionPublic
    instruments: list[InstrumentSchedule]


async def shown_schedule(
    session: AsyncSession, actor: Claims, round_id: int, version_id: int | None
) -> tuple[RoundPublic, VersionPublic | None, KeptRound, c.ScheduleFile | None, frozenset[str]]:
    """The round, the version shown (as on the round page), the round's export, the version's schedule as the actor
    may read it and the proposals the actor reads in confidence."""
    round_ = await _managed_round(session, actor, round_id)
    shown = _pick_version((await list_versions(session, round_id)).items, version_id)
    kept = await kept_round(session, round_id)
    confided_proposals = await confided(session, actor, round_id)
    schedule = None if shown is None else withhold(await export_schedule(session, shown.id), confided_proposals)
    return round_, shown, kept, schedule, confided_proposals


async def round_lists(
    session: AsyncSession, actor: Claims, round_id: int, version_id: int | None
) -> tuple[c.RoundFile, Lists]:
    """The round file, and the ranking and unallocated requests of the version the round page shows."""
    _, _, kept, schedule, confided_proposals = await shown_schedule(session, actor, round_id, version_id)
    return kept.round_file, lists(kept.round_file, kept.ranking, schedule, confided_proposals)


async def instruments_page(
    session: AsyncSession, actor: Claims, round_id: int, version_id: int | None, instrument: str | None
) -> InstrumentsPage:
    """Each instrument's allocations in time order, in its facility's time zone: what beamline staff work from."""
    round_, shown, kept, schedule, _ = await shown_schedule(session, actor, round_id, version_id)
    round_file = kept.round_file
    if shown is None or schedule is None:
        raise NotFound(f"round {round_.code} has no schedule version yet")
    proposals = {proposal.id: proposal for proposal in round_file.proposals}
    chosen = [
        (facility, item)
        for facility in round_file.facilities
        for item in facility.instruments
        if instrument is None or item.id == instrument
    ]
    if not chosen:
        raise NotFound(f"round {round_.code} has no instrument {instrument}")
    schedules = []
    for facility, item in chosen:
        zone = ZoneInfo(facility.timezone)
        slots = [
            InstrumentSlot(
                request=allocation.request,
                proposal=allocation.proposal,
                title=proposals[allocation.proposal].title if allocation.proposal in proposals else "",
                pi=proposals[allocation.proposal].pi.name if allocation.proposal in proposals else "",
                start=allocation.start.astimezone(zone),
                end=allocation.end.astimezone(zone),
                shifts=allocation.shifts,
                pinned=allocation.pinned,
            )
            for allocation in sorted(schedule.allocations, key=lambda a: a.start_shift)
            if allocation.instrument == item.id
        ]
        schedules.append(
            InstrumentSchedule(
                code=item.id, name=item.name, facility=facility.name, timezone=facility.timezone, slots=slots
            )
        )
    return InstrumentsPage(round=round_, shown=shown, instruments=schedules)
