"""The baseline greedy, the hard-rule checker and the LP bound."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.bound import lp_bound
from solver.greedy import Fit, greedy, is_feasible, primary_objective
from solver.problem import (
    After,
    AllOrNothing,
    Equipment,
    Instrument,
    Placement,
    Problem,
    Quota,
    Request,
)
from tests.strategies import problems

HALF = Fraction(1, 2)


def request(
    name: str,
    proposal: int,
    priority: float,
    shifts: int,
    min_shifts: int | None = None,
    instruments: tuple[int, ...] = (0,),
    **optional: object,
) -> Request:
    return Request(
        name=name,
        proposal=proposal,
        priority=priority,
        shifts=shifts,
        min_shifts=shifts if min_shifts is None else min_shifts,
        instruments=instruments,
        **optional,  # type: ignore[arg-type]
    )


def problem(*requests: Request, horizon: int = 10, instruments: int = 1, **optional: object) -> Problem:
    return Problem(
        horizon=horizon,
        instruments=tuple(Instrument(f"I{i}") for i in range(instruments)),
        requests=requests,
        **optional,  # type: ignore[arg-type]
    )


def placed(problem: Problem) -> dict[str, Placement]:
    """Run the greedy, insist its schedule is valid, and index it by request name."""
    schedule = greedy(problem)
    assert is_feasible(problem, schedule) == []
    return {problem.requests[p.request].name: p for p in schedule}


def foreign_quota(problem: Problem, foreign: set[int], **bounds: Fraction) -> Quota:
    weights = {(r, i): Fraction(1) for r, i in problem.candidates() if r in foreign}
    return Quota(name="foreign", instruments=frozenset({0}), weights=weights, **bounds)  # type: ignore[arg-type]


# --- greedy ---------------------------------------------------------------------------------------


def test_higher_priority_proposal_gets_the_earliest_slot() -> None:
    result = placed(problem(request("low", 0, 1.0, 4), request("high", 1, 5.0, 4)))
    assert result["high"] == Placement(1, 0, 0, 4)
    assert result["low"] == Placement(0, 0, 4, 4)


def test_equal_priority_goes_by_proposal_index_then_request_index() -> None:
    result = placed(problem(request("b", 1, 2.0, 3), request("a2", 0, 2.0, 3), request("a1", 0, 2.0, 3)))
    assert [result[name].start for name in ("a2", "a1", "b")] == [0, 3, 6]


def test_full_length_on_a_later_instrument_beats_shortening_on_the_first() -> None:
    base = problem(request("r", 0, 1.0, 6, 2, instruments=(0, 1)), instruments=2)
    blocked = dataclasses.replace(
        base, instruments=(Instrument("I0", blocked=((3, 5),)), Instrument("I1", blocked=((0, 2),)))
    )
    assert placed(blocked)["r"] == Placement(0, 1, 2, 6)


def test_shortens_down_to_min_shifts_when_full_length_does_not_fit() -> None:
    base = problem(request("r", 0, 1.0, 6, 3))
    assert placed(dataclasses.replace(base, instruments=(Instrument("I0", blocked=((4, 6),)),)))["r"] == (
        Placement(0, 0, 0, 4)
    )
    too_short = dataclasses.replace(base, instruments=(Instrument("I0", blocked=((2, 4), (6, 8))),))
    assert placed(too_short) == {}


def test_blocked_span_is_skipped() -> None:
    base = problem(request("r", 0, 1.0, 4))
    assert placed(dataclasses.replace(base, instruments=(Instrument("I0", blocked=((0, 3),)),)))["r"].start == 3


def test_changeover_separates_blocks_on_an_instrument() -> None:
    base = problem(request("a", 0, 2.0, 3), request("b", 1, 1.0, 3))
    result = placed(dataclasses.replace(base, instruments=(Instrument("I0", changeover=2),)))
    assert result["b"].start == result["a"].end + 2


def test_changeover_also_applies_before_a_pinned_block() -> None:
    base = problem(request("pin", 0, 1.0, 3), request("r", 1, 5.0, 3), pinned=(Placement(0, 0, 4, 3),))
    result = placed(dataclasses.replace(base, instruments=(Instrument("I0", changeover=1),)))
    assert result["pin"] == Placement(0, 0, 4, 3)
    assert result["r"].start == 0


@pytest.mark.parametrize(("units", "second_start"), [(1, 4), (2, 0)])
def test_equipment_units_limit_simultaneous_users(units: int, second_start: int) -> None:
    requests = [request(name, p, 3.0 - p, 4, instruments=(p,), equipment=(0,)) for p, name in enumerate("ab")]
    result = placed(problem(*requests, instruments=2, equipment=(Equipment("cryostat", units),)))
    assert result["a"].start == 0
    assert result["b"].start == second_start


def test_capacity_shortens_the_last_request() -> None:
    base = problem(request("a", 0, 2.0, 4, 1), request("b", 1, 1.0, 4, 1))
    result = placed(dataclasses.replace(base, instruments=(Instrument("I0", capacity=5),)))
    assert result["a"].shifts == 4
    assert result["b"].shifts == 1


def test_window_and_unavailable_spans_are_respected() -> None:
    result = placed(problem(request("r", 0, 1.0, 3, earliest=2, latest=9, unavailable=((3, 5),))))
    assert result["r"] == Placement(0, 0, 5, 3)


def test_after_link_gap_is_kept_in_both_placement_orders() -> None:
    forward = problem(
        request("first", 0, 1.0, 2, instruments=(0,)),
        request("then", 0, 1.0, 2, instruments=(1,)),
        instruments=2,
        after=(After(0, 1, min_gap=3, max_gap=4),),
    )
    result = placed(forward)
    assert result["then"].start - result["first"].end == 3
    # `then` has the lower index, so it is placed first and `first` must end early enough before it.
    backward = dataclasses.replace(
        forward,
        requests=(request("then", 0, 1.0, 2, instruments=(1,)), request("first", 0, 1.0, 2, instruments=(0,))),
        after=(After(1, 0, min_gap=1, max_gap=2),),
    )
    result = placed(backward)
    assert result["then"].start == 0
    assert "first" not in result
    backward_late = dataclasses.replace(
        backward, requests=(request("then", 0, 1.0, 2, instruments=(1,), earliest=6), backward.requests[1])
    )
    result = placed(backward_late)
    assert result["then"].start - result["first"].end in (1, 2)


def test_all_or_nothing_group_is_undone_when_a_member_fails() -> None:
    group = problem(
        request("a", 0, 5.0, 4),
        request("b", 0, 5.0, 4, earliest=8),
        request("other", 1, 1.0, 4),
        all_or_nothing=(AllOrNothing((0, 1)),),
    )
    result = placed(group)
    assert set(result) == {"other"}
    assert result["other"].start == 0


def test_max_quota_repair_drops_the_lowest_priority_offender_and_refills_elsewhere() -> None:
    base = problem(
        request("foreign-high", 0, 3.0, 4),
        request("domestic", 1, 2.0, 4),
        request("foreign-low", 2, 1.5, 2),
        request("foreign-lowest", 3, 1.0, 2, instruments=(0, 1)),
        horizon=12,
        instruments=2,
    )
    constrained = dataclasses.replace(base, quotas=(foreign_quota(base, {0, 2, 3}, max_share=HALF),))
    # First fit puts all four on I0 (foreign share 8/12); the repair drops foreign-lowest and
    # foreign-low, and the refill moves foreign-lowest to I1, outside the quota's scope.
    result = placed(constrained)
    assert set(result) == {"foreign-high", "domestic", "foreign-lowest"}
    assert result["foreign-lowest"].instrument == 1


def test_repair_drops_the_lowest_priority_offender_of_a_max_or_min_share() -> None:
    base = problem(
        request("foreign-high", 0, 3.0, 3),
        request("foreign-low", 1, 1.0, 3),
        request("domestic", 2, 2.0, 3),
        request("foreign-mid", 3, 1.5, 3),
        horizon=12,
    )
    constrained = dataclasses.replace(base, quotas=(foreign_quota(base, {0, 1, 3}, max_share=Fraction(2, 3)),))
    assert set(placed(constrained)) == {"foreign-high", "domestic", "foreign-mid"}
    domestic_min = dataclasses.replace(base, quotas=(foreign_quota(base, {2}, min_share=Fraction(1, 3)),))
    assert set(placed(domestic_min)) == {"foreign-high", "domestic", "foreign-mid"}


def test_soft_quota_does_not_drop_anything() -> None:
    base = problem(request("a", 0, 2.0, 3), request("b", 1, 1.0, 3))
    soft = dataclasses.replace(base, quotas=(foreign_quota(base, {0, 1}, max_share=Fraction(0)),))
    soft = dataclasses.replace(soft, quotas=(dataclasses.replace(soft.quotas[0], soft=True),))
    assert set(placed(soft)) == {"a", "b"}


def test_pinned_placements_are_kept_and_their_group_partners_placed() -> None:
    pinned = problem(
        request("pin", 0, 1.0, 3),
        request("partner", 0, 1.0, 2),
        request("high", 1, 9.0, 4),
        all_or_nothing=(AllOrNothing((0, 1)),),
        pinned=(Placement(0, 0, 2, 3),),
    )
    result = placed(pinned)
    assert result["pin"] == Placement(0, 0, 2, 3)
    assert result["partner"] == Placement(1, 0, 0, 2)
    assert result["high"] == Placement(2, 0, 5, 4)


def test_primary_objective_sums_priority_times_shifts() -> None:
    two = problem(request("a", 0, 2.5, 4), request("b", 1, 1.0, 3))
    assert primary_objective(two, [Placement(0, 0, 0, 4), Placement(1, 0, 4, 2)]) == 12.0


# --- is_feasible: one case per hard rule -------------------------------------------------------------

RULE_CASES = {
    "other instrument": (problem(request("r", 0, 1.0, 2), instruments=2), [Placement(0, 1, 0, 2)]),
    "twice": (problem(request("r", 0, 1.0, 2)), [Placement(0, 0, 0, 2), Placement(0, 0, 4, 2)]),
    "too short": (problem(request("r", 0, 1.0, 4, 3)), [Placement(0, 0, 0, 2)]),
    "too long": (problem(request("r", 0, 1.0, 4)), [Placement(0, 0, 0, 5)]),
    "off grid": (problem(request("r", 0, 1.0, 4), horizon=5), [Placement(0, 0, 2, 4)]),
    "blocked": (
        dataclasses.replace(problem(request("r", 0, 1.0, 2)), instruments=(Instrument("I0", blocked=((3, 4),)),)),
        [Placement(0, 0, 2, 2)],
    ),
    "changeover": (
        dataclasses.replace(
            problem(request("a", 0, 1.0, 2), request("b", 1, 1.0, 2)),
            instruments=(Instrument("I0", changeover=1),),
        ),
        [Placement(0, 0, 0, 2), Placement(1, 0, 2, 2)],
    ),
    "overlap": (
        problem(request("a", 0, 1.0, 2), request("b", 1, 1.0, 2)),
        [Placement(0, 0, 0, 2), Placement(1, 0, 1, 2)],
    ),
    "before earliest": (problem(request("r", 0, 1.0, 2, earliest=3)), [Placement(0, 0, 2, 2)]),
    "after latest": (problem(request("r", 0, 1.0, 2, latest=5)), [Placement(0, 0, 4, 2)]),
    "unavailable": (problem(request("r", 0, 1.0, 2, unavailable=((1, 2),))), [Placement(0, 0, 0, 2)]),
    "equipment": (
        problem(
            request("a", 0, 1.0, 2, equipment=(0,)),
            request("b", 1, 1.0, 2, instruments=(1,), equipment=(0,)),
            instruments=2,
            equipment=(Equipment("cryostat"),),
        ),
        [Placement(0, 0, 0, 2), Placement(1, 1, 1, 2)],
    ),
    "all_or_nothing": (
        problem(request("a", 0, 1.0, 2), request("b", 0, 1.0, 2), all_or_nothing=(AllOrNothing((0, 1)),)),
        [Placement(0, 0, 0, 2)],
    ),
    "after min gap": (
        problem(request("a", 0, 1.0, 2), request("b", 0, 1.0, 2), after=(After(0, 1, 1),)),
        [Placement(0, 0, 0, 2), Placement(1, 0, 2, 2)],
    ),
    "after max gap": (
        problem(request("a", 0, 1.0, 2), request("b", 0, 1.0, 2), after=(After(0, 1, 0, 1),)),
        [Placement(0, 0, 0, 2), Placement(1, 0, 6, 2)],
    ),
    "capacity": (
        dataclasses.replace(problem(request("r", 0, 1.0, 4)), instruments=(Instrument("I0", capacity=3),)),
        [Placement(0, 0, 0, 4)],
    ),
    "quota": (
        problem(
            request("a", 0, 1.0, 2),
            request("b", 1, 1.0, 3),
            quotas=(
                Quota("foreign", frozenset({0}), {(0, 0): Fraction(1, 3), (1, 0): HALF}, max_share=Fraction(2, 5)),
            ),
        ),
        [Placement(0, 0, 0, 2), Placement(1, 0, 2, 3)],
    ),
    "pinned": (problem(request("r", 0, 1.0, 2), pinned=(Placement(0, 0, 0, 2),)), [Placement(0, 0, 1, 2)]),
}


@pytest.mark.parametrize("rule", RULE_CASES)
def test_is_feasible_reports_each_broken_rule(rule: str) -> None:
    broken, placements = RULE_CASES[rule]
    assert len(is_feasible(broken, placements)) == 1


def test_is_feasible_accepts_a_valid_schedule_and_met_quota_bounds() -> None:
    exact = problem(
        request("a", 0, 1.0, 2),
        request("b", 1, 1.0, 3),
        quotas=(
            Quota(
                "foreign",
                frozenset({0}),
                {(0, 0): Fraction(1, 3), (1, 0): HALF},
                min_share=Fraction(13, 30),
                max_share=Fraction(13, 30),
            ),
        ),
        pinned=(Placement(0, 0, 0, 2),),
    )
    assert is_feasible(exact, [Placement(0, 0, 0, 2), Placement(1, 0, 2, 3)]) == []


def test_is_feasible_names_the_request_and_instrument() -> None:
    (message,) = is_feasible(*RULE_CASES["blocked"])
    assert "r on I0" in message


# --- lp_bound ---------------------------------------------------------------------------------------


def test_lp_bound_of_a_lone_request_is_its_value() -> None:
    assert lp_bound(problem(request("r", 0, 2.0, 4))) == pytest.approx(8.0)


def test_lp_bound_fills_capacity_by_priority() -> None:
    assert lp_bound(problem(request("a", 0, 3.0, 6), request("b", 1, 1.0, 6))) == pytest.approx(6 * 3 + 4 * 1)


def test_lp_bound_respects_runs_pins_and_quotas() -> None:
    blocked = dataclasses.replace(
        problem(request("r", 0, 1.0, 6, 3)), instruments=(Instrument("I0", blocked=((2, 4), (6, 8))),)
    )
    assert lp_bound(blocked) == 0.0
    pinned = problem(request("low", 0, 1.0, 6), request("high", 1, 3.0, 6), pinned=(Placement(0, 0, 0, 6),))
    assert lp_bound(pinned) == pytest.approx(6 * 1 + 4 * 3)
    base = problem(request("foreign", 0, 3.0, 6), request("domestic", 1, 1.0, 2))
    capped = dataclasses.replace(base, quotas=(foreign_quota(base, {0}, max_share=HALF),))
    assert lp_bound(capped) == pytest.approx(2 * 3 + 2 * 1)


def test_lp_bound_rejects_pins_no_schedule_can_keep() -> None:
    clash = dataclasses.replace(
        problem(
            request("a", 0, 1.0, 6), request("b", 1, 1.0, 6), pinned=(Placement(0, 0, 0, 6), Placement(1, 0, 4, 6))
        ),
        instruments=(Instrument("I0", capacity=8),),
    )
    with pytest.raises(ValueError, match="pinned"):
        lp_bound(clash)


# --- properties on random small problems -------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.sampled_from(["first", "tightest", "tightest-on-first"]))
def test_greedy_is_feasible_and_below_the_lp_bound(random_problem: Problem, fit: Fit) -> None:
    schedule = greedy(random_problem, fit)
    assert is_feasible(random_problem, schedule) == []
    assert lp_bound(random_problem) >= primary_objective(random_problem, schedule) - 1e-6


@pytest.mark.parametrize("fit", ["tightest", "tightest-on-first"])
def test_a_tight_fit_keeps_a_long_run_for_the_long_request_first_fit_cuts_up(fit: Fit) -> None:
    # Free runs [0, 6) and [7, 10). First fit puts A (3 shifts) at 0, and B (6) no longer fits;
    # the tightest fit puts A in [7, 10), which it fills, and B in [0, 6).
    problem = Problem(
        horizon=10,
        instruments=(Instrument("I0", blocked=((6, 7),)),),
        requests=(request("A", 0, 3.0, 3), request("B", 1, 2.0, 6)),
    )
    assert greedy(problem) == [Placement(0, 0, 0, 3)]
    assert greedy(problem, fit) == [Placement(0, 0, 7, 3), Placement(1, 0, 0, 6)]


def test_the_tightest_fit_looks_past_the_first_instrument_that_holds_the_block() -> None:
    # A fits on I0 (run of 6) and exactly on I1 (run of 3): "tightest" takes I1 and leaves I0 for B,
    # "tightest-on-first" stops at I0, where B then has no room.
    problem = Problem(
        horizon=6,
        instruments=(Instrument("I0"), Instrument("I1", blocked=((3, 6),))),
        requests=(request("A", 0, 3.0, 3, instruments=(0, 1)), request("B", 1, 2.0, 6)),
    )
    assert greedy(problem, "tightest") == [Placement(0, 1, 0, 3), Placement(1, 0, 0, 6)]
    assert greedy(problem, "tightest-on-first") == [Placement(0, 0, 0, 3)]
