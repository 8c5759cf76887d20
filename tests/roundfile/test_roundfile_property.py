"""Random small round files through the whole pipeline: every schedule written must validate.

This goes through calendar arithmetic, scoring, quota attribution and the
engine, and is judged by the independent validator, so a slip in any layer shows.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.roundfile.checks import load_round
from scheduler.roundfile.scoring import score_round
from scheduler.roundfile.solving import exclusions, priorities, solve_round
from scheduler.roundfile.validate import validate_schedule
from solver.problem import Settings

START = datetime(2027, 3, 1, 8, tzinfo=timezone(timedelta(hours=3)))
COUNTRIES = ["RU", "KZ", "IN", "CN", "BY", "DE"]


def _at(shift: int, hours: int = 0) -> str:
    return (START + timedelta(hours=8 * shift + hours)).isoformat()


@st.composite
def round_files(draw: st.DrawFn) -> dict[str, Any]:
    shifts_in_round = draw(st.integers(9, 24))
    facilities = []
    instrument_ids = []
    for f in range(draw(st.integers(1, 2))):
        instruments = []
        for i in range(draw(st.integers(1, 2))):
            code = f"F{f}-I{i}"
            instrument_ids.append(code)
            windows = []
            if draw(st.booleans()):
                first = draw(st.integers(0, shifts_in_round - 1))
                # Windows need not sit on shift boundaries: any overlap blocks the shift.
                windows.append(
                    {
                        "start": _at(first, draw(st.sampled_from([0, 3]))),
                        "end": _at(first + 1, 2),
                        "kind": "maintenance",
                    }
                )
            instruments.append(
                {
                    "id": code,
                    "name": code,
                    "changeover_shifts": draw(st.integers(0, 1)),
                    "reserve_share": draw(st.sampled_from([0.0, 0.0, 0.2])),
                    "maintenance": windows,
                }
            )
        facilities.append(
            {
                "id": f"F{f}",
                "name": f"F{f}",
                "country": ["RU", "KZ"][f],
                "timezone": "Europe/Moscow",
                "instruments": instruments,
            }
        )
    proposals = []
    for p in range(draw(st.integers(2, 6))):
        requests = []
        for q in range(draw(st.integers(1, 2))):
            shifts = draw(st.integers(1, 5))
            request: dict[str, Any] = {
                "id": f"P{p}-{q}",
                "instruments": draw(st.lists(st.sampled_from(instrument_ids), min_size=1, max_size=2, unique=True)),
                "shifts": shifts,
                "min_shifts": draw(st.integers(1, shifts)),
                "equipment": ["cryostat"] if draw(st.integers(0, 3)) == 0 else [],
            }
            if draw(st.booleans()):
                request["earliest"] = _at(draw(st.integers(0, 3)), draw(st.sampled_from([0, 5])))
            if draw(st.integers(0, 3)) == 0:
                away = draw(st.integers(0, shifts_in_round - 2))
                request["unavailable"] = [{"start": _at(away, 1), "end": _at(away + 1)}]
            requests.append(request)
        links: list[dict[str, Any]] = []
        if len(requests) == 2 and draw(st.booleans()):
            links.append({"type": "all_or_nothing", "requests": [r["id"] for r in requests]})
        if len(requests) == 2 and draw(st.booleans()):
            links.append(
                {
                    "type": "after",
                    "first": requests[0]["id"],
                    "then": requests[1]["id"],
                    "min_gap_shifts": draw(st.integers(0, 2)),
                    "max_gap_shifts": draw(st.sampled_from([None, 6])),
                }
            )
        team = [
            {"name": f"T{p}{m}", "country": draw(st.sampled_from(COUNTRIES))} for m in range(draw(st.integers(0, 2)))
        ]
        grade = draw(st.sampled_from([1.0, 1.5, 2.0, 3.0, 4.0]))
        proposals.append(
            {
                "id": f"P{p}",
                "title": f"P{p}",
                "type": draw(st.sampled_from(["standard", "industrial", "in_house"])),
                "pi": {"name": f"PI{p}", "country": draw(st.sampled_from(COUNTRIES))},
                "team": team,
                "technically_feasible": draw(st.sampled_from([True, True, True, False])),
                "reviews": [{"reviewer": "R1", "grade": grade}, {"reviewer": "R2", "grade": grade}],
                "requests": requests,
                "links": links,
            }
        )
    quota_kinds = [
        {"foreign": True},
        {"domestic": True},
        {"country": "IN"},
        {"country_group": "BRICS"},
        {"proposal_type": "industrial"},
        {"each_country": True},
        {"each_foreign_country": True},
    ]
    quotas = []
    for k in range(draw(st.integers(0, 2))):
        quota: dict[str, Any] = {
            "id": f"Q{k}",
            "category": draw(st.sampled_from(quota_kinds)),
            "attribution": draw(st.sampled_from(["pi", "team"])),
            "soft": draw(st.booleans()),
        }
        side = draw(st.sampled_from(["min_share", "max_share"]))
        quota[side] = draw(st.sampled_from([0.1, 0.25, 0.5, 0.75]))
        if draw(st.booleans()):
            quota["scope"] = {"facilities": ["F0"]}
        if quota["soft"]:
            quota["penalty"] = draw(st.sampled_from([0.5, 50.0]))
        quotas.append(quota)
    return {
        "format": "beamtime-round/1",
        "round": {"id": "R", "name": "R", "start": START.isoformat(), "end": _at(shifts_in_round)},
        "country_groups": {"BRICS": ["IN", "CN"]},
        "facilities": facilities,
        "equipment": [{"id": "cryostat", "name": "cryostat", "units": 1}],
        "quotas": quotas,
        "scoring": {"grade_best": 1.0, "grade_worst": 5.0, "min_reviews": 2, "cutoff": 3.5},
        "proposals": proposals,
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(round_files())
def test_every_schedule_of_a_random_round_validates(document: dict[str, Any]) -> None:
    round_file = load_round(document)
    _, schedule = solve_round(round_file, Settings(time_limit=2.0, workers=2, subsolve_seconds=0.3))
    scores = score_round(round_file)
    violations = validate_schedule(round_file, schedule, priorities(scores), set(exclusions(scores)))
    if schedule.status == "infeasible":
        assert schedule.notes and not schedule.allocations
        return
    assert violations == []
    requests = {r.id for p in round_file.proposals for r in p.requests}
    assert {a.request for a in schedule.allocations} | {u.request for u in schedule.unallocated} == requests
