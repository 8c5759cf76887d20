"""Two rounds: the second repays what the first left India owed, from history read off the first's schedule."""

from __future__ import annotations

from typing import Any

from scheduler.roundfile.contract import FairReturnTarget, RoundFile
from scheduler.roundfile.fair_return import delivered
from scheduler.roundfile.solving import solve_round
from solver.problem import Settings

QUICK = Settings(time_limit=2.0, workers=2, seed=0, subsolve_seconds=0.2)
INDIA = FairReturnTarget.model_validate({"id": "india", "category": {"country": "IN"}, "share": 0.3})


def _round(round_id: str, proposals: list[tuple[str, str, float]], fair_return: dict[str, Any] | None) -> RoundFile:
    """One 20-shift beamline; each proposal (id, PI country, priority) asks for 10 shifts."""
    document: dict[str, Any] = {
        "format": "beamtime-round/1",
        "round": {"id": round_id, "name": round_id, "start": "2027-01-01T00:00:00Z", "end": "2027-01-07T16:00:00Z"},
        "facilities": [
            {
                "id": "SKIF",
                "name": "SKIF",
                "country": "RU",
                "timezone": "Asia/Novosibirsk",
                "instruments": [{"id": "SKIF-1", "name": "Beamline 1"}],
            }
        ],
        "proposals": [
            {
                "id": proposal_id,
                "title": f"Proposal {proposal_id}",
                "type": "standard",
                "pi": {"name": f"PI of {proposal_id}", "institution": "Institute", "country": country},
                "priority": priority,
                "requests": [{"id": f"{proposal_id}-a", "instruments": ["SKIF-1"], "shifts": 10}],
            }
            for proposal_id, country, priority in proposals
        ],
    }
    if fair_return is not None:
        document["fair_return"] = fair_return
    return RoundFile.model_validate(document)


def _with_time(round_file: RoundFile) -> set[str]:
    _, schedule = solve_round(round_file, QUICK)
    return {allocation.proposal for allocation in schedule.allocations}


def test_the_second_round_repays_the_deficit_the_first_left() -> None:
    first = _round("2026-II", [("R1", "RU", 3.0), ("R2", "RU", 2.5), ("I1", "IN", 2.4)], None)
    _, first_schedule = solve_round(first, QUICK)
    assert {a.proposal for a in first_schedule.allocations} == {"R1", "R2"}
    (history,) = delivered(first, first_schedule, [INDIA], "pi")
    assert (history.round, history.target, history.shifts_total, history.shifts) == ("2026-II", "india", 20.0, 0.0)

    proposals = [("R3", "RU", 3.0), ("R4", "RU", 2.5), ("I2", "IN", 1.0)]
    policy = {"targets": [INDIA.model_dump()], "attribution": "pi", "price_per_shift": 2.0}
    # On its own, the second round is worth more to R4: 25 - 2 x 6 owed = 13 against India's 10.
    assert _with_time(_round("2027-I", proposals, policy)) == {"R3", "R4"}
    # With the first round's history India is owed 0.3 x 40 = 12 shifts if R4 gets the time: 1 against 6.
    repaying = _round("2027-I", proposals, {**policy, "history": [history.model_dump()]})
    assert _with_time(repaying) == {"R3", "I2"}
    _, schedule = solve_round(repaying, QUICK)
    (report,) = schedule.fair_return or []
    assert (report.history_share, report.round_share, report.deficit) == (0.0, 0.5, 2.0)
