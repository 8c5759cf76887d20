"""The LP bound's shared-resource rows: requests confined to the same dates share that span's
free shifts; requests that need one item share its units while an instrument that could use it
is open; an instrument's room is the time some request could use. Every row keeps the bound valid:
never below the best schedule a brute force finds."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from solver.bound import lp_bound
from solver.model import ModelData
from solver.problem import Equipment, Instrument, Placement, Problem, Request
from tests.solver.test_engine import brute_force_optimum, tiny_problems


def dated(name: str, earliest: int, latest: int, shifts: int = 5) -> Request:
    return Request(name, 0, 1.0, shifts, shifts, (0,), earliest=earliest, latest=latest)


def test_requests_confined_to_one_span_share_its_free_shifts() -> None:
    # Both must lie in [0, 6), of which shift 3 is blocked: 5 free shifts, not 10, while the
    # instrument as a whole has 19.
    problem = Problem(
        horizon=20,
        instruments=(Instrument("I0", blocked=((3, 4),)),),
        requests=(dated("A", 0, 6, shifts=2), dated("B", 0, 6, shifts=3), dated("C", 0, 6, shifts=2)),
    )
    assert lp_bound(problem) == pytest.approx(5.0)


def test_a_request_free_to_go_elsewhere_is_not_confined() -> None:
    problem = Problem(
        horizon=20,
        instruments=(Instrument("I0"),),
        requests=(dated("A", 0, 6), dated("B", 0, 20)),
    )
    assert lp_bound(problem) == pytest.approx(10.0)


def test_pinned_requests_are_left_out_of_the_span_rows() -> None:
    problem = Problem(
        horizon=20,
        instruments=(Instrument("I0"),),
        requests=(dated("A", 0, 6, shifts=3), dated("B", 0, 6, shifts=3)),
        pinned=(Placement(0, 0, 0, 3),),
    )
    assert lp_bound(problem) == pytest.approx(6.0)


def test_requests_that_need_one_item_share_its_units_over_the_round() -> None:
    # Two instruments with room for both, but one unit of the item they both need.
    problem = Problem(
        horizon=10,
        instruments=(Instrument("I0"), Instrument("I1")),
        requests=(
            Request("A", 0, 1.0, 8, 8, (0,), equipment=(0,)),
            Request("B", 0, 1.0, 8, 8, (1,), equipment=(0,)),
        ),
        equipment=(Equipment("E", units=1),),
    )
    assert lp_bound(problem) == pytest.approx(10.0)


def test_the_model_data_s_runs_give_the_same_bound_and_no_time_gives_none() -> None:
    problem = Problem(
        horizon=20,
        instruments=(Instrument("I0", blocked=((3, 4),)),),
        requests=tuple(Request(f"R{k}", 0, 1.0 + k, 3, 2, (0,), earliest=k, latest=k + 8) for k in range(10)),
    )
    assert lp_bound(problem, ModelData.of(problem).runs) == lp_bound(problem)
    with pytest.raises(TimeoutError):
        lp_bound(problem, seconds=0.0)


def test_an_item_has_no_room_while_every_instrument_that_could_use_it_is_blocked() -> None:
    # Two units, but both instruments are shut for shifts 4-10 (a facility-wide window) and the
    # third instrument has no request that needs the item: 2 x 4 shifts of room, not 2 x 10.
    problem = Problem(
        horizon=10,
        instruments=(Instrument("I0", blocked=((4, 10),)), Instrument("I1", blocked=((4, 10),)), Instrument("I2")),
        requests=(
            Request("A", 0, 1.0, 4, 1, (0,), equipment=(0,)),
            Request("B", 0, 1.0, 4, 1, (1,), equipment=(0,)),
            Request("C", 0, 1.0, 4, 1, (0, 1), equipment=(0,)),
        ),
        equipment=(Equipment("E", units=2),),
    )
    assert lp_bound(problem) == pytest.approx(8.0)


def test_time_no_request_can_use_is_no_room_for_blocks_or_changeovers() -> None:
    # The only request must end by shift 5: 5 usable shifts (one stretch, one changeover), not 20.
    problem = Problem(
        horizon=20,
        instruments=(Instrument("I0", changeover=2),),
        requests=tuple(Request(f"R{k}", k, 1.0, 2, 2, (0,), latest=5) for k in range(4)),
    )
    # Two blocks of 2 and a changeover between them take 6 > 5 shifts; the LP's share of a third is
    # cut by the changeover row: sum(x + 2 z) <= 5 + 2 with x = 2 z gives 3.5.
    assert lp_bound(problem) == pytest.approx(3.5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiny_problems())
def test_the_bound_is_at_least_the_best_schedule_a_brute_force_finds(problem: Problem) -> None:
    best = brute_force_optimum(problem)
    if best is None:
        return
    assert lp_bound(problem) >= best - 1e-6
