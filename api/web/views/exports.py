"""The round page's lists as CSV files: the ranking, and the unallocated requests with their reasons.

The rows are those the page shows (`panels.lists`), with every column the page can
only hint at: grades, priorities, shortfalls, reasons in words and the competitors.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from api.web.views.panels import Lists
from scheduler.roundfile import contract as c

RANKING_COLUMNS = (
    "rank",
    "proposal",
    "title",
    "pi",
    "pi_country",
    "type",
    "final_grade",
    "priority",
    "requested_shifts",
    "allocated_shifts",
    "shortfall_shifts",
    "excluded_reason",
    "excluded_detail",
)
UNALLOCATED_COLUMNS = (
    "rank",
    "proposal",
    "request",
    "title",
    "pi",
    "reason",
    "shortfall_shifts",
    "instruments",
    "detail",
    "competitors",
)


def _csv(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    return out.getvalue()


def ranking_csv(round_file: c.RoundFile, found: Lists) -> str:
    proposals = {proposal.id: proposal for proposal in round_file.proposals}
    return _csv(
        RANKING_COLUMNS,
        (
            (
                row.rank,
                row.proposal,
                proposals[row.proposal].title,
                proposals[row.proposal].pi.name,
                proposals[row.proposal].pi.country,
                proposals[row.proposal].type,
                row.final_grade,
                row.priority,
                row.requested_shifts,
                row.allocated_shifts,
                row.shortfall,
                row.excluded_reason,
                row.excluded_detail,
            )
            for row in found.ranking
        ),
    )


def unallocated_csv(round_file: c.RoundFile, found: Lists) -> str:
    proposals = {proposal.id: proposal for proposal in round_file.proposals}
    return _csv(
        UNALLOCATED_COLUMNS,
        (
            (
                row.rank,
                row.proposal,
                row.request,
                proposals[row.proposal].title if row.proposal in proposals else "",
                proposals[row.proposal].pi.name if row.proposal in proposals else "",
                row.reason,
                row.shortfall,
                " ".join(row.instruments),
                row.detail,
                "; ".join(f"{c.request} ({c.priority:g})" for c in row.competitors or []),
            )
            for row in found.unallocated
        ),
    )
