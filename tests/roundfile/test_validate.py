"""The referee must catch each broken rule on its own and name what broke it.

Schedules are built by hand on the example round (42 shifts of 8 h from
2027-02-01T08:00+03:00; SKIF's facility window blocks shifts 6-8 on both SKIF
instruments, SKIF-1-4's own window blocks shift 27). Each test breaks one rule.
"""

from __future__ import annotations

import json
from datetime import timedelta, timezone
from fractions import Fraction
from typing import Any

import pytest

from fixtures import EXAMPLE_ROUND
from scheduler.roundfile import quotas as quota_rules
from scheduler.roundfile.contract import Quota, QuotaCategory, RoundFile, ScheduleFile
from scheduler.roundfile.validate import (
    WHOLE_CATEGORY,
    Violation,
    attributed_fractions,
    format_violations,
    quota_shares,
    validate_schedule,
)

EXAMPLE = EXAMPLE_ROUND
PRIORITIES = {"P-001": 4.0, "P-002": 3.0, "P-003": 2.5, "P-004": 2.0, "P-005": 1.0, "P-006": 5.0}
Block = tuple[str, str, int, int]
VALID: list[Block] = [
    ("P-001-a", "SKIF-1-1", 9, 9),
    ("P-004-a", "SKIF-1-1", 19, 6),
    ("P-003-a", "SKIF-1-4", 0, 3),
    ("P-002-a", "SKIF-1-4", 12, 6),
    ("P-003-b", "PIK-SANS", 3, 9),
    ("P-006-a", "PIK-SANS", 13, 12),
]


def example_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return data


def request_data(data: dict[str, Any], request_id: str) -> dict[str, Any]:
    return next(r for p in data["proposals"] for r in p["requests"] if r["id"] == request_id)


def proposal_data(data: dict[str, Any], proposal_id: str) -> dict[str, Any]:
    return next(p for p in data["proposals"] if p["id"] == proposal_id)


def instrument_data(data: dict[str, Any], instrument_id: str) -> dict[str, Any]:
    return next(i for f in data["facilities"] for i in f["instruments"] if i["id"] == instrument_id)


def round_from(data: dict[str, Any]) -> RoundFile:
    return RoundFile.model_validate(data)


def schedule_for(round_file: RoundFile, blocks: list[Block], priorities: dict[str, float] = PRIORITIES) -> ScheduleFile:
    """A schedule of the blocks with times and objective consistent; every other request unallocated."""
    owners = {r.id: p.id for p in round_file.proposals for r in p.requests}
    step = timedelta(hours=round_file.round.shift_hours)
    start = round_file.round.start
    allocations = [
        {
            "proposal": owners[request],
            "request": request,
            "instrument": instrument,
            "start_shift": first,
            "shifts": shifts,
            "start": (start + first * step).isoformat(),
            "end": (start + (first + shifts) * step).isoformat(),
            "priority": priorities[owners[request]],
        }
        for request, instrument, first, shifts in blocks
    ]
    placed = {block[0] for block in blocks}
    unallocated = [
        {"proposal": proposal, "request": request, "reason": "capacity"}
        for request, proposal in owners.items()
        if request not in placed
    ]
    return ScheduleFile.model_validate(
        {
            "format": "beamtime-schedule/1",
            "round": round_file.round.id,
            "status": "feasible",
            "objective": sum(priorities[owners[request]] * shifts for request, _, _, shifts in blocks),
            "bound": None,
            "solve_seconds": 0.0,
            "allocations": allocations,
            "unallocated": unallocated,
            "quotas": [],
        }
    )


def replaced(blocks: list[Block], *changes: Block) -> list[Block]:
    """The blocks with those of the same requests swapped for the changes."""
    changed = {change[0]: change for change in changes}
    kept = [block for block in blocks if block[0] not in changed]
    return kept + list(changes)


def without(blocks: list[Block], request: str) -> list[Block]:
    return [block for block in blocks if block[0] != request]


def check(data: dict[str, Any], blocks: list[Block], excluded: tuple[str, ...] = ("P-005",)) -> list[Violation]:
    round_file = round_from(data)
    return validate_schedule(round_file, schedule_for(round_file, blocks), PRIORITIES, excluded)


def only(violations: list[Violation], rule: int) -> Violation:
    """The single violation, asserting it is of the rule."""
    assert [v.rule for v in violations] == [rule], format_violations(violations)
    return violations[0]


def test_valid_schedule_has_no_violations() -> None:
    assert check(example_data(), VALID) == []


def test_quota_shares_of_the_valid_schedule() -> None:
    round_file = round_from(example_data())
    # 45 shifts in all, 24 at SKIF. foreign by PI: P-002 (IN) 6 + P-003 (CN) 12.
    # each foreign country by team: IN 6/2, CN 12/2, KZ 12/2, ZA 12/2 -> the largest is 6.
    # CIS by team: KZ 6. industrial at SKIF: P-004 6 of 24.
    assert quota_shares(round_file, schedule_for(round_file, VALID)) == {
        "foreign-min": Fraction(18, 45),
        "each-foreign-country-max": Fraction(6, 45),
        "industrial-max": Fraction(6, 24),
        "cis-min": Fraction(6, 45),
    }


# Rule 1: names, one entry per request, round id.


def test_unknown_request_is_reported() -> None:
    round_file = round_from(example_data())
    schedule = schedule_for(round_file, VALID)
    stray = schedule.allocations[0].model_copy(update={"request": "P-999-a"})
    schedule.allocations.append(stray)
    schedule.objective += stray.priority * stray.shifts
    violation = only(validate_schedule(round_file, schedule, PRIORITIES, {"P-005"}), 1)
    assert violation.path == "$.allocations[6]"
    assert "P-999-a" in violation.message


def test_instrument_not_asked_for_is_reported() -> None:
    violation = only(check(example_data(), replaced(VALID, ("P-006-a", "SKIF-1-1", 26, 12))), 1)
    assert "P-006-a" in violation.message and "SKIF-1-1" in violation.message


def test_wrong_proposal_id_is_reported() -> None:
    round_file = round_from(example_data())
    schedule = schedule_for(round_file, VALID)
    schedule.allocations[0].proposal = "P-002"
    violation = only(validate_schedule(round_file, schedule, PRIORITIES, {"P-005"}), 1)
    assert all(name in violation.message for name in ("P-001-a", "P-001", "P-002"))


def test_second_allocation_of_a_request_is_reported() -> None:
    violation = only(check(example_data(), [*VALID, ("P-001-a", "SKIF-1-1", 30, 6)]), 1)
    assert violation.path == "$.allocations[6]"
    assert "P-001-a" in violation.message and "$.allocations[0]" in violation.message


def test_request_missing_from_both_lists_is_reported() -> None:
    round_file = round_from(example_data())
    schedule = schedule_for(round_file, VALID)
    schedule.unallocated = [u for u in schedule.unallocated if u.request != "P-005-a"]
    violation = only(validate_schedule(round_file, schedule, PRIORITIES, {"P-005"}), 1)
    assert "P-005-a" in violation.message and "P-005" in violation.message


def test_request_both_allocated_and_unallocated_is_reported() -> None:
    round_file = round_from(example_data())
    schedule = schedule_for(round_file, VALID)
    schedule.unallocated.append(schedule.unallocated[0].model_copy(update={"request": "P-002-a", "proposal": "P-002"}))
    violation = only(validate_schedule(round_file, schedule, PRIORITIES, {"P-005"}), 1)
    assert "P-002-a" in violation.message and violation.path.startswith("$.unallocated")


def test_wrong_round_id_is_reported() -> None:
    round_file = round_from(example_data())
    schedule = schedule_for(round_file, VALID)
    schedule.round = "2026-II"
    violation = only(validate_schedule(round_file, schedule, PRIORITIES, {"P-005"}), 1)
    assert violation.path == "$.round" and "2026-II" in violation.message


# Rule 2: length, grid, blocked shifts, reported times.


@pytest.mark.parametrize(
    "block",
    [("P-001-a", "SKIF-1-1", 9, 5), ("P-002-a", "SKIF-1-4", 12, 7)],
    ids=["below-min-shifts", "above-shifts"],
)
def test_block_length_outside_request_bounds(block: Block) -> None:
    violation = only(check(example_data(), replaced(VALID, block)), 2)
    assert block[0] in violation.message and f"{block[3]} shifts" in violation.message


def test_block_past_the_end_of_the_grid() -> None:
    violation = only(check(example_data(), replaced(VALID, ("P-006-a", "PIK-SANS", 35, 12))), 2)
    assert "P-006-a" in violation.message and "42 shifts" in violation.message


def test_shift_blocked_by_a_facility_window() -> None:
    violation = only(check(example_data(), replaced(VALID, ("P-001-a", "SKIF-1-1", 3, 9))), 2)
    assert "P-001-a" in violation.message and "SKIF-1-1" in violation.message
    assert "[6, 7, 8]" in violation.message and "facility SKIF" in violation.message


def test_shift_blocked_by_an_instrument_window() -> None:
    violation = only(check(example_data(), replaced(VALID, ("P-002-a", "SKIF-1-4", 24, 6))), 2)
    assert "[27]" in violation.message and "instrument SKIF-1-4" in violation.message


def test_reported_times_off_the_grid() -> None:
    round_file = round_from(example_data())
    schedule = schedule_for(round_file, VALID)
    schedule.allocations[1].end += timedelta(hours=1)
    violation = only(validate_schedule(round_file, schedule, PRIORITIES, {"P-005"}), 2)
    assert violation.path == "$.allocations[1]" and "P-004-a" in violation.message


def test_reported_times_compare_as_instants() -> None:
    round_file = round_from(example_data())
    schedule = schedule_for(round_file, VALID)
    for allocation in schedule.allocations:
        allocation.start = allocation.start.astimezone(timezone(timedelta(hours=7)))
    assert validate_schedule(round_file, schedule, PRIORITIES, {"P-005"}) == []


# Rule 3: changeovers.


def test_changeover_gap_of_zero_when_one_is_needed() -> None:
    violation = only(check(example_data(), replaced(VALID, ("P-004-a", "SKIF-1-1", 18, 6))), 3)
    assert "P-004-a" in violation.message and "P-001-a" in violation.message
    assert "changeover_shifts is 1" in violation.message


def test_overlap_on_an_instrument() -> None:
    violation = only(check(example_data(), replaced(VALID, ("P-004-a", "SKIF-1-1", 15, 6))), 3)
    assert "overlaps" in violation.message and "P-001-a" in violation.message


def test_back_to_back_is_fine_without_changeover() -> None:
    assert check(example_data(), replaced(VALID, ("P-004-a", "SKIF-1-4", 18, 6))) == []


# Rule 4: request windows.


def test_block_before_earliest() -> None:
    violation = only(check(example_data(), replaced(VALID, ("P-002-a", "SKIF-1-4", 9, 6))), 4)
    assert "P-002-a" in violation.message and "earliest" in violation.message


def test_block_after_latest() -> None:
    data = example_data()
    request_data(data, "P-001-a")["latest"] = "2027-02-07T08:00:00+03:00"  # the start of shift 18
    assert check(data, VALID) == []
    request_data(data, "P-001-a")["latest"] = "2027-02-07T00:00:00+03:00"
    violation = only(check(data, VALID), 4)
    assert "P-001-a" in violation.message and "latest" in violation.message


def test_block_overlapping_an_unavailable_interval() -> None:
    data = example_data()
    unavailable = request_data(data, "P-001-a")["unavailable"]
    unavailable.append({"start": "2027-02-07T08:00:00+03:00", "end": "2027-02-08T08:00:00+03:00"})
    assert check(data, VALID) == []  # half-open: the block ends where the interval starts
    unavailable.append({"start": "2027-02-05T00:00:00+03:00", "end": "2027-02-05T01:00:00+03:00"})
    violation = only(check(data, VALID), 4)
    assert "P-001-a" in violation.message and "unavailable" in violation.message


# Rule 5: equipment.


def test_equipment_units_exceeded_across_instruments() -> None:
    data = example_data()
    request_data(data, "P-001-a")["equipment"] = ["cryomagnet-9T"]  # [9, 18) meets [3, 12) and [13, 25)
    violations = check(data, VALID)
    assert [v.rule for v in violations] == [5, 5]
    assert "cryomagnet-9T" in violations[0].message and "P-001-a, P-003-b" in violations[0].message
    assert "P-001-a, P-006-a" in violations[1].message and "shift 13" in violations[1].message


def test_equipment_with_enough_units_is_shared() -> None:
    data = example_data()
    request_data(data, "P-001-a")["equipment"] = ["cryomagnet-9T"]
    data["equipment"][0]["units"] = 2
    assert check(data, VALID) == []


# Rule 6: links.


def test_all_or_nothing_half_allocated() -> None:
    violation = only(check(example_data(), without(VALID, "P-003-b")), 6)
    assert all(name in violation.message for name in ("P-003", "P-003-a", "P-003-b"))


def test_all_or_nothing_with_nothing_allocated() -> None:
    violations = check(example_data(), without(without(VALID, "P-003-a"), "P-003-b"))
    assert [v.rule for v in violations] == [7]  # only foreign-min misses: 6 of 33 shifts are foreign


@pytest.mark.parametrize(("then_start", "gap"), [(19, 16), (1, -2)], ids=["gap-too-large", "starts-before-first-ends"])
def test_after_link_gap_out_of_range(then_start: int, gap: int) -> None:
    blocks = replaced(VALID, ("P-003-b", "PIK-SANS", then_start, 9), ("P-006-a", "PIK-SANS", 30, 12))
    violation = only(check(example_data(), blocks), 6)
    assert "P-003-a" in violation.message and "P-003-b" in violation.message
    assert f"starts {gap} shifts" in violation.message


def test_after_link_gap_at_its_maximum() -> None:
    blocks = replaced(VALID, ("P-003-b", "PIK-SANS", 18, 9), ("P-006-a", "PIK-SANS", 28, 12))
    assert check(example_data(), blocks) == []


# Rule 7: reserve share.


def test_reserve_share_exceeded() -> None:
    data = example_data()
    instrument_data(data, "SKIF-1-4")["reserve_share"] = 0.9  # 0.1 x 38 unblocked = 3.8 < 9
    violation = only(check(data, VALID), 7)
    assert "SKIF-1-4" in violation.message and "38 unblocked" in violation.message


def test_reserve_share_at_its_limit_despite_float_rounding() -> None:
    data = example_data()
    instrument_data(data, "SKIF-1-4")["reserve_share"] = 1 - 9 / 38  # (1 - r) x 38 = 8.999999999999998
    assert check(data, VALID) == []
    violation = only(check(data, replaced(VALID, ("P-004-a", "SKIF-1-4", 18, 6))), 7)
    assert "SKIF-1-4" in violation.message


# Rule 7: quotas, on a small round of two facilities in RU and DE.
# A: PI RU, team IN, IN, CN, 8 shifts. B: PI DE, team RU, industrial, 4 shifts.


def quota_data(*quotas: dict[str, Any]) -> dict[str, Any]:
    def person(country: str) -> dict[str, str]:
        return {"name": f"someone from {country}", "country": country}

    def proposal(pid: str, kind: str, pi: str, team: list[str], shifts: int) -> dict[str, Any]:
        request = {"id": f"{pid}-a", "instruments": ["RU-1", "DE-1"], "shifts": shifts}
        return {
            "id": pid,
            "title": pid,
            "type": kind,
            "pi": person(pi),
            "team": [person(c) for c in team],
            "priority": 1.0,
            "requests": [request],
        }

    def facility(fid: str, country: str) -> dict[str, Any]:
        return {
            "id": fid,
            "name": fid,
            "country": country,
            "timezone": "UTC",
            "instruments": [{"id": f"{country}-1", "name": f"{country}-1"}],
        }

    return {
        "format": "beamtime-round/1",
        "round": {"id": "Q", "name": "Q", "start": "2027-03-01T00:00:00Z", "end": "2027-03-08T00:00:00Z"},
        "country_groups": {"BRICS": ["BR", "CN", "IN", "ZA"]},
        "facilities": [facility("RUF", "RU"), facility("DEF", "DE")],
        "quotas": [{"id": "q", "scope": {}, **quota} for quota in quotas],
        "proposals": [
            proposal("A", "standard", "RU", ["IN", "IN", "CN"], 8),
            proposal("B", "industrial", "DE", ["RU"], 4),
        ],
    }


def check_quota(quota: dict[str, Any], b_instrument: str = "RU-1") -> tuple[list[Violation], Fraction | None]:
    """Violations and share of the quota "q" with A on RU-1 [0, 8) and B on `b_instrument` [8, 12)."""
    round_file = round_from(quota_data(quota))
    blocks: list[Block] = [("A-a", "RU-1", 0, 8), ("B-a", b_instrument, 8, 4)]
    schedule = schedule_for(round_file, blocks, {"A": 1, "B": 1})
    return validate_schedule(round_file, schedule), quota_shares(round_file, schedule)["q"]


def test_foreign_min_missed_with_pi_attribution_but_met_with_team() -> None:
    # pi: only B's 4 shifts are foreign -> 4/12. team: A 3/4 x 8 + B 1/2 x 4 = 8 -> 8/12.
    violations, share = check_quota({"category": {"foreign": True}, "min_share": 0.5, "attribution": "pi"})
    assert share == Fraction(1, 3)
    assert "quota q" in only(violations, 7).message
    violations, share = check_quota({"category": {"foreign": True}, "min_share": 0.5, "attribution": "team"})
    assert (violations, share) == ([], Fraction(2, 3))


def test_foreign_is_decided_where_the_time_is_allocated() -> None:
    # B's German PI is domestic at the German facility: no foreign shifts by PI.
    violations, share = check_quota(
        {"category": {"foreign": True}, "min_share": 0.25, "attribution": "pi"}, b_instrument="DE-1"
    )
    assert share == 0 and len(violations) == 1


def test_share_equal_to_the_bound_is_met() -> None:
    # BRICS by team: A's IN, IN, CN are 3/4 of 8 = 6 of 12 shifts.
    violations, share = check_quota({"category": {"country_group": "BRICS"}, "max_share": 0.5, "attribution": "team"})
    assert (violations, share) == ([], Fraction(1, 2))


def test_each_foreign_country_max_names_the_country() -> None:
    # team: IN 1/2 x 8 = 4, CN 2, DE 1/2 x 4 = 2 of 12.
    violations, share = check_quota(
        {"category": {"each_foreign_country": True}, "max_share": 0.3, "attribution": "team"}
    )
    assert share == Fraction(1, 3)
    assert "for country IN" in only(violations, 7).message


def test_each_country_min_binds_on_the_smallest_country() -> None:
    # pi: RU 8, DE 4 of 12.
    quota = {"category": {"each_country": True}, "min_share": 0.4, "attribution": "pi"}
    violations, share = check_quota(quota)
    assert share == Fraction(1, 3)
    assert "for country DE" in only(violations, 7).message


def test_each_foreign_country_with_no_foreign_time_is_met() -> None:
    violations, share = check_quota(
        {"category": {"each_foreign_country": True}, "min_share": 0.5, "attribution": "pi"},
        b_instrument="DE-1",
    )
    assert (violations, share) == ([], None)


@pytest.mark.parametrize(
    ("category", "attribution", "expected"),
    [
        ({"domestic": True}, "pi", Fraction(8, 12)),
        ({"country": "IN"}, "team", Fraction(4, 12)),
        ({"country": "IN"}, "pi", Fraction(0)),
        ({"proposal_type": "industrial"}, "team", Fraction(4, 12)),
        ({"each_country": True}, "team", Fraction(4, 12)),  # RU 2 + 2, IN 4, CN 2, DE 2
    ],
)
def test_category_shares(category: dict[str, Any], attribution: str, expected: Fraction) -> None:
    _, share = check_quota({"category": category, "max_share": 1.0, "attribution": attribution})
    assert share == expected


def test_scope_is_the_union_of_facilities_and_instruments() -> None:
    quota = {"category": {"foreign": True}, "min_share": 0.5, "attribution": "pi"}
    violations, share = check_quota({**quota, "scope": {"facilities": ["DEF"], "instruments": ["RU-1"]}})
    assert share == Fraction(1, 3) and len(violations) == 1
    violations, share = check_quota({**quota, "scope": {"facilities": ["DEF"]}}, b_instrument="DE-1")
    assert share == 0 and len(violations) == 1  # only B's 4 shifts at DEF, its PI domestic there


def test_quota_with_nothing_allocated_in_scope_is_met() -> None:
    violations, share = check_quota(
        {"scope": {"instruments": ["DE-1"]}, "category": {"foreign": True}, "min_share": 0.5}
    )
    assert (violations, share) == ([], None)


def test_soft_quota_may_be_missed_but_is_reported() -> None:
    violations, share = check_quota({"category": {"foreign": True}, "min_share": 0.5, "soft": True})
    assert (violations, share) == ([], Fraction(1, 3))


def test_attributed_fractions_of_a_team() -> None:
    proposal = round_from(quota_data()).proposals[0]
    quarter, half = Fraction(1, 4), Fraction(1, 2)
    assert quota_rules.country_fractions(proposal, "team") == {"RU": quarter, "IN": half, "CN": quarter}
    assert quota_rules.country_fractions(proposal, "pi") == {"RU": 1}
    foreign = team_quota(foreign=True)
    assert attributed_fractions(proposal, foreign, "RU", {}) == {WHOLE_CATEGORY: 3 * quarter}
    assert attributed_fractions(proposal, foreign, "IN", {}) == {WHOLE_CATEGORY: half}
    each_foreign = team_quota(each_foreign_country=True)
    assert attributed_fractions(proposal, each_foreign, "IN", {}) == {"RU": quarter, "CN": quarter}
    brics = team_quota(country_group="BRICS")
    assert attributed_fractions(proposal, brics, "RU", {"BRICS": ["CN"]}) == {WHOLE_CATEGORY: quarter}


def team_quota(**category: Any) -> Quota:
    return Quota(id="q", category=QuotaCategory(**category), attribution="team", min_share=0.0)


@pytest.mark.parametrize(
    "category",
    [
        {"foreign": True},
        {"domestic": True},
        {"country": "IN"},
        {"country": "DE"},
        {"country_group": "BRICS"},
        {"country_group": "undefined"},
        {"proposal_type": "standard"},
        {"proposal_type": "industrial"},
        {"each_country": True},
        {"each_foreign_country": True},
    ],
)
@pytest.mark.parametrize("attribution", ["pi", "team"])
@pytest.mark.parametrize("facility_country", ["RU", "IN", "DE"])
@pytest.mark.parametrize("unconfirmed", [(), ("IN",), ("RU", "IN", "CN")])
def test_the_referee_attributes_time_as_the_builder_does(
    category: dict[str, Any], attribution: quota_rules.Attribution, facility_country: str, unconfirmed: tuple[str, ...]
) -> None:
    """The referee's person-by-person attribution and the shared quota rules are written apart and agree."""
    proposal = round_from(quota_data()).proposals[0]
    people = [proposal.pi, *proposal.team]
    proposal = proposal.model_copy(
        update={
            "pi": people[0].model_copy(update={"country_confirmed": people[0].country not in unconfirmed}),
            "team": [p.model_copy(update={"country_confirmed": p.country not in unconfirmed}) for p in people[1:]],
        }
    )
    quota = Quota(id="q", category=QuotaCategory(**category), attribution=attribution, min_share=0.0)
    groups = {"BRICS": ["CN", "IN"]}
    builder = quota_rules.attributed_fractions(proposal, quota.category, facility_country, groups, attribution)
    assert attributed_fractions(proposal, quota, facility_country, groups) == builder


# Rule 8: pinned allocations.


@pytest.mark.parametrize("pinned", [True, False])
def test_pinned_allocation_moved(pinned: bool) -> None:
    data = example_data()
    data["previous_schedule"] = [
        {"request": "P-001-a", "instrument": "SKIF-1-1", "start_shift": 9, "shifts": 9, "pinned": pinned}
    ]
    assert check(data, VALID) == []
    moved = check(data, replaced(VALID, ("P-001-a", "SKIF-1-1", 9, 8)))
    if pinned:
        violation = only(moved, 8)
        assert "P-001-a" in violation.message and "[9, 17)" in violation.message
    else:
        assert moved == []


def test_pinned_allocation_dropped() -> None:
    data = example_data()
    data["previous_schedule"] = [
        {"request": "P-004-a", "instrument": "SKIF-1-1", "start_shift": 19, "shifts": 6, "pinned": True}
    ]
    assert "P-004-a" in only(check(data, without(VALID, "P-004-a")), 8).message


# Rule 9: proposals the scoring stage gives no time.


def test_excluded_proposal_allocated() -> None:
    violation = only(check(example_data(), [*VALID, ("P-005-a", "PIK-SANS", 26, 6)]), 9)
    assert "P-005" in violation.message and "P-005-a" in violation.message
    assert check(example_data(), [*VALID, ("P-005-a", "PIK-SANS", 26, 6)], excluded=()) == []


def test_technically_infeasible_proposal_allocated() -> None:
    data = example_data()
    proposal_data(data, "P-004")["technically_feasible"] = False
    violation = only(check(data, VALID, excluded=()), 9)
    assert "P-004" in violation.message and "not technically feasible" in violation.message


# Rule 0: the objective.


def test_objective_mismatch() -> None:
    round_file = round_from(example_data())
    schedule = schedule_for(round_file, VALID)
    schedule.objective += 1
    violation = only(validate_schedule(round_file, schedule, PRIORITIES, {"P-005"}), 0)
    assert violation.path == "$.objective"
    schedule.objective -= 1 - 1e-5  # within 1e-6 relative of 156
    assert validate_schedule(round_file, schedule, PRIORITIES, {"P-005"}) == []


def test_objective_priorities_fall_back_to_the_proposal_then_the_allocation() -> None:
    data = example_data()
    proposal_data(data, "P-001")["priority"] = 10.0
    round_file = round_from(data)
    schedule = schedule_for(round_file, VALID, {**PRIORITIES, "P-001": 10.0})
    assert validate_schedule(round_file, schedule, None, {"P-005"}) == []
    only(validate_schedule(round_file, schedule, PRIORITIES, {"P-005"}), 0)


def test_format_violations() -> None:
    violations = [Violation(3, "$.allocations[1]", "a"), Violation(0, "$.objective", "b")]
    assert format_violations(violations) == "rule 3 at $.allocations[1]: a\nrule 0 at $.objective: b"
