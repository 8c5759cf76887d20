"""The round page's tables beside the timeline: the schedule's figures, quotas, ranking, unallocated requests
and, on the compare page, the changes per request.

Each is read from the round as a round file and a version as a schedule file, so
the shares, ranks and reasons are exactly what the API and the engine report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence

from pydantic import BaseModel

from api.web.views.palette import categories, category_of, quota_category_words, scope_words
from scheduler.roundfile import contract as c
from scheduler.roundfile.solving import ranked_with_set_aside
from scheduler.schedules.service import VersionDiff

CHANGE_KINDS = ("moved", "resized", "dropped", "added")


class ScheduleSummary(BaseModel):
    status: str
    objective: float
    bound: float | None
    allocated_requests: int
    allocated_shifts: int
    unallocated_requests: int
    notes: list[str]


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


class ChangeRow(BaseModel):
    kind: str
    proposal: str
    request: str
    before: c.Slot | None
    after: c.Slot | None


def summary(schedule: c.ScheduleFile) -> ScheduleSummary:
    return ScheduleSummary(
        status=schedule.status,
        objective=schedule.objective,
        bound=schedule.bound,
        allocated_requests=len(schedule.allocations),
        allocated_shifts=sum(allocation.shifts for allocation in schedule.allocations),
        unallocated_requests=len(schedule.unallocated),
        notes=schedule.notes,
    )


def quota_rows(round_file: c.RoundFile, schedule: c.ScheduleFile | None) -> list[QuotaRow]:
    reports = {report.id: report for report in schedule.quotas} if schedule is not None else {}
    rows = []
    for quota in round_file.quotas:
        report = reports.get(quota.id)
        rows.append(
            QuotaRow(
                id=quota.id,
                category=quota_category_words(quota.category),
                scope=scope_words(quota.scope),
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


def ranking(round_file: c.RoundFile, allocations: Sequence[c.Allocation], shown: Collection[str]) -> Ranking:
    """The scoring's order with the cut-off line, rows of the `shown` proposals only (those the viewer reads in
    confidence), ranked within the whole round; colours are those of the first facility's country."""
    proposals = {proposal.id: proposal for proposal in round_file.proposals}
    allocated: dict[str, int] = defaultdict(int)
    for allocation in allocations:
        allocated[allocation.proposal] += allocation.shifts
    first_country = round_file.facilities[0].country
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
        for score in ranked_with_set_aside(round_file)
        if score.proposal in shown
    ]
    cutoff_index = next((index for index, row in enumerate(rows) if row.excluded_reason is not None), None)
    cutoff = round_file.scoring.cutoff if round_file.scoring is not None else None
    return Ranking(rows=rows, cutoff_index=cutoff_index, cutoff_grade=cutoff)


def unallocated_rows(round_file: c.RoundFile, schedule: c.ScheduleFile | None) -> list[UnallocatedRow]:
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


def change_rows(changes: VersionDiff) -> list[ChangeRow]:
    kinds = {"moved": changes.moved, "resized": changes.resized, "dropped": changes.dropped, "added": changes.added}
    return [
        ChangeRow(kind=kind, proposal=change.proposal, request=change.request, before=change.before, after=change.after)
        for kind in CHANGE_KINDS
        for change in kinds[kind]
    ]
