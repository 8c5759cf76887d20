"""Hypothesis strategies for small random solver Problems, shared by the solver's property tests."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from solver.greedy import all_or_nothing_components, greedy, is_feasible
from solver.problem import (
    After,
    AllOrNothing,
    Equipment,
    Instrument,
    Placement,
    Problem,
    Quota,
    Request,
    Span,
)

SHARES = [Fraction(0), Fraction(1, 4), Fraction(1, 3), Fraction(1, 2), Fraction(2, 3), Fraction(3, 4), Fraction(1)]
WEIGHTS = [Fraction(0), Fraction(1, 3), Fraction(1, 2), Fraction(2, 3), Fraction(1)]


def problems() -> SearchStrategy[Problem]:
    """1-3 instruments, 2-8 requests, horizon 10-30, with every kind of hard rule and occasional pins."""
    return _problems()


def _merged(spans: list[Span]) -> tuple[Span, ...]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


@st.composite
def _spans(draw: st.DrawFn, horizon: int, max_count: int) -> tuple[Span, ...]:
    count = draw(st.integers(0, max_count))
    spans = []
    for _ in range(count):
        start = draw(st.integers(0, horizon - 1))
        spans.append((start, min(horizon, start + draw(st.integers(1, 4)))))
    return _merged(spans)


@st.composite
def _instrument(draw: st.DrawFn, horizon: int, name: str) -> Instrument:
    return Instrument(
        name=name,
        blocked=draw(_spans(horizon, 2)),
        changeover=draw(st.sampled_from([0, 0, 1, 2])),
        capacity=draw(st.none() | st.integers(3, horizon)),
    )


@st.composite
def _request(
    draw: st.DrawFn, horizon: int, index: int, proposal: int, priority: float, n_instruments: int, n_equipment: int
) -> Request:
    shifts = draw(st.integers(1, 8))
    instruments = draw(st.permutations(range(n_instruments)))[: draw(st.integers(1, n_instruments))]
    equipment = draw(st.lists(st.integers(0, n_equipment - 1), unique=True, max_size=2)) if n_equipment else []
    earliest = draw(st.sampled_from([0, 0, draw(st.integers(0, horizon // 2))]))
    latest = draw(st.none() | st.integers(earliest + 1, horizon))
    return Request(
        name=f"R{index}",
        proposal=proposal,
        priority=priority,
        shifts=shifts,
        min_shifts=draw(st.integers(1, shifts)),
        instruments=tuple(instruments),
        equipment=tuple(equipment),
        earliest=earliest,
        latest=latest,
        unavailable=draw(_spans(horizon, 1)),
    )


@st.composite
def _links(draw: st.DrawFn, requests: tuple[Request, ...]) -> tuple[tuple[AllOrNothing, ...], tuple[After, ...]]:
    groups: list[AllOrNothing] = []
    afters: list[After] = []
    for proposal in sorted({request.proposal for request in requests}):
        members = [r for r, request in enumerate(requests) if request.proposal == proposal]
        if len(members) < 2:
            continue
        if draw(st.booleans()):
            chosen = draw(st.lists(st.sampled_from(members), min_size=2, unique=True))
            groups.append(AllOrNothing(tuple(chosen)))
        if draw(st.booleans()):
            first, then = draw(st.permutations(members))[:2]
            min_gap = draw(st.integers(0, 3))
            max_gap = draw(st.none() | st.integers(min_gap, min_gap + 6))
            afters.append(After(first, then, min_gap, max_gap))
    return tuple(groups), tuple(afters)


@st.composite
def _quota(draw: st.DrawFn, index: int, requests: tuple[Request, ...], n_instruments: int) -> Quota:
    scope = frozenset(draw(st.lists(st.integers(0, n_instruments - 1), min_size=1, unique=True)))
    weights: dict[tuple[int, int], Fraction] = {}
    for r, request in enumerate(requests):
        for i in request.instruments:
            weight = draw(st.sampled_from(WEIGHTS))
            if weight:
                weights[(r, i)] = weight
    bounds = draw(st.sampled_from(["min", "max", "both"]))
    first, second = sorted(draw(st.lists(st.sampled_from(SHARES), min_size=2, max_size=2)))
    return Quota(
        name=f"Q{index}",
        instruments=scope,
        weights=weights,
        min_share=first if bounds != "max" else None,
        max_share={"min": None, "max": first, "both": second}[bounds],
        soft=draw(st.booleans()),
        penalty=draw(st.sampled_from([0.5, 1.0, 3.0])),
    )


@st.composite
def _pins(draw: st.DrawFn, problem: Problem) -> tuple[Placement, ...]:
    """A subset of a valid schedule closed under all_or_nothing, valid on its own; else the whole schedule."""
    schedule = greedy(problem)
    components = all_or_nothing_components(problem)
    chosen = {p.request for p in schedule if draw(st.booleans())}
    chosen |= {member for r in chosen for member in components[r] or ()}
    pins = tuple(p for p in schedule if p.request in chosen)
    if is_feasible(dataclasses.replace(problem, pinned=pins), pins):
        return tuple(schedule)
    return pins


@st.composite
def _problems(draw: st.DrawFn) -> Problem:
    horizon = draw(st.integers(10, 30))
    n_instruments = draw(st.integers(1, 3))
    instruments = tuple(draw(_instrument(horizon, f"I{i}")) for i in range(n_instruments))
    equipment = tuple(Equipment(f"E{e}", draw(st.integers(1, 2))) for e in range(draw(st.integers(0, 2))))
    n_proposals = draw(st.integers(1, 4))
    priorities = [draw(st.sampled_from([1.0, 1.5, 2.0, 3.0, 5.0])) for _ in range(n_proposals)]
    proposal_of = sorted(draw(st.lists(st.integers(0, n_proposals - 1), min_size=2, max_size=8)))
    requests = tuple(
        draw(_request(horizon, r, p, priorities[p], n_instruments, len(equipment))) for r, p in enumerate(proposal_of)
    )
    all_or_nothing, after = draw(_links(requests))
    quotas = tuple(draw(_quota(q, requests, n_instruments)) for q in range(draw(st.integers(0, 2))))
    problem = Problem(
        horizon=horizon,
        instruments=instruments,
        requests=requests,
        equipment=equipment,
        all_or_nothing=all_or_nothing,
        after=after,
        quotas=quotas,
        proposals=tuple(f"P{p}" for p in range(n_proposals)),
    )
    if draw(st.integers(0, 3)) == 0:
        return dataclasses.replace(problem, pinned=draw(_pins(problem)))
    return problem
