"""What the dashboard's pages show, read with the same access rules as the API.

A coordinator's round page is built from the round as a round file
(`export_round`) and a schedule version as a schedule file (`export_schedule`),
so the timeline, the quota shares and the reasons are exactly what the API and
the engine report. Positions on the timeline are computed here, as shares of
the shown span, so that templates only place boxes.

Blocks are coloured by the category a coordinator balances quotas over: in-house
and industrial proposals by their type, the others as domestic (the PI's country
is the country of the facility where the time is) or by the PI's country group,
else as other foreign.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.accounts.service import Claims, coordinates_round
from scheduler.catalogue.service import RoundPublic, get_round, list_rounds
from scheduler.errors import NotFound
from scheduler.jobs import SolveRunPublic, list_runs
from scheduler.roundfile import contract as c
from scheduler.roundfile.checks import InputError
from scheduler.roundfile.grid import Grid, merge
from scheduler.roundfile.scoring import score_round
from scheduler.rounds.roundio import export_round, export_schedule
from scheduler.schedules.calendar import ProposalStatus, calendar_path, my_proposals
from scheduler.schedules.notices import ChangeNoticePublic, my_changes
from scheduler.schedules.service import PUBLISHED, VersionDiff, VersionPublic, diff, list_versions

DAYS_PER_WEEK = 7
RECENT_RUNS = 8
CHANGE_LOG_LENGTH = 50
LABELLED_DAYS = 21
"""Up to this many days the whole round's axis labels each day, not only each week."""
FULL_VIEW_DAY_TICKS = 120
"""Past this many days the whole round's axis draws no line per day, only per week."""

DOMESTIC, FOREIGN, INDUSTRIAL, IN_HOUSE = "domestic", "foreign", "industrial", "in_house"
GROUP_PREFIX = "group:"
DOMESTIC_COLOUR = "#2563eb"
FOREIGN_COLOUR = "#0e7490"
INDUSTRIAL_COLOUR = "#d97706"
IN_HOUSE_COLOUR = "#64748b"
GROUP_COLOURS = ("#0d9488", "#7c3aed", "#db2777", "#65a30d", "#c2410c", "#4f46e5")
"""One per country group in the round's order, repeating past six."""

CHANGE_KINDS = ("moved", "resized", "dropped", "added")


class Category(BaseModel):
    key: str
    label: str
    colour: str


WITHDRAWN_CATEGORY = Category(key="withdrawn", label="Withdrawn since", colour="#cbd5e1")
"""A version made before its proposal was withdrawn still shows the block."""


class Block(BaseModel):
    """An allocation on the timeline; `left` and `width` are percentages of the shown span."""

    request: str
    proposal: str
    title: str
    pi: str
    countries: list[str]
    category: str
    category_label: str
    colour: str
    priority: float
    instrument: str
    start_shift: int
    shifts: int
    start: datetime
    end: datetime
    """Start and end in the facility's timezone."""
    pinned: bool
    change: str | None = None
    """moved, resized, dropped or added, when the page compares two versions."""
    left: float
    width: float


class Band(BaseModel):
    """A window or a changeover on an instrument's row."""

    kind: str
    label: str
    start_shift: int
    end_shift: int
    left: float
    width: float


class InstrumentRow(BaseModel):
    code: str
    name: str
    changeover_shifts: int
    blocks: list[Block]
    windows: list[Band]
    changeovers: list[Band]
    allocated_shifts: int
    usable_shifts: int
    """Unblocked shifts in the whole round."""

    @property
    def utilisation(self) -> float | None:
        return self.allocated_shifts / self.usable_shifts if self.usable_shifts else None


class FacilityRows(BaseModel):
    code: str
    name: str
    country: str
    timezone: str
    instruments: list[InstrumentRow]


class Tick(BaseModel):
    left: float
    label: str
    major: bool


class Week(BaseModel):
    number: int
    start: datetime
    end: datetime


class Timeline(BaseModel):
    first_shift: int
    end_shift: int
    shift_hours: int
    week: int | None
    weeks: list[Week]
    ticks: list[Tick]
    categories: list[Category]
    facilities: list[FacilityRows]

    @property
    def block_count(self) -> int:
        return sum(len(row.blocks) for facility in self.facilities for row in facility.instruments)


class QuotaRow(BaseModel):
    id: str
    category: str
    scope: str
    attribution: str
    soft: bool
    min_share: float | None
    max_share: float | None
    share: float | None
    met: bool | None
    """None when the shown schedule does not report on the quota."""
    penalty: float | None


class RankRow(BaseModel):
    rank: int
    proposal: str
    title: str
    pi_country: str
    type: str
    colour: str
    final_grade: float | None
    priority: float | None
    requested_shifts: int
    allocated_shifts: int
    excluded_reason: str | None
    excluded_detail: str | None


class Ranking(BaseModel):
    rows: list[RankRow]
    cutoff_index: int | None
    """Rows from this index on get no time by the scoring rules; None when every proposal is eligible."""
    cutoff_grade: float | None


class UnallocatedRow(BaseModel):
    proposal: str
    request: str
    title: str
    reason: str
    detail: str | None


class ScheduleSummary(BaseModel):
    status: str
    objective: float
    bound: float | None
    allocated_requests: int
    allocated_shifts: int
    unallocated_requests: int
    notes: list[str]


class RoundCard(BaseModel):
    round: RoundPublic
    published: VersionPublic | None
    drafts: int


class RoundPage(BaseModel):
    round: RoundPublic
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


class ChangeRow(BaseModel):
    kind: str
    proposal: str
    request: str
    before: c.Slot | None
    after: c.Slot | None


class ComparePage(BaseModel):
    round: RoundPublic
    versions: list[VersionPublic]
    before: VersionPublic
    after: VersionPublic
    changes: list[ChangeRow]
    unchanged: int
    before_timeline: Timeline
    after_timeline: Timeline


class ProposerPage(BaseModel):
    proposals: list[ProposalStatus]
    calendar_url: str
    changes: list[ChangeNoticePublic]
    """The change log, newest first."""


# Pages


async def coordinated_rounds(session: AsyncSession, actor: Claims) -> list[RoundCard]:
    """The rounds the actor manages, newest first, with their published version and draft count."""
    cards = []
    for round_ in await list_rounds(session):
        if not await coordinates_round(session, actor, round_.id):
            continue
        versions = (await list_versions(session, round_.id)).versions
        published = next((v for v in versions if v.status == PUBLISHED), None)
        cards.append(RoundCard(round=round_, published=published, drafts=sum(v.status == "draft" for v in versions)))
    return cards


async def round_page(
    session: AsyncSession, actor: Claims, round_id: int, *, version_id: int | None = None, week: int | None = None
) -> RoundPage:
    """A round as its coordinators see it; NotFound for everyone else, as the API answers.

    The version shown is `version_id`, else the published one, else the newest.
    """
    round_ = await _managed_round(session, actor, round_id)
    listed = await list_versions(session, round_id)
    shown = _pick_version(listed.versions, version_id)
    runs = (await list_runs(session, round_id))[:RECENT_RUNS]
    page = RoundPage(
        round=round_,
        problems=[],
        revision=listed.revision,
        versions=listed.versions,
        shown=shown,
        summary=None,
        timeline=None,
        quotas=[],
        ranking=None,
        unallocated=[],
        runs=runs,
    )
    try:
        round_file = await export_round(session, round_id)
    except InputError as error:
        return page.model_copy(update={"problems": [f"{p.path}: {p.message}" for p in error.problems]})
    schedule = await export_schedule(session, shown.id) if shown is not None else None
    allocations = schedule.allocations if schedule is not None else []
    return page.model_copy(
        update={
            "summary": _summary(schedule) if schedule is not None else None,
            "timeline": timeline(round_file, allocations, week=week),
            "quotas": _quota_rows(round_file, schedule),
            "ranking": _ranking(round_file, allocations),
            "unallocated": _unallocated_rows(round_file, schedule),
        }
    )


async def compare_page(
    session: AsyncSession, actor: Claims, round_id: int, before_id: int, after_id: int, *, week: int | None = None
) -> ComparePage:
    """Two versions of a round, one above the other, the requests that changed between them highlighted."""
    round_ = await _managed_round(session, actor, round_id)
    listed = (await list_versions(session, round_id)).versions
    versions = {version.id: version for version in listed}
    if before_id not in versions or after_id not in versions:
        raise NotFound(f"round {round_.code} has no versions {before_id} and {after_id}")
    changes = await diff(session, before_id, after_id)
    round_file = await export_round(session, round_id)
    before, after = await export_schedule(session, before_id), await export_schedule(session, after_id)
    rows = _change_rows(changes)
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


async def proposer_page(session: AsyncSession, user_id: int, public_url: str) -> ProposerPage:
    """The user's own proposals and slots only: nothing of other teams is read."""
    return ProposerPage(
        proposals=await my_proposals(session, user_id),
        calendar_url=public_url.rstrip("/") + await calendar_path(session, user_id),
        changes=await my_changes(session, user_id, limit=CHANGE_LOG_LENGTH, offset=0),
    )


async def _managed_round(session: AsyncSession, actor: Claims, round_id: int) -> RoundPublic:
    if not await coordinates_round(session, actor, round_id):
        raise NotFound(f"no round {round_id}")
    return await get_round(session, round_id)


def _pick_version(versions: Sequence[VersionPublic], version_id: int | None) -> VersionPublic | None:
    if version_id is not None:
        chosen = next((version for version in versions if version.id == version_id), None)
        if chosen is None:
            raise NotFound(f"the round has no schedule version {version_id}")
        return chosen
    published = next((version for version in versions if version.status == PUBLISHED), None)
    return published or max(versions, key=lambda version: version.number, default=None)


# The timeline


def timeline(
    round_file: c.RoundFile,
    allocations: Sequence[c.Allocation],
    *,
    week: int | None = None,
    changes: Mapping[str, str] | None = None,
) -> Timeline:
    """One row per instrument, grouped by facility, over the whole round or its `week` (1 = the first)."""
    grid = Grid(round_file.round)
    weeks = _weeks(round_file.round, grid)
    if week is not None and not 1 <= week <= len(weeks):
        raise NotFound(f"the round has weeks 1 to {len(weeks)}")
    view = (0, grid.count) if week is None else grid.covering(weeks[week - 1].start, weeks[week - 1].end) or (0, 0)
    proposals = {proposal.id: proposal for proposal in round_file.proposals}
    placed: dict[str, list[c.Allocation]] = defaultdict(list)
    for allocation in sorted(allocations, key=lambda a: (a.start_shift, a.request)):
        placed[allocation.instrument].append(allocation)
    facilities = []
    for facility in round_file.facilities:
        rows = []
        for instrument in facility.instruments:
            blocked = _blocked(grid, [*facility.maintenance, *instrument.maintenance])
            row_allocations = placed[instrument.id]
            rows.append(
                InstrumentRow(
                    code=instrument.id,
                    name=instrument.name,
                    changeover_shifts=instrument.changeover_shifts,
                    blocks=[
                        _block(grid, view, facility, allocation, proposals, round_file.country_groups, changes)
                        for allocation in row_allocations
                        if _overlaps(view, allocation.start_shift, allocation.start_shift + allocation.shifts)
                    ],
                    windows=[
                        band
                        for window in [*facility.maintenance, *instrument.maintenance]
                        if (band := _window_band(grid, view, window)) is not None
                    ],
                    changeovers=_changeovers(view, instrument.changeover_shifts, row_allocations),
                    allocated_shifts=sum(allocation.shifts for allocation in row_allocations),
                    usable_shifts=grid.count - sum(end - start for start, end in blocked),
                )
            )
        facilities.append(
            FacilityRows(
                code=facility.id,
                name=facility.name,
                country=facility.country,
                timezone=facility.timezone,
                instruments=rows,
            )
        )
    legend = categories(round_file.country_groups)
    withdrawn = any(
        block.category == WITHDRAWN_CATEGORY.key
        for facility in facilities
        for row in facility.instruments
        for block in row.blocks
    )
    return Timeline(
        first_shift=view[0],
        end_shift=view[1],
        shift_hours=round_file.round.shift_hours,
        week=week,
        weeks=weeks,
        ticks=_ticks(grid, view, week is not None),
        categories=[*legend, WITHDRAWN_CATEGORY] if withdrawn else legend,
        facilities=facilities,
    )


def categories(country_groups: Mapping[str, Sequence[str]]) -> list[Category]:
    """The legend, in the order a block's category is decided after its type."""
    return [
        Category(key=DOMESTIC, label="Domestic", colour=DOMESTIC_COLOUR),
        *(
            Category(key=GROUP_PREFIX + name, label=name, colour=GROUP_COLOURS[index % len(GROUP_COLOURS)])
            for index, name in enumerate(country_groups)
        ),
        Category(key=FOREIGN, label="Other foreign", colour=FOREIGN_COLOUR),
        Category(key=INDUSTRIAL, label="Industrial", colour=INDUSTRIAL_COLOUR),
        Category(key=IN_HOUSE, label="In-house", colour=IN_HOUSE_COLOUR),
    ]


def category_of(proposal: c.Proposal, facility_country: str, country_groups: Mapping[str, Sequence[str]]) -> str:
    if proposal.type == "industrial":
        return INDUSTRIAL
    if proposal.type == "in_house":
        return IN_HOUSE
    if proposal.pi.country == facility_country:
        return DOMESTIC
    group = next((name for name, countries in country_groups.items() if proposal.pi.country in countries), None)
    return FOREIGN if group is None else GROUP_PREFIX + group


def _block(
    grid: Grid,
    view: tuple[int, int],
    facility: c.Facility,
    allocation: c.Allocation,
    proposals: Mapping[str, c.Proposal],
    country_groups: Mapping[str, Sequence[str]],
    changes: Mapping[str, str] | None,
) -> Block:
    proposal = proposals.get(allocation.proposal)
    category = (
        WITHDRAWN_CATEGORY
        if proposal is None
        else next(
            entry
            for entry in categories(country_groups)
            if entry.key == category_of(proposal, facility.country, country_groups)
        )
    )
    zone = ZoneInfo(facility.timezone)
    end_shift = allocation.start_shift + allocation.shifts
    left, width = _place(view, allocation.start_shift, end_shift)
    return Block(
        request=allocation.request,
        proposal=allocation.proposal,
        title=proposal.title if proposal else "",
        pi=proposal.pi.name if proposal else "",
        countries=list(dict.fromkeys([proposal.pi.country, *(m.country for m in proposal.team)])) if proposal else [],
        category=category.key,
        category_label=category.label,
        colour=category.colour,
        priority=allocation.priority,
        instrument=allocation.instrument,
        start_shift=allocation.start_shift,
        shifts=allocation.shifts,
        start=grid.time(allocation.start_shift).astimezone(zone),
        end=grid.time(end_shift).astimezone(zone),
        pinned=allocation.pinned,
        change=(changes or {}).get(allocation.request),
        left=left,
        width=width,
    )


def _blocked(grid: Grid, windows: Sequence[c.Window]) -> tuple[tuple[int, int], ...]:
    return merge(span for window in windows if (span := grid.covering(window.start, window.end)) is not None)


def _window_band(grid: Grid, view: tuple[int, int], window: c.Window) -> Band | None:
    span = grid.covering(window.start, window.end)
    if span is None or not _overlaps(view, *span):
        return None
    left, width = _place(view, *span)
    label = window.kind.replace("_", " ") + (f": {window.reason}" if window.reason else "")
    return Band(kind=window.kind, label=label, start_shift=span[0], end_shift=span[1], left=left, width=width)


def _changeovers(view: tuple[int, int], shifts: int, allocations: Sequence[c.Allocation]) -> list[Band]:
    """The changeover after each block that another block follows on the same instrument."""
    bands = []
    for allocation, following in pairwise(allocations):
        start = allocation.start_shift + allocation.shifts
        end = min(start + shifts, following.start_shift)
        if shifts and start < end and _overlaps(view, start, end):
            left, width = _place(view, start, end)
            label = f"changeover, {shifts} shift{'s' if shifts > 1 else ''}"
            bands.append(Band(kind="changeover", label=label, start_shift=start, end_shift=end, left=left, width=width))
    return bands


def _overlaps(view: tuple[int, int], start: int, end: int) -> bool:
    return start < view[1] and end > view[0]


def _place(view: tuple[int, int], start: int, end: int) -> tuple[float, float]:
    """Left edge and width as percentages of the view, clipped to it."""
    first, stop = view
    length = max(1, stop - first)
    left = max(start, first) - first
    return round(100 * left / length, 4), round(100 * (min(end, stop) - first - left) / length, 4)


def _weeks(info: c.RoundInfo, grid: Grid) -> list[Week]:
    end = grid.time(grid.count)
    weeks: list[Week] = []
    start = info.start
    while start < end:
        stop = min(start + timedelta(days=DAYS_PER_WEEK), end)
        weeks.append(Week(number=len(weeks) + 1, start=start, end=stop))
        start = stop
    return weeks


def _ticks(grid: Grid, view: tuple[int, int], one_week: bool) -> list[Tick]:
    """Lines and labels of the axis: a week's view has its days labelled and a line per shift; the whole
    round has its weeks labelled, its days too when they fit, and a line per day unless there are too many."""
    first, stop = view
    if stop <= first:
        return []
    start, end = grid.time(first), grid.time(stop)
    span = (end - start).total_seconds()

    def left(moment: datetime) -> float:
        return round(100 * (moment - start).total_seconds() / span, 4)

    day = timedelta(days=1)
    days = [grid.start + number * day for number in range((grid.time(grid.count) - grid.start) // day + 1)]
    shown = [(number, moment) for number, moment in enumerate(days) if start <= moment < end]
    if one_week:
        shifts = [grid.time(shift) for shift in range(first, stop)]
        return [Tick(left=left(moment), label="", major=False) for moment in shifts if moment not in days] + [
            Tick(left=left(moment), label=f"{moment:%a %d %b}", major=True) for _, moment in shown
        ]
    label_days = len(days) <= LABELLED_DAYS
    ticks = []
    for number, moment in shown:
        week_start = number % DAYS_PER_WEEK == 0
        if week_start:
            ticks.append(Tick(left=left(moment), label=f"{moment:%d %b}", major=True))
        elif label_days or len(days) <= FULL_VIEW_DAY_TICKS:
            ticks.append(Tick(left=left(moment), label=f"{moment:%d}" if label_days else "", major=False))
    return ticks


# Panels


def _summary(schedule: c.ScheduleFile) -> ScheduleSummary:
    return ScheduleSummary(
        status=schedule.status,
        objective=schedule.objective,
        bound=schedule.bound,
        allocated_requests=len(schedule.allocations),
        allocated_shifts=sum(allocation.shifts for allocation in schedule.allocations),
        unallocated_requests=len(schedule.unallocated),
        notes=schedule.notes,
    )


def _quota_rows(round_file: c.RoundFile, schedule: c.ScheduleFile | None) -> list[QuotaRow]:
    reports = {report.id: report for report in schedule.quotas} if schedule is not None else {}
    rows = []
    for quota in round_file.quotas:
        report = reports.get(quota.id)
        rows.append(
            QuotaRow(
                id=quota.id,
                category=_category_words(quota.category),
                scope=_scope_words(quota.scope),
                attribution="by team" if quota.attribution == "team" else "by PI",
                soft=quota.soft,
                min_share=quota.min_share,
                max_share=quota.max_share,
                share=report.share if report is not None else None,
                met=report.met if report is not None else None,
                penalty=report.penalty if report is not None else None,
            )
        )
    return rows


def _category_words(category: c.QuotaCategory) -> str:
    if category.foreign:
        return "Foreign"
    if category.domestic:
        return "Domestic"
    if category.country is not None:
        return f"Country {category.country}"
    if category.country_group is not None:
        return f"Group {category.country_group}"
    if category.proposal_type is not None:
        return category.proposal_type.replace("_", " ").capitalize() + " proposals"
    if category.each_country:
        return "Each country"
    return "Each foreign country"


def _scope_words(scope: c.QuotaScope) -> str:
    parts = [*(scope.facilities or []), *(scope.instruments or [])]
    return ", ".join(parts) if parts else "all instruments"


def _ranking(round_file: c.RoundFile, allocations: Sequence[c.Allocation]) -> Ranking:
    proposals = {proposal.id: proposal for proposal in round_file.proposals}
    allocated: dict[str, int] = defaultdict(int)
    for allocation in allocations:
        allocated[allocation.proposal] += allocation.shifts
    home = {facility.id: facility.country for facility in round_file.facilities}
    first_country = home[round_file.facilities[0].id]
    colours = {entry.key: entry.colour for entry in categories(round_file.country_groups)}
    rows = [
        RankRow(
            rank=score.rank,
            proposal=score.proposal,
            title=proposals[score.proposal].title,
            pi_country=score.pi_country,
            type=score.type,
            colour=colours[category_of(proposals[score.proposal], first_country, round_file.country_groups)],
            final_grade=score.final_grade,
            priority=score.priority,
            requested_shifts=sum(request.shifts for request in proposals[score.proposal].requests),
            allocated_shifts=allocated[score.proposal],
            excluded_reason=score.excluded_reason,
            excluded_detail=score.excluded_detail,
        )
        for score in score_round(round_file)
    ]
    cutoff_index = next((index for index, row in enumerate(rows) if row.excluded_reason is not None), None)
    cutoff = round_file.scoring.cutoff if round_file.scoring is not None else None
    return Ranking(rows=rows, cutoff_index=cutoff_index, cutoff_grade=cutoff)


def _unallocated_rows(round_file: c.RoundFile, schedule: c.ScheduleFile | None) -> list[UnallocatedRow]:
    if schedule is None:
        return []
    titles = {proposal.id: proposal.title for proposal in round_file.proposals}
    return [
        UnallocatedRow(
            proposal=entry.proposal,
            request=entry.request,
            title=titles.get(entry.proposal, ""),
            reason=entry.reason,
            detail=entry.detail,
        )
        for entry in schedule.unallocated
    ]


def _change_rows(changes: VersionDiff) -> list[ChangeRow]:
    kinds = {"moved": changes.moved, "resized": changes.resized, "dropped": changes.dropped, "added": changes.added}
    return [
        ChangeRow(kind=kind, proposal=change.proposal, request=change.request, before=change.before, after=change.after)
        for kind in CHANGE_KINDS
        for change in kinds[kind]
    ]
