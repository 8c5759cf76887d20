"""The round page's tables beside the timeline: the schedule's figures, quotas, ranking, unallocated requests
and, on the compare page, the changes per request.

Each is read from the round as a round file and a version as a schedule file, so
the shares, ranks and reasons are exactly what the API and the engine report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from api.explanations import localized
from api.web.views.palette import quota_category_words, scope_words
from api.web.views.timeline import CHANGE_KINDS, Payload
from scheduler.roundfile import contract as c
from scheduler.roundfile.scoring import ProposalScore
from scheduler.schedules.service import VersionDiff


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


class Ranking(BaseModel):
    """What the template says of the ranking beside its rows (which are in the page's payload)."""

    rows: int
    cutoff_grade: float | None
    ran_out_rank: int | None
    """The rank of the best-ranked eligible proposal that lacked time (a request unallocated for capacity)."""


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


COMPETITORS_SHOWN = 5
"""Per unallocated request in the page, the lowest-ranked holders of its time (the CSV has them all): a facility
round has requests whose dates 150 allocations cover."""


@dataclass(frozen=True)
class RankRow:
    """A proposal's score, with the shifts it asked for and those the version gave it."""

    score: ProposalScore
    requested_shifts: int
    allocated_shifts: int

    @property
    def shortfall(self) -> int:
        return max(0, self.requested_shifts - self.allocated_shifts)


@dataclass(frozen=True)
class UnallocatedRow:
    """A request the version left unallocated, with what it asked for and its proposal's rank."""

    entry: c.Unallocated
    shortfall: int
    """The request's shifts: an unallocated request gets none of them."""
    instruments: list[str]
    rank: int | None


@dataclass(frozen=True)
class Lists:
    """The ranking and the unallocated requests of a version, rows of the proposals a viewer reads in confidence.

    Besides the scoring's cut-off the ranking marks where time ran out: the best rank, overall and per
    instrument, of an eligible proposal with a request unallocated for lack of capacity.
    """

    ranking: list[RankRow]
    unallocated: list[UnallocatedRow]
    ran_out: dict[str, int]
    """Per instrument."""

    @property
    def ran_out_rank(self) -> int | None:
        return min(self.ran_out.values(), default=None)


def lists(
    round_file: c.RoundFile, ranked: Sequence[ProposalScore], schedule: c.ScheduleFile | None, shown: Collection[str]
) -> Lists:
    """Rows of the `shown` proposals only, ranked within the whole round (`ranked`: `ranked_with_set_aside`,
    kept per round by `scheduler.rounds.kept`)."""
    allocated: dict[str, int] = defaultdict(int)
    for allocation in schedule.allocations if schedule is not None else []:
        allocated[allocation.proposal] += allocation.shifts
    proposals = {proposal.id: proposal for proposal in round_file.proposals}
    requests = {request.id: request for proposal in round_file.proposals for request in proposal.requests}
    scores = [score for score in ranked if score.proposal in shown]
    rank_of = {score.proposal: score.rank for score in scores}
    unallocated = [
        UnallocatedRow(
            entry=entry,
            shortfall=requests[entry.request].shifts if entry.request in requests else 0,
            instruments=list(requests[entry.request].instruments) if entry.request in requests else [],
            rank=rank_of.get(entry.proposal),
        )
        for entry in (schedule.unallocated if schedule is not None else [])
        if entry.proposal in shown
    ]
    ran_out: dict[str, int] = {}
    for row in unallocated:
        if row.entry.reason == "capacity" and row.rank is not None:
            for instrument in row.instruments:
                ran_out[instrument] = min(ran_out.get(instrument, row.rank), row.rank)
    ranking = [
        RankRow(
            score=score,
            requested_shifts=sum(request.shifts for request in proposals[score.proposal].requests),
            allocated_shifts=allocated[score.proposal],
        )
        for score in scores
    ]
    return Lists(ranking=ranking, unallocated=unallocated, ran_out=ran_out)


def add_lists(payload: Payload, round_file: c.RoundFile, found: Lists, locale: str) -> Ranking:
    """The ranking and the unallocated requests into `payload`, the reasons' details told in `locale`.

    Ranking rows: proposal, rank, final grade, priority, shifts asked, shifts allocated, excluded reason and
    detail (or -1), category (by the first facility's country). Unallocated rows: request, proposal, reason,
    detail (or -1), shortfall in shifts, the instruments asked for, the first COMPETITORS_SHOWN competitors
    holding its time as [request, priority] (or None), rank (or None), how many competitors there are.
    """
    s = payload.strings
    first_facility = round_file.facilities[0]
    overall = found.ran_out_rank
    payload.extra["ranking"] = {
        "rows": [
            [
                payload.proposal(row.score.proposal),
                row.score.rank,
                row.score.final_grade,
                row.score.priority,
                row.requested_shifts,
                row.allocated_shifts,
                -1 if row.score.excluded_reason is None else s(row.score.excluded_reason),
                -1 if row.score.excluded_detail is None else s(localized(row.score.excluded_detail, locale)),
                payload.category(row.score.proposal, first_facility),
            ]
            for row in found.ranking
        ],
        "cutoff": next((row.score.rank for row in found.ranking if row.score.excluded_reason is not None), None),
        "ranOut": overall,
        "ranOutPerInstrument": [
            [payload.instrument_index[code], rank]
            for code, rank in sorted(found.ran_out.items())
            if rank != overall and code in payload.instrument_index
        ],
    }
    payload.extra["unallocated"] = [
        [
            s(row.entry.request),
            payload.proposal(row.entry.proposal),
            s(row.entry.reason),
            -1 if row.entry.detail is None else s(localized(row.entry.detail, locale)),
            row.shortfall,
            [payload.instrument_index[code] for code in row.instruments if code in payload.instrument_index],
            None
            if row.entry.competitors is None
            else [
                [s(competitor.request), round(competitor.priority, 3)]
                for competitor in row.entry.competitors[:COMPETITORS_SHOWN]
            ],
            row.rank,
            0 if row.entry.competitors is None else len(row.entry.competitors),
        ]
        for row in found.unallocated
    ]
    cutoff = round_file.scoring.cutoff if round_file.scoring is not None else None
    return Ranking(rows=len(found.ranking), cutoff_grade=cutoff, ran_out_rank=overall)


def change_rows(changes: VersionDiff) -> list[ChangeRow]:
    kinds = {"moved": changes.moved, "resized": changes.resized, "dropped": changes.dropped, "added": changes.added}
    return [
        ChangeRow(kind=kind, proposal=change.proposal, request=change.request, before=change.before, after=change.after)
        for kind in CHANGE_KINDS
        for change in kinds[kind]
    ]
