"""A usage report as a text table, CSV or XLSX: one list of columns for all three."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import xlsxwriter

from scheduler.reports.usage import UsageReport, UsageRow

FORMATS = ("table", "csv", "xlsx", "json")
NUMBER_FORMATS = {"count": "0.##", "number": "#,##0.0", "percent": "0.0%", "factor": "0.00"}
"""How a spreadsheet shows each kind of column (text columns as they are)."""
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[UsageRow], str | float | None]
    kind: str = "number"
    """"text", "count", "number" (shifts, one decimal), "percent" or "factor"."""


def columns(report: UsageReport) -> tuple[Column, ...]:
    return (
        Column(report.by, lambda row: row.key, "text"),
        Column("proposals", lambda row: row.proposals, "count"),
        Column("with time", lambda row: row.proposals_with_time, "count"),
        Column("success rate", lambda row: row.success_rate, "percent"),
        Column("requested shifts", lambda row: row.requested_shifts),
        Column("allocated shifts", lambda row: row.allocated_shifts),
        Column("share of allocated", lambda row: row.allocated_share, "percent"),
        Column("oversubscription", lambda row: row.oversubscription, "factor"),
        Column("owed shifts", lambda row: row.owed_shifts),
    )


def _text(column: Column, row: UsageRow) -> str:
    value = column.value(row)
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if column.kind == "percent":
        return f"{value:.1%}"
    if column.kind == "factor":
        return f"{value:.2f}×"
    if column.kind == "count":
        return f"{value:g}"
    return f"{value:,.1f}"


def render_table(report: UsageReport) -> str:
    cols = columns(report)
    rows = [[column.title for column in cols]]
    rows += [[_text(column, row) for column in cols] for row in [*report.rows, report.total]]
    widths = [max(len(row[k]) for row in rows) for k in range(len(cols))]
    lines = [
        "  ".join(
            cell.ljust(width) if k == 0 else cell.rjust(width)
            for k, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.insert(len(lines) - 1, lines[1])
    return "\n".join(lines)


def render_csv(report: UsageReport) -> str:
    """Plain numbers (ratios as fractions, not percentages), for spreadsheets and scripts."""
    cols = columns(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([column.title for column in cols])
    for row in [*report.rows, report.total]:
        writer.writerow(["" if (value := column.value(row)) is None else value for column in cols])
    return out.getvalue()


def render_xlsx(report: UsageReport) -> bytes:
    title = f"Round {report.round}: usage by {report.by} ({report.attribution} attribution)"
    return usage_sheet(title, report.by, [report], round_column=False)


def usage_sheet(title: str, by: str, reports: Sequence[UsageReport], *, round_column: bool) -> bytes:
    """One sheet: the title, one header row, then each report's rows ending with its total.

    With `round_column`, each row starts with its report's round, so that rounds compare down a column.
    """
    first = 1 if round_column else 0
    out = io.BytesIO()
    with xlsxwriter.Workbook(out, {"in_memory": True}) as workbook:
        sheet = workbook.add_worksheet(f"by {by}")
        bold = workbook.add_format({"bold": True})
        formats = {kind: workbook.add_format({"num_format": pattern}) for kind, pattern in NUMBER_FORMATS.items()}
        sheet.write(0, 0, title, bold)
        if reports:
            if round_column:
                sheet.write(2, 0, "round", bold)
            for k, column in enumerate(columns(reports[0]), start=first):
                sheet.write(2, k, column.title, bold)
                sheet.set_column(k, k, max(12, len(column.title) + 2))
        r = 2
        for report in reports:
            for row in [*report.rows, report.total]:
                r += 1
                if round_column:
                    sheet.write(r, 0, report.round)
                for k, column in enumerate(columns(report), start=first):
                    value = column.value(row)
                    if value is not None:
                        sheet.write(r, k, value, formats.get(column.kind))
        sheet.freeze_panes(3, first + 1)
    return out.getvalue()
