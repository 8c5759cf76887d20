"""The polish passes: planted free insertions and improving swaps are taken; nothing valid is ever broken."""

from __future__ import annotations

import dataclasses
import time
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.greedy import all_or_nothing_components, greedy, is_feasible
from solver.model import ModelData, objective_units
from solver.polish import free_insertions, improving_swaps, polish
from solver.problem import After, AllOrNothing, Equipment, Instrument, Placement, Problem, Quota, Request
from tests.strategies import problems


def request(name: str, priority: float, shifts: int, instruments: tuple[int, ...] = (0,), **rest: object) -> Request:
    min_shifts = rest.pop("min_shifts", shifts)
    return Request(name, 0, priority, shifts, min_shifts, instruments, **rest)  # type: ignore[arg-type]


def polished(problem: Problem, placements: list[Placement]) -> set[Placement]:
    assert is_feasible(problem, placements) == []
    result = polish(problem, ModelData.of(problem), placements)
    assert is_feasible(problem, result) == []
    return set(result)


def test_a_planted_free_insertion_is_taken_in_the_one_gap_every_rule_leaves() -> None:
    # Instrument 0: a blocked span at [4, 5), changeover 1, A at [0, 3). B (3 shifts, from shift 5)
    # may not start before 6 (A's changeover ends at 4, the blocked span at 5, its equipment is in
    # use on instrument 1 until 6) and must end by 9.
    problem = Problem(
        horizon=12,
        instruments=(Instrument("I0", blocked=((4, 5),), changeover=1), Instrument("I1")),
        requests=(
            request("A", 3.0, 3),
            request("B", 1.0, 3, earliest=5, latest=9, equipment=(0,)),
            request("C", 2.0, 6, instruments=(1,), equipment=(0,)),
        ),
        equipment=(Equipment("E0"),),
    )
    before = [Placement(0, 0, 0, 3), Placement(2, 1, 0, 6)]
    assert polished(problem, before) == {*before, Placement(1, 0, 6, 3)}


def test_a_polish_past_its_deadline_takes_no_move() -> None:
    problem = Problem(
        horizon=10, instruments=(Instrument("I0"),), requests=(request("A", 2.0, 4), request("B", 1.0, 4))
    )
    before = [Placement(0, 0, 0, 4)]
    assert polish(problem, ModelData.of(problem), before, deadline=time.monotonic()) == before
    assert polished(problem, before) == {*before, Placement(1, 0, 4, 4)}


def test_a_free_insertion_takes_the_longest_block_that_capacity_allows() -> None:
    problem = Problem(
        horizon=10,
        instruments=(Instrument("I0", capacity=6),),
        requests=(request("A", 2.0, 2), request("B", 1.0, 6, min_shifts=2)),
    )
    assert polished(problem, [Placement(0, 0, 0, 2)]) == {Placement(0, 0, 0, 2), Placement(1, 0, 2, 4)}


def test_a_planted_improving_swap_is_taken() -> None:
    # A (priority 1) holds [0, 6), B [6, 10); C (priority 3, 5 shifts) fits only where A is.
    problem = Problem(
        horizon=10,
        instruments=(Instrument("I0"),),
        requests=(request("A", 1.0, 6), request("B", 1.0, 4), request("C", 3.0, 5)),
    )
    before = [Placement(0, 0, 0, 6), Placement(1, 0, 6, 4)]
    assert polished(problem, before) == {Placement(2, 0, 0, 5), Placement(1, 0, 6, 4)}


def test_a_swap_refills_the_removed_block_elsewhere() -> None:
    # C needs instrument 0 where A sits; A can move to instrument 1, where D leaves it room.
    problem = Problem(
        horizon=8,
        instruments=(Instrument("I0"), Instrument("I1")),
        requests=(
            request("A", 1.0, 4, instruments=(0, 1)),
            request("C", 2.0, 8),
            request("D", 1.0, 4, instruments=(1,)),
        ),
    )
    before = [Placement(0, 0, 0, 4), Placement(2, 1, 0, 4)]
    assert polished(problem, before) == {Placement(1, 0, 0, 8), Placement(0, 1, 4, 4), Placement(2, 1, 0, 4)}


def linked_pair_round(priority: float) -> Problem:
    """Both instruments full with C and D (priority 1, 8 shifts each); A and B (4 shifts each, all or
    nothing, B after A) need one of them out each, which no single swap does."""
    return Problem(
        horizon=8,
        instruments=(Instrument("I0"), Instrument("I1")),
        requests=(
            request("A", priority, 4),
            request("B", priority, 4, instruments=(1,)),
            request("C", 1.0, 8),
            request("D", 1.0, 8, instruments=(1,)),
        ),
        all_or_nothing=(AllOrNothing((0, 1)),),
        after=(After(0, 1),),
    )


FULL = [Placement(2, 0, 0, 8), Placement(3, 1, 0, 8)]


def test_a_planted_linked_pair_takes_the_place_of_a_lower_ranked_block_on_each_of_its_instruments() -> None:
    problem = linked_pair_round(priority=3.0)
    assert improving_swaps(problem, ModelData.of(problem), FULL) == []
    assert polished(problem, FULL) == {Placement(0, 0, 0, 4), Placement(1, 1, 4, 4)}


def test_a_linked_pair_worth_less_than_the_blocks_it_would_take_out_stays_out() -> None:
    assert polished(linked_pair_round(priority=1.5), FULL) == set(FULL)


def test_a_swap_that_breaks_a_hard_minimum_quota_is_not_taken() -> None:
    # Only A counts for the quota: taking it out for the better C would leave its share at 0.
    quota = Quota("home", frozenset({0}), {(0, 0): Fraction(1)}, min_share=Fraction(1, 4))
    problem = Problem(
        horizon=10,
        instruments=(Instrument("I0"),),
        requests=(request("A", 1.0, 6), request("B", 1.0, 4), request("C", 3.0, 5)),
        quotas=(quota,),
    )
    before = [Placement(0, 0, 0, 6), Placement(1, 0, 6, 4)]
    assert polished(problem, before) == set(before)


def test_a_free_insertion_that_costs_more_in_soft_penalty_than_it_gains_is_not_taken() -> None:
    quota = Quota("cap", frozenset({0}), {(1, 0): Fraction(1)}, max_share=Fraction(0), soft=True, penalty=5.0)
    problem = Problem(
        horizon=10,
        instruments=(Instrument("I0"),),
        requests=(request("A", 1.0, 4), request("B", 1.0, 4)),
        quotas=(quota,),
    )
    assert polished(problem, [Placement(0, 0, 0, 4)]) == {Placement(0, 0, 0, 4)}


@st.composite
def problems_with_a_schedule(draw: st.DrawFn) -> tuple[Problem, list[Placement]]:
    """A small problem and a valid schedule of it: the greedy's with some components left out,
    and some of the greedy's blocks as the schedule in force."""
    problem = draw(problems())
    schedule = greedy(problem)
    if is_feasible(problem, schedule):
        schedule = list(problem.pinned)
    components = all_or_nothing_components(problem)
    pinned = {pin.request for pin in problem.pinned}
    dropped = {p.request for p in schedule if p.request not in pinned and draw(st.booleans())}
    dropped |= {member for r in dropped for member in components[r] or ()}
    thinned = [p for p in schedule if p.request not in dropped]
    if is_feasible(problem, thinned) == [] and pinned.isdisjoint(dropped):
        schedule = thinned
    unpinned = [p for p in greedy(problem) if p.request not in pinned]
    previous = tuple(p for p in unpinned if draw(st.booleans()))
    problem = dataclasses.replace(problem, previous=previous, stability=draw(st.sampled_from([0.0, 0.5, 2.0])))
    return problem, schedule


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems_with_a_schedule())
def test_polish_keeps_every_rule_never_scores_lower_and_leaves_no_improving_move(
    case: tuple[Problem, list[Placement]],
) -> None:
    problem, schedule = case
    assert is_feasible(problem, schedule) == []
    data = ModelData.of(problem)
    result = polish(problem, data, schedule)
    assert is_feasible(problem, result) == []
    assert objective_units(problem, data, result) >= objective_units(problem, data, schedule)
    assert free_insertions(problem, data, result) == []
    assert improving_swaps(problem, data, result) == []
