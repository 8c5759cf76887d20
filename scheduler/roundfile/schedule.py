"""A Solution in the round's own terms: the schedule file and its summary for people."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from fractions import Fraction

from scheduler.roundfile.build import Prepared
from scheduler.roundfile.contract import (
    SCHEDULE_FORMAT,
    Allocation,
    Competitor,
    FairReturnReport,
    HeldBlock,
    QuotaReport,
    RankFairness,
    ScheduleFile,
    Unallocated,
)
from solver import solution as solution_module
from solver.explain import TIMED_OUT
from solver.fair_return import fair_return_outcomes
from solver.solution import QuotaOutcome, Solution


def schedule_file(prepared: Prepared, solution: Solution) -> ScheduleFile:
    """Every request of the round once: allocated, or unallocated with its reason."""
    problem, grid = prepared.problem, prepared.grid
    pinned = set(problem.pinned)
    allocations = [
        Allocation(
            proposal=prepared.proposal_of_request[p.request],
            request=prepared.request_ids[p.request],
            instrument=prepared.instrument_ids[p.instrument],
            start_shift=p.start,
            shifts=p.shifts,
            start=grid.time(p.start),
            end=grid.time(p.end),
            priority=problem.requests[p.request].priority,
            pinned=p in pinned,
        )
        for p in solution.placements
    ]
    listed = {c for u in solution.unallocated for c in u.competitors}
    competitor = {c: Competitor(request=prepared.request_ids[c], priority=problem.requests[c].priority) for c in listed}
    unallocated = [_unallocated(prepared, u, competitor) for u in solution.unallocated]
    if solution.status in ("infeasible", "unknown") and not solution.placements:
        unallocated = [
            Unallocated(
                proposal=prepared.proposal_of_request[r],
                request=request_id,
                reason="capacity" if solution.status == "infeasible" else TIMED_OUT,
                detail=f"no schedule: the round is {solution.status}; see notes",
            )
            for r, request_id in enumerate(prepared.request_ids)
        ]
    for proposal in prepared.round_file.proposals:
        exclusion = prepared.excluded.get(proposal.id)
        if exclusion:
            unallocated.extend(
                Unallocated(proposal=proposal.id, request=request.id, reason=exclusion.reason, detail=exclusion.detail)
                for request in proposal.requests
            )
    return ScheduleFile(
        format=SCHEDULE_FORMAT,
        round=prepared.round_file.round.id,
        status=solution.status,
        objective=solution.objective,
        bound=solution.bound,
        solve_seconds=round(solution.seconds, 3),
        allocations=allocations,
        unallocated=unallocated,
        quotas=_quota_reports(prepared, solution.quotas),
        notes=list(solution.infeasibility),
        fair_return=_fair_return_reports(prepared, solution) if problem.fair_return else None,
        rank_fairness=_rank_fairness(solution) if solution.placements else None,
    )


def _unallocated(
    prepared: Prepared, explained: solution_module.Unallocated, competitor: Mapping[int, Competitor]
) -> Unallocated:
    """`competitor` holds each listed request's entry once: a facility round lists 130,000 competitors
    of 2,000 requests, and validating each entry afresh took most of a second."""
    ids = prepared.request_ids
    return Unallocated(
        proposal=prepared.proposal_of_request[explained.request],
        request=ids[explained.request],
        reason=explained.reason,
        detail=explained.detail,
        competitors=[competitor[c] for c in explained.competitors] or None,
        held=[HeldBlock(request=ids[h.request], stays_because=h.stays_because) for h in explained.held] or None,
    )


def _rank_fairness(solution: Solution) -> RankFairness:
    """How many unallocated requests a lower-ranked block holds back alone, and why those blocks stay."""
    held = [h for u in solution.unallocated for h in u.held]
    return RankFairness(
        requests=sum(1 for u in solution.unallocated if u.held),
        blocks=len(held),
        stays_because=dict(Counter(h.stays_because for h in held).most_common()),
    )


def _fair_return_reports(prepared: Prepared, solution: Solution) -> list[FairReturnReport]:
    targets = prepared.problem.fair_return
    return [
        FairReturnReport(
            id=targets[outcome.target].name,
            history_share=_float(outcome.history_share),
            round_share=_float(outcome.round_share),
            cumulative_share=_float(outcome.cumulative_share),
            deficit=float(outcome.deficit),
        )
        for outcome in fair_return_outcomes(prepared.problem, solution.placements)
    ]


def _float(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


def _quota_reports(prepared: Prepared, outcomes: tuple[QuotaOutcome, ...]) -> list[QuotaReport]:
    """One report per round-file quota; an each-country quota reports the country that binds most."""
    grouped: dict[str, list[QuotaOutcome]] = defaultdict(list)
    for outcome in outcomes:
        grouped[prepared.problem.quotas[outcome.quota].group].append(outcome)
    reports = []
    for quota in prepared.round_file.quotas:
        parts = grouped.get(quota.id, [])
        shares = [part.share for part in parts if part.share is not None]
        share: Fraction | None = None
        if shares:
            share = max(shares) if quota.max_share is not None else min(shares)
        reports.append(
            QuotaReport(
                id=quota.id,
                share=None if share is None else float(share),
                min_share=quota.min_share,
                max_share=quota.max_share,
                met=all(part.met for part in parts),
                penalty=sum(part.penalty for part in parts) if quota.soft else None,
            )
        )
    return reports


def summary(prepared: Prepared, schedule: ScheduleFile) -> str:
    """A few lines a coordinator reads after a solve."""
    problem = prepared.problem
    unblocked = sum(
        problem.horizon - sum(end - start for start, end in instrument.blocked) for instrument in problem.instruments
    )
    used = sum(allocation.shifts for allocation in schedule.allocations)
    requests = len(schedule.allocations) + len(schedule.unallocated)
    lines = [
        f"status {schedule.status}; objective {schedule.objective:,.1f}"
        + (f" (bound {schedule.bound:,.1f}, gap {_gap(schedule):.2%})" if schedule.bound else ""),
        f"{len(schedule.allocations)} of {requests} requests allocated; {used:,} of {unblocked:,} "
        f"unblocked shifts used ({used / unblocked if unblocked else 0:.1%})",
    ]
    for report in schedule.quotas:
        bounds = " ".join(
            part
            for part in (
                f"min {report.min_share:.0%}" if report.min_share is not None else "",
                f"max {report.max_share:.0%}" if report.max_share is not None else "",
            )
            if part
        )
        share = "n/a" if report.share is None else f"{report.share:.1%}"
        penalty = f", penalty {report.penalty:.1f}" if report.penalty else ""
        lines.append(f"quota {report.id}: {share} ({bounds}) {'met' if report.met else 'NOT MET'}{penalty}")
    for target in schedule.fair_return or []:
        shares = ", ".join(
            f"{label} {'n/a' if share is None else f'{share:.1%}'}"
            for label, share in (
                ("history", target.history_share),
                ("this round", target.round_share),
                ("cumulative", target.cumulative_share),
            )
        )
        lines.append(f"fair return {target.id}: {shares}; still owed {target.deficit:,.1f} shifts")
    reasons = Counter(item.reason for item in schedule.unallocated)
    if reasons:
        lines.append("unallocated: " + ", ".join(f"{reason} {count}" for reason, count in reasons.most_common()))
    if schedule.rank_fairness is not None and schedule.rank_fairness.requests:
        fairness = schedule.rank_fairness
        why = ", ".join(f"{stay} {count}" for stay, count in fairness.stays_because.items())
        lines.append(
            f"rank fairness: {fairness.requests} unallocated requests would fit by removing one lower-ranked "
            f"block alone ({fairness.blocks} such blocks; they stay because: {why})"
        )
    if schedule.changes is not None:
        changes = schedule.changes
        lines.append(
            f"changes: {len(changes.moved)} moved, {len(changes.resized)} resized, "
            f"{len(changes.dropped)} dropped, {len(changes.added)} added"
        )
    lines.extend(f"note: {note}" for note in schedule.notes)
    return "\n".join(lines)


def _gap(schedule: ScheduleFile) -> float:
    if not schedule.bound:
        return 0.0
    return (schedule.bound - schedule.objective) / schedule.bound
