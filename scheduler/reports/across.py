"""Usage reports of several rounds in one file: one row per key and round, the round in the first column."""

from __future__ import annotations

import csv
import io

import xlsxwriter

from scheduler.reports.formats import NUMBER_FORMATS, columns, render_csv
from scheduler.reports.service import UsageAcrossRounds


def across_csv(usage: UsageAcrossRounds) -> str:
    """Each round's CSV report (`render_csv`) one under another, each row led by its round, under one header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for index, each in enumerate(usage.rounds):
        header, *rows = csv.reader(io.StringIO(render_csv(each.report)))
        if index == 0:
            writer.writerow(["round", *header])
        writer.writerows([each.report.round, *row] for row in rows)
    return out.getvalue()


def across_xlsx(usage: UsageAcrossRounds) -> bytes:
    """One sheet, so that rounds compare down a column; each round's rows end with its total."""
    out = io.BytesIO()
    with xlsxwriter.Workbook(out, {"in_memory": True}) as workbook:
        sheet = workbook.add_worksheet(f"by {usage.by}")
        bold = workbook.add_format({"bold": True})
        kinds = {kind: workbook.add_format({"num_format": pattern}) for kind, pattern in NUMBER_FORMATS.items()}
        sheet.write(0, 0, f"Usage by {usage.by} ({usage.attribution} attribution)", bold)
        r = 2
        for index, each in enumerate(usage.rounds):
            cols = columns(each.report)
            if index == 0:
                sheet.write(r, 0, "round", bold)
                for k, column in enumerate(cols, start=1):
                    sheet.write(r, k, column.title, bold)
                    sheet.set_column(k, k, max(12, len(column.title) + 2))
            for row in [*each.report.rows, each.report.total]:
                r += 1
                sheet.write(r, 0, each.report.round)
                for k, column in enumerate(cols, start=1):
                    value = column.value(row)
                    if value is not None:
                        sheet.write(r, k, value, kinds.get(column.kind))
        sheet.freeze_panes(3, 2)
    return out.getvalue()
