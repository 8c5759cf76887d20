"""A past round's fair-return history, read off its schedule: what each target was delivered.

The next round's `fair_return.history` is these entries for every earlier round, so the
service fills it in from published schedules and no one types history by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from scheduler.roundfile.contract import FairReturnHistory, FairReturnTarget, RoundFile, ScheduleFile
from scheduler.roundfile.quotas import WHOLE_CATEGORY, Attribution, attributed_fractions, in_scope


def delivered(
    round_file: RoundFile,
    schedule: ScheduleFile,
    targets: Sequence[FairReturnTarget],
    attribution: Attribution,
) -> list[FairReturnHistory]:
    """One history entry per target: the shifts allocated in its scope, and its attributed part of them."""
    facility_of = {i.id: f for f in round_file.facilities for i in f.instruments}
    proposal_of = {proposal.id: proposal for proposal in round_file.proposals}
    entries = []
    for target in targets:
        total = part = Fraction(0)
        for allocation in schedule.allocations:
            facility = facility_of[allocation.instrument]
            if not in_scope(target.scope, facility.id, allocation.instrument):
                continue
            fractions = attributed_fractions(
                proposal_of[allocation.proposal],
                target.category,
                facility.country,
                round_file.country_groups,
                attribution,
            )
            total += allocation.shifts
            part += fractions[WHOLE_CATEGORY] * allocation.shifts
        entries.append(
            FairReturnHistory(
                round=round_file.round.id, target=target.id, shifts_total=float(total), shifts=float(part)
            )
        )
    return entries
