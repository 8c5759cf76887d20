"""The LP bound's shared-resource rows: requests confined to the same dates share that span's
free shifts; requests that need one item share its units."""

from __future__ import annotations

import pytest

from solver.bound import lp_bound
from solver.model import ModelData
from solver.problem import Equipment, Instrument, Placement, Problem, Request


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
