"""The round page's lists as CSV files: the ranking, and the unallocated requests with their reasons.

The rows are those the page shows (`panels.lists`), with every column the page can
only hint at: grades, priorities, shortfalls, reasons in words and the competitors.
The reasons in words (`excluded_detail`, `detail`) are in the page's language where
their form is known (`api.explanations`); the header and the columns of codes
(`excluded_reason`, `reason`, ids) stay as they are in every language, for a
spreadsheet's filters and a program's reading alike.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict

from api.explanations import localized
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


def _csv(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    """`rows` under the header `columns`, each cell taken by its column's name (empty where a row has none)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="", extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({name: "" if value is None else value for name, value in row.items()} for row in rows)
    return out.getvalue()


def _proposal_columns(round_file: c.RoundFile) -> Callable[[str], dict[str, object]]:
    """A proposal's title, PI, PI's country and type by its id: nothing for one the round no longer has."""
    proposals = {proposal.id: proposal for proposal in round_file.proposals}

    def columns(proposal_id: str) -> dict[str, object]:
        proposal = proposals.get(proposal_id)
        if proposal is None:
            return {}
        return {
            "title": proposal.title,
            "pi": proposal.pi.name,
            "pi_country": proposal.pi.country,
            "type": proposal.type,
        }

    return columns


def _told(text: str | None, locale: str) -> str | None:
    return None if text is None else localized(text, locale)


def ranking_csv(round_file: c.RoundFile, found: Lists, locale: str) -> str:
    about = _proposal_columns(round_file)
    return _csv(
        RANKING_COLUMNS,
        (
            {
                **asdict(row.score),
                **about(row.score.proposal),
                **asdict(row),
                "shortfall_shifts": row.shortfall,
                "excluded_detail": _told(row.score.excluded_detail, locale),
            }
            for row in found.ranking
        ),
    )


def unallocated_csv(round_file: c.RoundFile, found: Lists, locale: str) -> str:
    about = _proposal_columns(round_file)
    return _csv(
        UNALLOCATED_COLUMNS,
        (
            {
                **row.entry.model_dump(),
                **about(row.entry.proposal),
                "rank": row.rank,
                "shortfall_shifts": row.shortfall,
                "detail": _told(row.entry.detail, locale),
                "instruments": " ".join(row.instruments),
                "competitors": "; ".join(f"{c.request} ({c.priority:g})" for c in row.entry.competitors or []),
            }
            for row in found.unallocated
        ),
    )
