"""Measuring a schedule no solve reported on (imported, edited by hand) as the engine measures its own."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scheduler.roundfile.build import prepare
from scheduler.roundfile.contract import Allocation, RoundFile, ScheduleFile
from scheduler.roundfile.schedule import schedule_file
from scheduler.roundfile.scoring import ProposalScore
from scheduler.roundfile.solving import exclusions, priorities
from scheduler.roundfile.validate import format_violations, validate_schedule
from solver.explain import explain_unallocated
from solver.problem import Placement
from solver.solution import Solution, quota_outcomes


def measure(round_file: RoundFile, scores: Sequence[ProposalScore], allocations: Sequence[Allocation]) -> ScheduleFile:
    """The schedule file of `allocations` in `round_file`: reasons, quota shares, objective and the rules it keeps.

    Priorities come from `scores`, the round's scoring (`score_round`), as a solve would give them; allocations of
    proposals the round no longer has keep priority 0 and are not explained. The status
    is `feasible` when the schedule keeps every rule, `unknown` with the broken rules in
    `notes` when it does not. CPU-bound and database-free: callers run it off the event loop.
    """
    scored, excluded = priorities(scores), exclusions(scores)
    prepared = prepare(round_file, scored, excluded)
    given = {proposal.id: proposal.priority for proposal in round_file.proposals}
    priced = [
        allocation.model_copy(
            update={"priority": scored.get(allocation.proposal, given.get(allocation.proposal) or 0.0)}
        )
        for allocation in allocations
    ]
    request_index = {code: r for r, code in enumerate(prepared.request_ids)}
    instrument_index = {code: i for i, code in enumerate(prepared.instrument_ids)}
    placements = tuple(
        Placement(request_index[a.request], instrument_index[a.instrument], a.start_shift, a.shifts)
        for a in allocations
        if a.request in request_index and a.instrument in instrument_index
    )
    problem = prepared.problem
    solution = Solution(
        status="feasible",
        placements=placements,
        objective=0.0,
        bound=None,
        seconds=0.0,
        quotas=quota_outcomes(problem, placements),
        unallocated=explain_unallocated(problem, placements),
    )
    measured = schedule_file(prepared, solution)
    allocated = {a.request for a in allocations}
    schedule = measured.model_copy(
        update={
            "allocations": priced,
            "unallocated": [item for item in measured.unallocated if item.request not in allocated],
            "objective": math.fsum(allocation.priority * allocation.shifts for allocation in priced),
        }
    )
    violations = validate_schedule(round_file, schedule, scored, excluded)
    if not violations:
        return schedule
    return schedule.model_copy(update={"status": "unknown", "notes": format_violations(violations).splitlines()})
