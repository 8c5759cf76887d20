"""A schedule as a spreadsheet: one row per allocation, in its facility's local time, as CSV or XLSX.

For coordinators who plan in spreadsheets; the JSON schedule file stays the exchange format.
A priority the viewer may not read (0, withheld) is left empty.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import xlsxwriter

from scheduler.roundfile.contract import Allocation, Facility, Proposal, RoundFile, ScheduleFile

LOCAL_TIME = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class SheetRow:
    allocation: Allocation
    proposal: Proposal
    facility: Facility

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.facility.timezone)

    @property
    def start(self) -> datetime:
        return self.allocation.start.astimezone(self.zone)

    @property
    def end(self) -> datetime:
        return self.allocation.end.astimezone(self.zone)


Cell = str | int | float | bool | datetime | None


@dataclass(frozen=True)
class SheetColumn:
    title: str
    value: Callable[[SheetRow], Cell]
    width: int = 12


COLUMNS = (
    SheetColumn("proposal", lambda row: row.proposal.id),
    SheetColumn("title", lambda row: row.proposal.title, 40),
    SheetColumn("PI", lambda row: row.proposal.pi.name, 24),
    SheetColumn("PI country", lambda row: row.proposal.pi.country),
    SheetColumn("facility", lambda row: row.facility.id),
    SheetColumn("instrument", lambda row: row.allocation.instrument),
    SheetColumn("request", lambda row: row.allocation.request),
    SheetColumn("start (local)", lambda row: row.start, 17),
    SheetColumn("end (local)", lambda row: row.end, 17),
    SheetColumn("timezone", lambda row: row.facility.timezone, 18),
    SheetColumn("shifts", lambda row: row.allocation.shifts, 8),
    SheetColumn("priority", lambda row: row.allocation.priority or None, 10),
    SheetColumn("pinned", lambda row: row.allocation.pinned, 8),
)


def sheet_rows(round_file: RoundFile, schedule: ScheduleFile) -> list[SheetRow]:
    """The allocations by facility, instrument and start; those of proposals the round no longer has (withdrawn
    since) are left out, as every reader of a published schedule leaves them out."""
    facility_of = {i.id: f for f in round_file.facilities for i in f.instruments}
    proposal_of = {proposal.id: proposal for proposal in round_file.proposals}
    rows = [
        SheetRow(allocation, proposal_of[allocation.proposal], facility_of[allocation.instrument])
        for allocation in schedule.allocations
        if allocation.proposal in proposal_of
    ]
    return sorted(rows, key=lambda row: (row.facility.id, row.allocation.instrument, row.allocation.start))


def _text(value: Cell) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(LOCAL_TIME)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def schedule_csv(round_file: RoundFile, schedule: ScheduleFile) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([column.title for column in COLUMNS])
    for row in sheet_rows(round_file, schedule):
        writer.writerow([_text(column.value(row)) for column in COLUMNS])
    return out.getvalue()


def schedule_xlsx(round_file: RoundFile, schedule: ScheduleFile) -> bytes:
    """Times as spreadsheet dates in the facility's zone (named in their own column), a filter on every column."""
    out = io.BytesIO()
    with xlsxwriter.Workbook(out, {"in_memory": True, "remove_timezone": True}) as workbook:
        sheet = workbook.add_worksheet("allocations")
        bold = workbook.add_format({"bold": True})
        moment = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        priority = workbook.add_format({"num_format": "0.000"})
        for k, column in enumerate(COLUMNS):
            sheet.write(0, k, column.title, bold)
            sheet.set_column(k, k, column.width)
        rows = sheet_rows(round_file, schedule)
        for r, row in enumerate(rows, start=1):
            for k, column in enumerate(COLUMNS):
                value = column.value(row)
                if isinstance(value, datetime):
                    sheet.write_datetime(r, k, value, moment)
                elif isinstance(value, float):
                    sheet.write_number(r, k, value, priority)
                elif value is not None:
                    sheet.write(r, k, value)
        sheet.autofilter(0, 0, len(rows), len(COLUMNS) - 1)
        sheet.freeze_panes(1, 0)
    return out.getvalue()
