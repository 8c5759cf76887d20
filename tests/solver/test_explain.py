"""Explanations a coordinator can act on, on small schedules whose answer is known by hand.

`explain_unallocated` is given a schedule (as the engine or a coordinator left it), so each
test plants exactly the situation it names.
"""

from __future__ import annotations

import dataclasses
import re
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, assume, given, settings

from solver.explain import TIMED_OUT, explain_unallocated
from solver.greedy import greedy, is_feasible
from solver.problem import AllOrNothing, Equipment, Instrument, Placement, Problem, Quota, Request
from solver.solution import Unallocated
from tests.strategies import problems


def _explained(problem: Problem, placements: list[Placement]) -> dict[str, Unallocated]:
    assert is_feasible(problem, placements) == []
    return {problem.requests[u.request].name: u for u in explain_unallocated(problem, placements)}


def _names(problem: Problem, requests: tuple[int, ...]) -> list[str]:
    return [problem.requests[r].name for r in requests]


def test_competitors_are_the_blocks_in_its_dates_lowest_priority_first() -> None:
    problem = Problem(
        horizon=20,
        instruments=(Instrument("XAFS"), Instrument("SAXS")),
        requests=(
            Request("wanting", 0, 2.0, 6, 6, (0, 1), earliest=0, latest=12),
            Request("high", 1, 5.0, 6, 6, (0,)),
            Request("low", 2, 1.0, 4, 4, (1,)),
            Request("middle", 3, 3.0, 8, 8, (1,)),
            Request("later", 4, 0.5, 8, 8, (0,)),  # after its dates: no competitor
        ),
    )
    placements = [Placement(1, 0, 3, 6), Placement(4, 0, 12, 8), Placement(2, 1, 0, 4), Placement(3, 1, 4, 8)]
    explained = _explained(problem, placements)
    wanting = explained["wanting"]
    assert _names(problem, wanting.competitors) == ["low", "middle", "high"]
    assert wanting.reason == "capacity"
    # "low" frees only 4 of the 6 shifts on SAXS; "high" on XAFS ranks higher.
    assert wanting.held == ()
    assert "1 of the 3 blocks in its dates on XAFS, SAXS rank lower" in wanting.detail
    assert "removing any one of them alone leaves no 6-shift gap" in wanting.detail


def test_lost_to_better_proposals_names_the_lowest_priority_against_its_own() -> None:
    problem = Problem(
        horizon=12,
        instruments=(Instrument("XAFS"),),
        requests=(
            Request("weak", 0, 1.71, 4, 4, (0,)),
            Request("a", 1, 3.77, 6, 6, (0,)),
            Request("b", 2, 4.5, 6, 6, (0,)),
        ),
    )
    explained = _explained(problem, [Placement(1, 0, 0, 6), Placement(2, 0, 6, 6)])
    weak = explained["weak"]
    assert weak.reason == "capacity"
    assert weak.detail == "all 2 blocks in its dates on XAFS rank higher; lowest 3.77 vs its 1.71"
    assert _names(problem, weak.competitors) == ["a", "b"]
    assert weak.held == ()


def _one_lower_block(**changes: Any) -> tuple[Problem, list[Placement]]:
    """A request of priority 5 wants 4 shifts on XAFS, where a priority-1 block of 4 shifts sits
    between two higher-ranked ones: its removal alone would make room."""
    requests = {
        "wanting": Request("wanting", 0, 5.0, 4, 4, (0,)),
        "lower": Request("lower", 1, 1.0, 4, 4, (0,)),
        "left": Request("left", 2, 9.0, 4, 4, (0,)),
        "right": Request("right", 3, 9.0, 4, 4, (0,)),
        "partner": Request("partner", 4, 1.0, 2, 2, (1,)),
    }
    problem = Problem(
        horizon=12, instruments=(Instrument("XAFS"), Instrument("SAXS")), requests=tuple(requests.values())
    )
    problem = dataclasses.replace(problem, **changes)
    return problem, [Placement(2, 0, 0, 4), Placement(1, 0, 4, 4), Placement(3, 0, 8, 4), Placement(4, 1, 0, 2)]


def test_a_lower_ranked_block_that_makes_room_stays_for_the_search_limit_never_called_capacity() -> None:
    problem, placements = _one_lower_block()
    wanting = _explained(problem, placements)["wanting"]
    assert [(problem.requests[h.request].name, h.stays_because) for h in wanting.held] == [("lower", "search_limit")]
    assert wanting.reason == TIMED_OUT != "capacity"
    assert "lower (priority 1.00 vs 5.00) holds shifts 4-7 on XAFS that wanting could use" in wanting.detail
    assert "of the search's limit" in wanting.detail and "raises the objective by 16.00" in wanting.detail


def test_a_lower_ranked_block_stays_because_it_is_linked_to_an_allocated_request() -> None:
    problem, placements = _one_lower_block(all_or_nothing=(AllOrNothing((1, 4)),))
    wanting = _explained(problem, placements)["wanting"]
    assert [h.stays_because for h in wanting.held] == ["link"]
    assert wanting.reason == "link"
    assert "it is linked all-or-nothing with partner, which keep their time" in wanting.detail


def test_a_lower_ranked_block_stays_because_it_is_pinned() -> None:
    problem, placements = _one_lower_block(pinned=(Placement(1, 0, 4, 4),))
    wanting = _explained(problem, placements)["wanting"]
    assert [h.stays_because for h in wanting.held] == ["pinned"]
    assert wanting.reason == "capacity"
    assert "pinned" in wanting.detail and "frozen horizon" in wanting.detail


def test_a_lower_ranked_block_stays_because_a_quota_needs_it() -> None:
    foreign = Quota(
        "foreign-min",
        frozenset({0, 1}),
        {(1, 0): Fraction(1), (4, 1): Fraction(1)},
        min_share=Fraction(1, 4),
        group="foreign-min",
    )
    problem, placements = _one_lower_block(quotas=(foreign,))
    wanting = _explained(problem, placements)["wanting"]
    assert [h.stays_because for h in wanting.held] == ["quota"]
    assert wanting.reason == "quota"
    # 6 of 14 shifts are foreign; the swap takes that to 2 of 14 against the minimum of 25 %.
    assert "removing it for wanting would break hard quota foreign-min: 42.9% of 14 shifts" in wanting.detail
    assert "against its minimum 25%" in wanting.detail and "takes it to 14.3%" in wanting.detail


def test_a_lower_ranked_block_stays_when_it_is_worth_more() -> None:
    problem, placements = _one_lower_block()
    shorter = dataclasses.replace(problem, requests=(Request("wanting", 0, 2.0, 2, 2, (0,)), *problem.requests[1:]))
    wanting = _explained(shorter, placements)["wanting"]
    assert [h.stays_because for h in wanting.held] == ["objective"]
    assert wanting.reason == "capacity"
    assert "its 4 shifts x 1.00 = 4.00 are worth at least wanting's 2 x 2.00 = 4.00" in wanting.detail


def _linked_pair_under_a_country_cap(pair_shifts: int) -> tuple[Problem, list[Placement]]:
    """RU holds 9 of 19 shifts against a maximum of 50 %: one more RU shift keeps the cap, two break it.
    `a` and `b` are linked all-or-nothing, both RU, on separate instruments with plenty of room."""
    ru = {(1, 0): Fraction(1), (2, 0): Fraction(1), (2, 1): Fraction(1), (3, 1): Fraction(1)}
    problem = Problem(
        horizon=40,
        instruments=(Instrument("XAFS"), Instrument("SAXS")),
        requests=(
            Request("other", 0, 3.0, 10, 10, (0,)),
            Request("ru", 1, 3.0, 9, 9, (0,)),
            Request("a", 2, 2.0, pair_shifts, pair_shifts, (0,)),
            Request("b", 3, 2.0, pair_shifts, pair_shifts, (1,)),
        ),
        all_or_nothing=(AllOrNothing((2, 3)),),
        quotas=(
            Quota(
                "country-max[RU]",
                frozenset({0, 1}),
                ru,
                max_share=Fraction(1, 2),
                group="country-max",
                counts="country RU",
            ),
        ),
    )
    return problem, [Placement(0, 0, 0, 10), Placement(1, 0, 10, 9)]


def test_a_linked_pair_blocked_together_by_a_country_cap_names_the_quota_not_each_other() -> None:
    problem, placements = _linked_pair_under_a_country_cap(1)
    explained = _explained(problem, placements)
    for name, partner in (("a", "b"), ("b", "a")):
        assert explained[name].reason == "quota"
        detail = explained[name].detail
        assert f"linked all-or-nothing with {partner} and together they do not" in detail
        assert "hard quota country-max[RU] (country RU): 47.4% of 19 shifts against its maximum 50%" in detail
        assert "got no time" not in detail


def test_a_linked_pair_that_breaks_the_cap_alone_states_the_headroom_in_shifts() -> None:
    problem, placements = _linked_pair_under_a_country_cap(2)
    explained = _explained(problem, placements)
    for name in ("a", "b"):
        assert explained[name].reason == "quota"
        assert explained[name].detail == (
            "giving it time would break hard quota country-max[RU] (country RU): 47.4% of 19 shifts against "
            "its maximum 50%; headroom 1.0 shifts for a request counted like this one; adding 2 shifts (+2.0 counted "
            "to it) takes it to 52.4%"
        )


def test_a_link_reason_points_at_the_partner_that_is_stuck_and_repeats_its_cause() -> None:
    problem = Problem(
        horizon=10,
        instruments=(Instrument("XAFS"), Instrument("SAXS", blocked=((3, 6),))),
        requests=(
            Request("fits", 0, 4.0, 2, 2, (0,)),
            Request("never", 1, 4.0, 4, 4, (1,), earliest=2, latest=8),  # SAXS is blocked in its dates
        ),
        all_or_nothing=(AllOrNothing((0, 1)),),
    )
    explained = _explained(problem, [])
    assert explained["never"].reason == "window"
    assert "linked" not in explained["never"].detail
    assert explained["fits"].reason == "link"
    assert explained["fits"].detail == (
        "linked all-or-nothing with never; never got no time because " + explained["never"].detail
    )


def test_a_request_that_fits_as_it_is_is_told_the_search_stopped() -> None:
    problem = Problem(
        horizon=10,
        instruments=(Instrument("XAFS"),),
        requests=(Request("placed", 0, 1.0, 4, 4, (0,)), Request("left out", 1, 3.0, 3, 2, (0,))),
    )
    left_out = _explained(problem, [Placement(0, 0, 0, 4)])["left out"]
    assert left_out.reason == TIMED_OUT != "capacity"
    assert left_out.detail.startswith(
        "fits as it is at shift 4 on XAFS with every rule holding, yet was left out: by a search that stopped"
    )
    assert _names(problem, left_out.competitors) == ["placed"]


def test_a_lower_ranked_block_stays_for_the_stability_bonus_of_the_schedule_in_force() -> None:
    problem, placements = _one_lower_block(previous=(Placement(1, 0, 4, 4),), stability=5.0)
    wanting = _explained(problem, placements)["wanting"]
    assert [h.stays_because for h in wanting.held] == ["stability"]
    assert "kept from the schedule in force, worth 24.00 to wanting's 20.00" in wanting.detail


def test_a_lower_ranked_block_stays_when_the_soft_quota_penalty_outweighs_the_gain() -> None:
    foreign = Quota(
        "foreign-min",
        frozenset({0, 1}),
        {(1, 0): Fraction(1), (4, 1): Fraction(1)},
        min_share=Fraction(1, 4),
        soft=True,
        penalty=20.0,
        group="foreign-min",
    )
    problem, placements = _one_lower_block(quotas=(foreign,))
    wanting = _explained(problem, placements)["wanting"]
    assert [h.stays_because for h in wanting.held] == ["soft_quota"]
    assert wanting.reason == "quota"
    # 2 of 14 foreign shifts against 25 %: 1.5 shifts short at 20 each.
    assert "soft quota foreign-min: 42.9% of 14 shifts" in wanting.detail and "a penalty of 30.00" in wanting.detail


def test_a_lower_ranked_block_stays_when_the_shared_equipment_is_in_use_there() -> None:
    problem, _ = _one_lower_block(equipment=(Equipment("cryostat"),))
    requests = list(problem.requests)
    requests[0] = dataclasses.replace(requests[0], equipment=(0,))
    requests[4] = dataclasses.replace(requests[4], equipment=(0,))
    problem = dataclasses.replace(problem, requests=tuple(requests))
    placements = [Placement(2, 0, 0, 4), Placement(1, 0, 4, 4), Placement(3, 0, 8, 4), Placement(4, 1, 5, 2)]
    wanting = _explained(problem, placements)["wanting"]
    assert [h.stays_because for h in wanting.held] == ["equipment"]
    assert wanting.reason == "equipment"
    assert wanting.detail.endswith("it stays because cryostat is in use there")


def test_a_lower_ranked_block_stays_when_the_swap_would_reach_into_the_reserve() -> None:
    problem = Problem(
        horizon=12,
        instruments=(Instrument("XAFS", capacity=11),),
        requests=(
            Request("wanting", 0, 5.0, 4, 4, (0,)),
            Request("lower", 1, 1.0, 3, 3, (0,)),
            Request("left", 2, 9.0, 4, 4, (0,)),
            Request("right", 3, 9.0, 4, 4, (0,)),
        ),
    )
    placements = [Placement(2, 0, 0, 4), Placement(1, 0, 4, 3), Placement(3, 0, 8, 4)]
    wanting = _explained(problem, placements)["wanting"]
    assert [h.stays_because for h in wanting.held] == ["reserve"]
    assert wanting.reason == "capacity"
    assert wanting.detail.endswith("it stays because wanting would take XAFS into its reserve")


FITS = re.compile(
    r"^fits as it is at shift (\d+) on (\S+)((?:, with \S+ at shift \d+ on \S+)*) with every rule holding"
)
PARTNER_FITS = re.compile(r", with (\S+) at shift (\d+) on ([^,\s]+)")
"""Each partner's place; an instrument name ends before the comma that leads the next partner."""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_explanations_of_any_valid_schedule_keep_their_own_rules(problem: Problem) -> None:
    """Competitors are allocated and ordered, held blocks rank lower, a claimed fit is one, no link circles."""
    placements = greedy(problem)
    assume(is_feasible(problem, placements) == [])
    placed = {p.request: p for p in placements}
    instrument = {i.name: index for index, i in enumerate(problem.instruments)}
    request = {r.name: index for index, r in enumerate(problem.requests)}
    explained = {u.request: u for u in explain_unallocated(problem, placements)}
    assert set(explained) == set(range(len(problem.requests))) - set(placed)
    for r, entry in explained.items():
        ranks = [(problem.requests[c].priority, problem.requests[c].name) for c in entry.competitors]
        assert set(entry.competitors) <= set(placed) and ranks == sorted(set(ranks))
        assert all(h.request in entry.competitors for h in entry.held)
        assert all(problem.requests[h.request].priority < problem.requests[r].priority for h in entry.held)
        if fit := FITS.match(entry.detail):
            assert entry.reason == TIMED_OUT
            added = [Placement(r, instrument[fit[2]], int(fit[1]), problem.requests[r].min_shifts)]
            added += [
                Placement(request[name], instrument[where], int(start), problem.requests[request[name]].min_shifts)
                for name, start, where in PARTNER_FITS.findall(fit[3])
            ]
            assert is_feasible(problem, [*placements, *added]) == [], entry.detail
        root = re.search(r"; (\S+) got no time because", entry.detail)
        if root:
            assert "got no time because" not in explained[request[root[1]]].detail
