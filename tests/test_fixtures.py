"""The synthetic rounds must be valid, reproducible and shaped like real ones, or benchmarks mislead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from functools import cache
from pathlib import Path
from statistics import mean

import pytest

from fixtures import FOLDER
from fixtures.generate import SIZES, generate_round, main, priority_from_grade
from scheduler.roundfile.contract import Facility, Instrument, Proposal, Quota, QuotaCategory, RoundFile
from scheduler.roundfile.grid import Grid

ALL_SIZES = list(SIZES)
REPO = Path(__file__).resolve().parents[1]


@cache
def round_file(size: str, seed: int = 0) -> RoundFile:
    return RoundFile.model_validate(generate_round(size, seed))


def instruments_of(round_: RoundFile) -> dict[str, tuple[Facility, Instrument]]:
    return {i.id: (f, i) for f in round_.facilities for i in f.instruments}


def unblocked_shifts(round_: RoundFile) -> dict[str, int]:
    """Counted from the round file alone: a shift is lost when any window overlaps it."""
    grid = Grid(round_.round)
    free = {}
    for facility, instrument in instruments_of(round_).values():
        blocked: set[int] = set()
        for window in facility.maintenance + instrument.maintenance:
            span = grid.covering(window.start, window.end)
            if span is not None:
                blocked.update(range(*span))
        free[instrument.id] = grid.count - len(blocked)
    return free


def usable_mean_grade(proposal: Proposal) -> float:
    return mean(review.grade for review in proposal.reviews if not review.conflict)


def gets_time_by_scoring(round_: RoundFile, proposal: Proposal) -> bool:
    scoring = round_.scoring
    assert scoring is not None and scoring.cutoff is not None
    usable = [review for review in proposal.reviews if not review.conflict]
    return (
        proposal.technically_feasible
        and len(usable) >= scoring.min_reviews
        and usable_mean_grade(proposal) <= scoring.cutoff
    )


def category_weight(round_: RoundFile, quota: Quota, proposal: Proposal, facility_country: str) -> float:
    """The part of a proposal's shifts that counts for the quota's category at a facility."""
    category: QuotaCategory = quota.category
    if category.proposal_type is not None:
        return float(proposal.type == category.proposal_type)
    people = [proposal.pi] if quota.attribution == "pi" else [proposal.pi, *proposal.team]
    if category.foreign:
        members = [person.country != facility_country for person in people]
    elif category.domestic:
        members = [person.country == facility_country for person in people]
    elif category.country is not None:
        members = [person.country == category.country for person in people]
    elif category.country_group is not None:
        members = [person.country in round_.country_groups[category.country_group] for person in people]
    else:
        raise AssertionError(f"no min-share demand rule for {category}")
    return sum(members) / len(members)


# --- validity and determinism ------------------------------------------------------------------


@pytest.mark.parametrize("size", ALL_SIZES)
def test_every_size_is_a_valid_round_file_of_its_spec(size: str) -> None:
    round_ = round_file(size)
    spec = SIZES[size]
    assert round_.round.end - round_.round.start == timedelta(weeks=spec.weeks)
    assert round_.round.start.weekday() == 0 and round_.round.start.hour == 8
    assert round_.round.shift_hours == 8
    assert {f.id: len(f.instruments) for f in round_.facilities} == dict(spec.instruments)


def test_same_seed_gives_the_same_round_and_other_seeds_differ() -> None:
    first = generate_round("medium", 7)
    generate_round("small", 3)  # no state may leak from one call into the next
    assert generate_round("medium", 7) == first
    assert generate_round("medium", 8) != first
    assert generate_round("small", 1) != generate_round("small", 2)


def test_priorities_can_be_left_to_the_scoring_stage() -> None:
    without = RoundFile.model_validate(generate_round("medium", 0, with_priorities=False))
    assert all(proposal.priority is None for proposal in without.proposals)
    assert without.scoring is not None
    assert [p.reviews for p in without.proposals] == [p.reviews for p in round_file("medium").proposals]


def test_unknown_size_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown size"):
        generate_round("gigantic")


# --- the shape of the round --------------------------------------------------------------------


@pytest.mark.parametrize(("size", "seed"), [(size, 0) for size in ALL_SIZES] + [("small", s) for s in range(1, 10)])
def test_about_twice_as_many_shifts_are_asked_for_as_exist(size: str, seed: int) -> None:
    round_ = round_file(size, seed)
    requested = sum(request.shifts for proposal in round_.proposals for request in proposal.requests)
    assert 1.5 <= requested / sum(unblocked_shifts(round_).values()) <= 2.5


@pytest.mark.parametrize("size", ALL_SIZES)
def test_ids_are_unique_and_request_ids_extend_their_proposal_id(size: str) -> None:
    round_ = round_file(size)
    kinds = {
        "facility": [f.id for f in round_.facilities],
        "instrument": list(instruments_of(round_)),
        "equipment": [e.id for e in round_.equipment],
        "proposal": [p.id for p in round_.proposals],
        "request": [r.id for p in round_.proposals for r in p.requests],
    }
    for kind, ids in kinds.items():
        assert len(ids) == len(set(ids)), kind
    assert all(r.id.startswith(f"{p.id}-") for p in round_.proposals for r in p.requests)


@pytest.mark.parametrize("size", ALL_SIZES)
def test_requests_name_existing_alternatives_of_one_technique(size: str) -> None:
    round_ = round_file(size)
    instruments = instruments_of(round_)
    equipment = {e.id for e in round_.equipment}
    for proposal in round_.proposals:
        assert 1 <= len(proposal.requests) <= 3
        for request in proposal.requests:
            assert set(request.instruments) <= instruments.keys()
            assert 1 <= len(request.instruments) <= 3
            shared = set.intersection(*(set(instruments[i][1].techniques) for i in request.instruments))
            assert shared, request.id
            assert set(request.equipment) <= equipment
            assert 1 <= request.shortest <= request.shifts <= 21
            if request.earliest is not None and request.latest is not None:
                assert request.latest - request.earliest >= timedelta(hours=8 * request.shifts)


@pytest.mark.parametrize("size", ["medium", "facility", "huge"])
def test_links_join_requests_of_their_own_proposal(size: str) -> None:
    """Including synchrotron-then-neutron pairs on different facilities, common enough in big rounds."""
    round_ = round_file(size)
    facility_of = {i: f.id for i, (f, _) in instruments_of(round_).items()}
    cross_facility = 0
    for proposal in round_.proposals:
        own = {request.id: request for request in proposal.requests}
        for link in proposal.links:
            if link.type == "all_or_nothing":
                assert set(link.requests) <= own.keys() and len(set(link.requests)) == len(link.requests)
            else:
                assert {link.first, link.then} <= own.keys() and link.first != link.then
                assert link.max_gap_shifts is None or link.min_gap_shifts <= link.max_gap_shifts
                first, then = own[link.first], own[link.then]
                cross_facility += facility_of[first.instruments[0]] != facility_of[then.instruments[0]]
    linked = sum(bool(p.links) for p in round_.proposals if len(p.requests) > 1)
    assert 0.05 <= linked / sum(len(p.requests) > 1 for p in round_.proposals) <= 0.5
    assert cross_facility > 0 or size == "medium"


@pytest.mark.parametrize("size", ALL_SIZES)
def test_windows_lie_on_the_round_and_follow_facility_rhythms(size: str) -> None:
    round_ = round_file(size)
    weeks = SIZES[size].weeks
    for facility in round_.facilities:
        windows = facility.maintenance + [w for i in facility.instruments for w in i.maintenance]
        for window in windows:
            assert window.start < window.end
            assert window.start < round_.round.end and window.end > round_.round.start
        kinds = Counter(window.kind for window in facility.maintenance)
        if facility.id in ("SKIF", "KISI"):
            assert kinds["machine_development"] == weeks
        if facility.id == "PIK" and weeks >= 8:
            assert kinds["shutdown"] >= 1
            longest = max(w.end - w.start for w in facility.maintenance if w.kind == "shutdown")
            assert timedelta(days=7) <= longest <= timedelta(days=10)
    free = unblocked_shifts(round_)
    assert all(0 < shifts < Grid(round_.round).count for shifts in free.values())


@pytest.mark.parametrize(("size", "seed"), [(size, 0) for size in ALL_SIZES] + [("small", s) for s in range(1, 20)])
def test_min_share_quotas_have_ample_eligible_demand(size: str, seed: int) -> None:
    """A hard floor with room to spare, a soft one at least reachable.

    Counting only proposals that pass scoring, each request at its least favourable instrument and shortest length.
    """
    round_ = round_file(size, seed)
    instruments = instruments_of(round_)
    free = unblocked_shifts(round_)
    quotas = [quota for quota in round_.quotas if quota.min_share is not None]
    assert quotas
    for quota in quotas:
        assert quota.min_share is not None
        in_scope = {
            i
            for i, (facility, _) in instruments.items()
            if (quota.scope.facilities is None or facility.id in quota.scope.facilities)
            and (quota.scope.instruments is None or i in quota.scope.instruments)
        }
        demand = 0.0
        for proposal in round_.proposals:
            if not gets_time_by_scoring(round_, proposal):
                continue
            for request in proposal.requests:
                if set(request.instruments) <= in_scope:
                    weights = [
                        category_weight(round_, quota, proposal, instruments[i][0].country) for i in request.instruments
                    ]
                    demand += min(weights) * request.shortest
        capacity = sum(free[i] for i in in_scope)
        headroom = 1.0 if quota.soft else 1.5
        assert demand >= headroom * quota.min_share * capacity, quota.id


def test_priorities_rise_as_grades_improve() -> None:
    proposals = sorted(round_file("facility").proposals, key=usable_mean_grade)
    priorities = [p.priority for p in proposals]
    assert priorities == sorted(priorities, key=lambda priority: -(priority or 0.0))
    assert priority_from_grade(1.0) == 30.0 and priority_from_grade(5.0) == 1.0
    assert sum(not gets_time_by_scoring(round_file("facility"), p) for p in proposals) / len(proposals) < 0.35


def test_proposers_and_proposal_types_are_mixed_like_a_real_call() -> None:
    round_ = round_file("facility")
    proposals = round_.proposals
    types = Counter(p.type for p in proposals)
    assert 0.5 <= sum(p.pi.country == "RU" for p in proposals) / len(proposals) <= 0.7
    assert 0.03 <= types["industrial"] / len(proposals) <= 0.1
    assert 0.03 <= types["in_house"] / len(proposals) <= 0.12
    assert types["standard"] > len(proposals) / 2 and types["rapid_access"] and types["long_term"]
    countries = {p.pi.country for p in proposals}
    for group in round_.country_groups.values():
        assert countries & set(group)
    assert countries - {"RU"} - {c for group in round_.country_groups.values() for c in group}
    assert all(len(p.team) <= 4 for p in proposals)
    assert any(p.team and p.team[0].country != p.pi.country for p in proposals)
    assert {f.country for f in round_.facilities} == {"RU", "KZ"}
    facility_of = {i: f for i, (f, _) in instruments_of(round_).items()}
    for proposal in proposals:
        if proposal.type == "in_house":  # staff use their own facility
            homes = {facility_of[i].id for r in proposal.requests for i in r.instruments}
            assert len(homes) == 1 and facility_of[proposal.requests[0].instruments[0]].country == proposal.pi.country
    assert 0.0 < sum(not p.technically_feasible for p in proposals) / len(proposals) < 0.1
    assert all(2 <= len(p.reviews) <= 4 for p in proposals)
    assert any(review.conflict for p in proposals for review in p.reviews)


# --- command line ------------------------------------------------------------------------------


def test_command_line_writes_the_generated_round(tmp_path: Path) -> None:
    target = tmp_path / "round.json"
    assert main(["medium", "--seed", "4", "-o", str(target)]) == 0
    assert json.loads(target.read_text(encoding="utf-8")) == generate_round("medium", 4)


def test_output_does_not_depend_on_string_hashing() -> None:
    outputs = {
        subprocess.run(
            [sys.executable, "-m", "fixtures.generate", "small", "--seed", "5"],
            capture_output=True,
            check=True,
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(outputs) == 1


@pytest.mark.parametrize("size", ["small", "medium", "facility"])
def test_bundled_rounds_are_what_the_generator_makes(size: str) -> None:
    bundled = FOLDER / "rounds" / f"{size}.json"
    assert json.loads(bundled.read_text()) == generate_round(size, seed=1)
