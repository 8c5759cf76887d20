"""Usage reports of several rounds in one file: one row per key and round, the round in the first column."""

from __future__ import annotations

import csv
import io

from scheduler.reports.formats import render_csv, usage_sheet
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
    title = f"Usage by {usage.by} ({usage.attribution} attribution)"
    return usage_sheet(title, usage.by, [each.report for each in usage.rounds], round_column=True)
