"""The timeline: one row per instrument, grouped by facility, over the whole round or one week.

Positions are shares of the shown span (CSS percentages), computed here so that
templates only place boxes: allocations as blocks coloured by category, windows
and changeovers as bands, and the axis as ticks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from api.web.views.palette import WITHDRAWN_CATEGORY, Category, categories, category_of
from scheduler.errors import NotFound
from scheduler.roundfile import contract as c
from scheduler.roundfile.grid import Grid, merge

DAYS_PER_WEEK = 7
LABELLED_DAYS = 21
"""Up to this many days the whole round's axis labels each day, not only each week."""
FULL_VIEW_DAY_TICKS = 120
"""Past this many days the whole round's axis draws no line per day, only per week."""

Span = tuple[int, int]
"""First shift and the shift after the last."""


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


def timeline(
    round_file: c.RoundFile,
    allocations: Sequence[c.Allocation],
    *,
    week: int | None = None,
    changes: Mapping[str, str] | None = None,
) -> Timeline:
    """One row per instrument, grouped by facility, over the whole round or its `week` (1 = the first).

    `changes` marks blocks by request: moved, resized, dropped or added.
    """
    grid = Grid(round_file.round)
    weeks = _weeks(round_file.round, grid)
    if week is not None and not 1 <= week <= len(weeks):
        raise NotFound(f"the round has weeks 1 to {len(weeks)}")
    view = (0, grid.count) if week is None else grid.covering(weeks[week - 1].start, weeks[week - 1].end) or (0, 0)
    legend = categories(round_file.country_groups)
    placed: dict[str, list[c.Allocation]] = defaultdict(list)
    for allocation in sorted(allocations, key=lambda a: (a.start_shift, a.request)):
        placed[allocation.instrument].append(allocation)
    painter = _BlockPainter(
        grid=grid,
        view=view,
        proposals={proposal.id: proposal for proposal in round_file.proposals},
        country_groups=round_file.country_groups,
        legend={entry.key: entry for entry in legend},
        changes=changes or {},
    )
    facilities = [
        FacilityRows(
            code=facility.id,
            name=facility.name,
            country=facility.country,
            timezone=facility.timezone,
            instruments=[
                _instrument_row(grid, view, facility, instrument, placed[instrument.id], painter)
                for instrument in facility.instruments
            ],
        )
        for facility in round_file.facilities
    ]
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


def _instrument_row(
    grid: Grid,
    view: Span,
    facility: c.Facility,
    instrument: c.Instrument,
    allocations: Sequence[c.Allocation],
    painter: _BlockPainter,
) -> InstrumentRow:
    windows = [*facility.maintenance, *instrument.maintenance]
    blocked = merge(span for window in windows if (span := grid.covering(window.start, window.end)) is not None)
    return InstrumentRow(
        code=instrument.id,
        name=instrument.name,
        changeover_shifts=instrument.changeover_shifts,
        blocks=[
            painter.block(facility, allocation)
            for allocation in allocations
            if _overlaps(view, allocation.start_shift, allocation.start_shift + allocation.shifts)
        ],
        windows=[band for window in windows if (band := _window_band(grid, view, window)) is not None],
        changeovers=_changeovers(view, instrument.changeover_shifts, allocations),
        allocated_shifts=sum(allocation.shifts for allocation in allocations),
        usable_shifts=grid.count - sum(end - start for start, end in blocked),
    )


@dataclass(frozen=True)
class _BlockPainter:
    """What every block of one timeline is drawn with: its proposals, categories and change marks."""

    grid: Grid
    view: Span
    proposals: Mapping[str, c.Proposal]
    country_groups: Mapping[str, Sequence[str]]
    legend: Mapping[str, Category]
    changes: Mapping[str, str]

    def block(self, facility: c.Facility, allocation: c.Allocation) -> Block:
        proposal = self.proposals.get(allocation.proposal)
        category = (
            WITHDRAWN_CATEGORY
            if proposal is None
            else self.legend[category_of(proposal, facility.country, self.country_groups)]
        )
        zone = ZoneInfo(facility.timezone)
        end_shift = allocation.start_shift + allocation.shifts
        left, width = _place(self.view, allocation.start_shift, end_shift)
        return Block(
            request=allocation.request,
            proposal=allocation.proposal,
            title=proposal.title if proposal else "",
            pi=proposal.pi.name if proposal else "",
            countries=list(dict.fromkeys([proposal.pi.country, *(m.country for m in proposal.team)]))
            if proposal
            else [],
            category=category.key,
            category_label=category.label,
            colour=category.colour,
            priority=allocation.priority,
            instrument=allocation.instrument,
            start_shift=allocation.start_shift,
            shifts=allocation.shifts,
            start=self.grid.time(allocation.start_shift).astimezone(zone),
            end=self.grid.time(end_shift).astimezone(zone),
            pinned=allocation.pinned,
            change=self.changes.get(allocation.request),
            left=left,
            width=width,
        )


def _window_band(grid: Grid, view: Span, window: c.Window) -> Band | None:
    span = grid.covering(window.start, window.end)
    if span is None or not _overlaps(view, *span):
        return None
    left, width = _place(view, *span)
    label = window.kind.replace("_", " ") + (f": {window.reason}" if window.reason else "")
    return Band(kind=window.kind, label=label, start_shift=span[0], end_shift=span[1], left=left, width=width)


def _changeovers(view: Span, shifts: int, allocations: Sequence[c.Allocation]) -> list[Band]:
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


def _overlaps(view: Span, start: int, end: int) -> bool:
    return start < view[1] and end > view[0]


def _place(view: Span, start: int, end: int) -> tuple[float, float]:
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


def _ticks(grid: Grid, view: Span, one_week: bool) -> list[Tick]:
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
