"""Repairing a published schedule after changes, without shuffling slots people have planned around.

Allocations that start before `now` plus the frozen horizon are pinned while
they still keep every rule; the others are kept where possible (the engine's
stability bonus). Nothing new starts in the past.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.roundfile.build import Prepared
from scheduler.roundfile.checks import check_round
from scheduler.roundfile.contract import (
    Allocation,
    AllocationChange,
    PreviousAllocation,
    RoundFile,
    ScheduleChanges,
    ScheduleFile,
    Slot,
)
from scheduler.roundfile.grid import Grid
from scheduler.roundfile.solving import solve_round
from solver.problem import Settings
from solver.search import ProgressCallback

DEFAULT_FROZEN_DAYS = 14.0


@dataclass(frozen=True)
class RepairInput:
    round_file: RoundFile
    """The round with `previous_schedule` set and no new block allowed before `now`."""
    disrupted: tuple[str, ...]
    """Requests whose allocation inside the frozen horizon broke a rule (a new window, say)."""


def repair_input(
    round_file: RoundFile, previous: ScheduleFile, now: datetime, frozen_days: float = DEFAULT_FROZEN_DAYS
) -> RepairInput:
    grid = Grid(round_file.round)
    frozen_until = now + timedelta(days=frozen_days)
    requests = {request.id for proposal in round_file.proposals for request in proposal.requests}
    kept = [
        PreviousAllocation(
            request=allocation.request,
            instrument=allocation.instrument,
            start_shift=allocation.start_shift,
            shifts=allocation.shifts,
            pinned=allocation.pinned or grid.time(allocation.start_shift) < frozen_until,
        )
        for allocation in previous.allocations
        if allocation.request in requests
    ]
    candidate = round_file.model_copy(update={"previous_schedule": kept})
    broken = {
        int(problem.path.split("[")[1].split("]")[0])
        for problem in check_round(candidate)
        if problem.path.startswith("$.previous_schedule[")
    }
    disrupted = tuple(kept[k].request for k in sorted(broken))
    # A pinned block that broke a rule is freed; if it already began it cannot move into the past.
    repaired = [
        allocation.model_copy(update={"pinned": False}) if k in broken else allocation
        for k, allocation in enumerate(kept)
        if not (k in broken and grid.time(allocation.start_shift) < now)
    ]
    pinned = {allocation.request for allocation in repaired if allocation.pinned}
    proposals = [
        proposal.model_copy(
            update={
                "requests": [
                    request
                    if request.id in pinned
                    else request.model_copy(update={"earliest": max(request.earliest or now, now)})
                    for request in proposal.requests
                ]
            }
        )
        for proposal in round_file.proposals
    ]
    return RepairInput(round_file.model_copy(update={"previous_schedule": repaired, "proposals": proposals}), disrupted)


def changes_between(previous: ScheduleFile, current: ScheduleFile) -> ScheduleChanges:
    """Per request: moved (instrument or start), shortened or lengthened, dropped, added."""
    before = {allocation.request: allocation for allocation in previous.allocations}
    after = {allocation.request: allocation for allocation in current.allocations}
    changes = ScheduleChanges()
    for request in sorted(before.keys() | after.keys()):
        old, new = before.get(request), after.get(request)
        if old is None and new is not None:
            changes.added.append(_change(request, new.proposal, None, new))
        elif new is None and old is not None:
            changes.dropped.append(_change(request, old.proposal, old, None))
        elif old is not None and new is not None:
            if (old.instrument, old.start_shift) != (new.instrument, new.start_shift):
                changes.moved.append(_change(request, new.proposal, old, new))
            elif old.shifts != new.shifts:
                changes.resized.append(_change(request, new.proposal, old, new))
    return changes


def _change(request: str, proposal: str, old: Allocation | None, new: Allocation | None) -> AllocationChange:
    return AllocationChange(
        request=request,
        proposal=proposal,
        before=None if old is None else Slot.model_validate(old, from_attributes=True),
        after=None if new is None else Slot.model_validate(new, from_attributes=True),
    )


def resolve_round(
    round_file: RoundFile,
    previous: ScheduleFile,
    now: datetime,
    frozen_days: float = DEFAULT_FROZEN_DAYS,
    settings: Settings = Settings(),
    on_progress: ProgressCallback | None = None,
    started: float | None = None,
) -> tuple[RepairInput, Prepared, ScheduleFile]:
    """The repaired schedule, with its changes against `previous` and the disrupted slots in its notes;
    the time limit counts from `started` (`solve_round`)."""
    repair = repair_input(round_file, previous, now, frozen_days)
    prepared, schedule = solve_round(repair.round_file, settings, on_progress, started=started)
    notes = [
        *schedule.notes,
        *(f"{request}: its slot inside the frozen horizon broke a rule and was freed" for request in repair.disrupted),
    ]
    return (
        repair,
        prepared,
        schedule.model_copy(update={"changes": changes_between(previous, schedule), "notes": notes}),
    )
