"""The usage page's view model: each report as bar charts drawn server-side (SVG geometry here), each chart
with the table of the same numbers beside it, which is also its text alternative."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.i18n import N_
from scheduler.accounts.schemas import Claims
from scheduler.reports.service import RoundUsage, round_usage, usage_across_rounds
from scheduler.reports.usage import Grouping, UsageReport, UsageRow
from scheduler.roundfile.quotas import Attribution

LABEL_WIDTH = 150
"""Room for a row's key left of its bars, in SVG units."""
PLOT_WIDTH = 360
VALUE_WIDTH = 70
"""Room for a bar's figure right of it."""
BAR_HEIGHT = 14
ROW_GAP = 10
TOP = 6


@dataclass(frozen=True)
class Series:
    """One measure drawn as bars: its name, how its figures are written, its colour (3:1 or more on white)."""

    name: str
    kind: str
    """"number" (shifts), "percent" or "factor"."""
    value: Callable[[UsageRow], float | None]
    colour: str


SHIFTS = (
    Series(N_("Requested shifts"), "number", lambda row: row.requested_shifts, "#64748b"),
    Series(N_("Allocated shifts"), "number", lambda row: row.allocated_shifts, "#1d4ed8"),
    Series(N_("Owed shifts"), "number", lambda row: row.owed_shifts, "#b45309"),
)
SUCCESS = (Series(N_("Success rate"), "percent", lambda row: row.success_rate, "#047857"),)
OVERSUBSCRIPTION = (Series(N_("Oversubscription"), "factor", lambda row: row.oversubscription, "#7c3aed"),)


@dataclass(frozen=True)
class Bar:
    series: Series
    value: float | None
    x: float
    y: float
    width: float


@dataclass(frozen=True)
class ChartRow:
    key: str
    y: float
    """The row's label baseline."""
    bars: list[Bar]


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    series: Sequence[Series]
    rows: list[ChartRow]
    width: int
    height: float
    plot_left: int
    plot_width: int


@dataclass(frozen=True)
class ReportView:
    """One round's report: its charts and its download links."""

    round_id: int
    version_id: int
    report: UsageReport
    charts: list[Chart]

    def download(self, file_format: str) -> str:
        query = f"by={self.report.by}&attribution={self.report.attribution}&version={self.version_id}"
        return f"/ui/rounds/{self.round_id}/reports/usage?{query}&format={file_format}"


GROUPING_NAMES = {
    "country": N_("country"),
    "group": N_("country group"),
    "facility": N_("facility"),
    "instrument": N_("instrument"),
    "type": N_("proposal type"),
}


@dataclass(frozen=True)
class UsagePage:
    by: Grouping
    attribution: str
    round_id: int | None
    """The round shown, or None across rounds."""
    reports: list[ReportView]

    def switch(self, by: str, attribution: str) -> str:
        """The address of this page by another grouping or attribution."""
        base = f"/ui/rounds/{self.round_id}/usage" if self.round_id is not None else "/ui/usage"
        return f"{base}?by={by}&attribution={attribution}"

    def download(self, file_format: str) -> str:
        """Every report of the page in one file (one round's, or one row per key and round)."""
        if self.round_id is not None:
            return self.reports[0].download(file_format)
        return f"/ui/reports/usage?by={self.by}&attribution={self.attribution}&format={file_format}"


def chart(chart_id: str, title: str, series: Sequence[Series], rows: Sequence[UsageRow]) -> Chart:
    """Horizontal bars, one group per row, every bar of the chart on one scale from zero."""
    highest = max((v for row in rows for s in series if (v := s.value(row)) is not None), default=0.0) or 1.0
    group = len(series) * BAR_HEIGHT + ROW_GAP
    drawn = []
    for index, row in enumerate(rows):
        top = TOP + index * group
        bars = []
        for k, each in enumerate(series):
            value = each.value(row)
            width = 0.0 if value is None else round(PLOT_WIDTH * value / highest, 1)
            bars.append(Bar(each, value, LABEL_WIDTH, top + k * BAR_HEIGHT, width))
        drawn.append(ChartRow(row.key, top + len(series) * BAR_HEIGHT / 2 + 4, bars))
    return Chart(
        id=chart_id,
        title=title,
        series=series,
        rows=drawn,
        width=LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH,
        height=TOP + len(rows) * group,
        plot_left=LABEL_WIDTH,
        plot_width=PLOT_WIDTH,
    )


def _view(usage: RoundUsage) -> ReportView:
    rows = usage.report.rows
    prefix = f"r{usage.round_id}"
    return ReportView(
        usage.round_id,
        usage.version_id,
        usage.report,
        [
            chart(f"{prefix}-shifts", N_("Requested, allocated and owed shifts"), SHIFTS, rows),
            chart(f"{prefix}-success", N_("Success rate"), SUCCESS, rows),
            chart(f"{prefix}-oversubscription", N_("Oversubscription"), OVERSUBSCRIPTION, rows),
        ],
    )


async def round_usage_page(
    session: AsyncSession, viewer: Claims, round_id: int, by: Grouping, attribution: Attribution
) -> UsagePage:
    usage = await round_usage(session, viewer, round_id, by, attribution)
    return UsagePage(by, usage.report.attribution, round_id, [_view(usage)])


async def usage_across_page(session: AsyncSession, viewer: Claims, by: Grouping, attribution: Attribution) -> UsagePage:
    usage = await usage_across_rounds(session, viewer, by, attribution)
    return UsagePage(by, usage.attribution, None, [_view(each) for each in usage.rounds])
