"""The timeline as data: one compact JSON payload a page embeds and `static/timeline.js` draws.

A facility round has 40 instruments, 26 weeks and ~2,000 blocks: as HTML with
attributes per block that is megabytes, as arrays with every string once in a
table it is a few hundred kilobytes. Rows (instruments, grouped by facility),
blocks, windows, changeovers and idle shifts per instrument and week are given
in shifts of the round's grid; the script turns shifts into positions for the
zoom chosen (week, month, quarter or the whole round) and times into the
facility's own zone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from itertools import islice, pairwise
from typing import Any

import msgspec
from babel.dates import format_date
from pydantic import BaseModel

from api.explanations import WINDOWS
from api.i18n import translate
from api.web.views.palette import WITHDRAWN_CATEGORY, Category, categories, category_of
from scheduler.errors import NotFound
from scheduler.roundfile import contract as c
from scheduler.roundfile.grid import Grid, merge

DAYS_PER_WEEK = 7
MONTHS_PER_QUARTER = 3
CHANGE_KINDS = ("moved", "resized", "dropped", "added")
PINNED = 1
"""A block's flags: bit 0 pinned, the bits above it the change (1 + its index in CHANGE_KINDS), if any."""

Span = tuple[int, int]
"""First shift and the shift after the last."""


class Strings:
    """Every text of a payload once, in a table; the payload names each by its index."""

    def __init__(self) -> None:
        self.table: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        found = self._index.get(text)
        if found is None:
            found = self._index[text] = len(self.table)
            self.table.append(text)
        return found


def surname(name: str) -> str:
    """The last word of a name as written ("S. Lebedeva" → "Lebedeva"): a block's label, where it fits."""
    return name.split()[-1] if name.split() else name


class Payload:
    """The data of one page: the round's rows, and the proposals its timelines and lists name, each once."""

    def __init__(self, round_file: c.RoundFile, *, week: int | None = None, locale: str) -> None:
        """`locale`: the language of the legend's labels and the months' names."""
        self.round_file = round_file
        self.locale = locale
        self.grid = Grid(round_file.round)
        self.strings = Strings()
        self.weeks = _periods_of_weeks(self.grid)
        if week is not None and not 1 <= week <= len(self.weeks):
            raise NotFound(f"the round has weeks 1 to {len(self.weeks)}")
        self.week = week
        self.legend = categories(round_file.country_groups)
        self.category_index = {entry.key: index for index, entry in enumerate([*self.legend, WITHDRAWN_CATEGORY])}
        self.proposals = {proposal.id: proposal for proposal in round_file.proposals}
        self.proposal_index: dict[str, int] = {}
        self.proposal_rows: list[list[Any]] = []
        self.instrument_index: dict[str, int] = {}
        self.facility_of: dict[str, c.Facility] = {}
        self.blocked: dict[str, tuple[Span, ...]] = {}
        for facility in round_file.facilities:
            for instrument in facility.instruments:
                self.instrument_index[instrument.id] = len(self.instrument_index)
                self.facility_of[instrument.id] = facility
                windows = [*facility.maintenance, *instrument.maintenance]
                self.blocked[instrument.id] = merge(
                    span for window in windows if (span := self.grid.covering(window.start, window.end)) is not None
                )
        self.timelines: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}

    def proposal(self, code: str) -> int:
        """The proposal's row in the payload: code, title, PI, PI's surname, countries (PI's first), type, and the
        instruments its requests name (for the facility and instrument filters)."""
        found = self.proposal_index.get(code)
        if found is not None:
            return found
        proposal = self.proposals.get(code)
        s = self.strings
        if proposal is None:
            row: list[Any] = [s(code), s(""), s(""), s(""), [], s(""), []]
        else:
            countries = list(dict.fromkeys([proposal.pi.country, *(member.country for member in proposal.team)]))
            instruments = sorted(
                {
                    self.instrument_index[code]
                    for request in proposal.requests
                    for code in request.instruments
                    if code in self.instrument_index
                }
            )
            row = [
                s(proposal.id),
                s(proposal.title),
                s(proposal.pi.name),
                s(surname(proposal.pi.name)),
                [s(country) for country in countries],
                s(proposal.type),
                instruments,
            ]
        found = self.proposal_index[code] = len(self.proposal_rows)
        self.proposal_rows.append(row)
        return found

    def category(self, proposal_code: str, facility: c.Facility) -> int:
        proposal = self.proposals.get(proposal_code)
        if proposal is None:
            return self.category_index[WITHDRAWN_CATEGORY.key]
        return self.category_index[category_of(proposal, facility.country, self.round_file.country_groups)]

    def _window_label(self, window: c.Window) -> str:
        """Its kind as a window in the page's language, and its reason as the round file gives it."""
        kind = translate(self.locale, WINDOWS[window.kind])
        return f"{kind}: {window.reason}" if window.reason else kind

    def add_timeline(
        self, allocations: Sequence[c.Allocation], *, label: str = "", changes: Mapping[str, str] | None = None
    ) -> Timeline:
        """A timeline of `allocations`; `changes` marks blocks by request: moved, resized, dropped or added."""
        marks = changes or {}
        placed: dict[str, list[c.Allocation]] = defaultdict(list)
        for allocation in sorted(allocations, key=lambda a: (a.start_shift, a.request)):
            placed[allocation.instrument].append(allocation)
        blocks: list[list[Any]] = []
        changeovers: list[list[int]] = []
        idle: list[list[int]] = []
        for facility in self.round_file.facilities:
            for instrument in facility.instruments:
                row = self.instrument_index[instrument.id]
                mine = placed.get(instrument.id, [])
                for allocation in mine:
                    change = marks.get(allocation.request)
                    flags = (PINNED if allocation.pinned else 0) | (
                        (CHANGE_KINDS.index(change) + 1) << 1 if change in CHANGE_KINDS else 0
                    )
                    blocks.append(
                        [
                            row,
                            allocation.start_shift,
                            allocation.shifts,
                            self.strings(allocation.request),
                            self.proposal(allocation.proposal),
                            self.category(allocation.proposal, facility),
                            round(allocation.priority, 3),
                            flags,
                        ]
                    )
                gaps = _changeovers(instrument.changeover_shifts, mine)
                changeovers.extend([row, start, end] for start, end in gaps)
                idle.append(self._idle(instrument.id, mine, gaps))
        shown = {block[5] for block in blocks}
        timeline = Timeline(
            label=label,
            week=self.week,
            weeks=len(self.weeks),
            shifts=self.grid.count,
            block_count=len(blocks),
            categories=[
                entry
                for entry in [*self.legend, WITHDRAWN_CATEGORY]
                if entry in self.legend or self._index(entry) in shown
            ],
        )
        self.timelines.append(
            {"label": self.strings(label), "blocks": blocks, "changeovers": changeovers, "idle": idle}
        )
        return timeline

    def _index(self, entry: Category) -> int:
        return self.category_index[entry.key]

    def _idle(self, instrument: str, allocations: Sequence[c.Allocation], changeovers: Sequence[Span]) -> list[int]:
        """Per week, the shifts neither blocked by a window nor allocated nor a changeover."""
        taken = [*self.blocked[instrument], *((a.start_shift, a.start_shift + a.shifts) for a in allocations)]
        busy = merge([*taken, *changeovers])
        # One pass over the weeks and the busy runs, both in order (every run against every week was ~11,000
        # overlaps in a facility round).
        idle = []
        first = 0
        for start, end in self.weeks:
            while first < len(busy) and busy[first][1] <= start:
                first += 1
            shifts = end - start
            for run_start, run_end in islice(busy, first, None):
                if run_start >= end:
                    break
                shifts -= min(end, run_end) - max(start, run_start)
            idle.append(shifts)
        return idle

    def document(self) -> dict[str, Any]:
        """The payload as the script reads it (see the header of static/timeline.js)."""
        s = self.strings
        instruments = []
        facilities = []
        for facility_number, facility in enumerate(self.round_file.facilities):
            facilities.append([s(facility.id), s(facility.name), s(facility.country), s(facility.timezone)])
            for instrument in facility.instruments:
                usable = self.grid.count - sum(end - start for start, end in self.blocked[instrument.id])
                instruments.append([s(instrument.id), s(instrument.name), facility_number, usable])
        windows = [
            [self.instrument_index[instrument.id], start, end, s(window.kind), s(self._window_label(window))]
            for facility in self.round_file.facilities
            for instrument in facility.instruments
            for window in [*facility.maintenance, *instrument.maintenance]
            if (span := self.grid.covering(window.start, window.end)) is not None
            for start, end in [span]
        ]
        groups = [
            [s(name), [s(country) for country in members]] for name, members in self.round_file.country_groups.items()
        ]
        document = {
            "round": {
                "start": int(self.round_file.round.start.timestamp() * 1000),
                "shiftHours": self.round_file.round.shift_hours,
                "shifts": self.grid.count,
                "weeks": self.weeks,
                "months": [[start, end, s(label)] for start, end, label in _months(self.grid, self.locale)],
                "week": self.week,
            },
            "categories": [
                [s(entry.key), s(translate(self.locale, entry.label)), s(entry.colour)]
                for entry in [*self.legend, WITHDRAWN_CATEGORY]
            ],
            "groups": groups,
            "facilities": facilities,
            "instruments": instruments,
            "windows": windows,
            "timelines": self.timelines,
            **self.extra,
        }
        document["proposals"] = self.proposal_rows
        document["strings"] = s.table
        return document

    def embedded(self) -> str:
        """The payload as compact JSON safe inside `<script type="application/json">` (no `<`, `>`, `&`, `'`), as
        Jinja2's `htmlsafe_json_dumps` escapes them; msgspec encodes a facility round's payload several times faster
        than `json.dumps`."""
        text = msgspec.json.encode(self.document()).decode()
        for character, escape in _SCRIPT_ESCAPES:
            text = text.replace(character, escape)
        return text


_SCRIPT_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027"))


class Timeline(BaseModel):
    """What a page's template says of a timeline around the drawing: its legend and size."""

    label: str
    week: int | None
    weeks: int
    shifts: int
    block_count: int
    categories: list[Category]


def _changeovers(shifts: int, allocations: Sequence[c.Allocation]) -> list[Span]:
    """The changeover after each block that another block follows on the same instrument."""
    spans = []
    for allocation, following in pairwise(allocations):
        start = allocation.start_shift + allocation.shifts
        end = min(start + shifts, following.start_shift)
        if shifts and start < end:
            spans.append((start, end))
    return spans


def _periods_of_weeks(grid: Grid) -> list[Span]:
    """The round's weeks (from its start) as spans of shifts; the last may be shorter."""
    end = grid.time(grid.count)
    weeks: list[Span] = []
    start = grid.start
    while start < end:
        stop = min(start + timedelta(days=DAYS_PER_WEEK), end)
        span = grid.covering(start, stop)
        if span is not None:
            weeks.append(span)
        start = stop
    return weeks


def _months(grid: Grid, locale: str) -> list[tuple[int, int, str]]:
    """The calendar months the round touches, in the round's own UTC offset, as spans of shifts, named in `locale`."""
    zone = grid.start.tzinfo
    end = grid.time(grid.count)
    months = []
    moment = grid.start
    while moment < end:
        local = moment.astimezone(zone)
        following = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=zone)
        span = grid.covering(moment, min(following, end))
        if span is not None:
            months.append((span[0], span[1], format_date(local, "LLLL y", locale=locale)))
        moment = following
    return months
