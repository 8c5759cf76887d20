from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures import EXAMPLE_ROUND
from scheduler.roundfile.contract import Bonuses, Person, Proposal, Request, Review, RoundFile, Scoring
from scheduler.roundfile.scoring import (
    ProposalScore,
    ScoringError,
    priority_for_grade,
    render_table,
    score_round,
    scored_round,
)

EXAMPLE = EXAMPLE_ROUND
ONE_TO_FIVE = Scoring(grade_best=1.0, grade_worst=5.0)
TEN_TO_ONE = Scoring(grade_best=10.0, grade_worst=1.0)


def example() -> RoundFile:
    return RoundFile.model_validate_json(EXAMPLE.read_text())


def proposal(pid: str, *grades: tuple[str, float], **fields: Any) -> Proposal:
    return Proposal(
        id=pid,
        title=f"Proposal {pid}",
        type="standard",
        pi=fields.pop("pi", Person(name=f"PI {pid}", country="RU")),
        reviews=[Review(reviewer=reviewer, grade=grade) for reviewer, grade in grades],
        requests=[Request(id=f"{pid}-a", instruments=["SKIF-1-1"], shifts=3)],
        **fields,
    )


def round_of(*proposals: Proposal, scoring: Scoring | None = ONE_TO_FIVE, **round_fields: Any) -> RoundFile:
    return example().model_copy(update={"proposals": list(proposals), "scoring": scoring, **round_fields})


def one_to_five(**settings: Any) -> Scoring:
    return Scoring(grade_best=1.0, grade_worst=5.0, **settings)


def by_id(scores: list[ProposalScore]) -> dict[str, ProposalScore]:
    return {score.proposal: score for score in scores}


def problems_of(round_file: RoundFile) -> list[tuple[str, str]]:
    with pytest.raises(ScoringError) as caught:
        score_round(round_file)
    return [(problem.path, problem.message) for problem in caught.value.problems]


# The spec's example round


def test_example_p005_is_below_the_cutoff_and_gets_no_priority() -> None:
    p005 = by_id(score_round(example()))["P-005"]
    assert p005.raw_grade == pytest.approx(3.8)
    assert p005.excluded_reason == "below_cutoff"
    assert p005.priority is None
    assert p005.rank == 6


def test_example_ignores_the_conflicted_review_of_p006() -> None:
    p006 = by_id(score_round(example()))["P-006"]
    assert p006.usable_reviews == 2
    assert p006.raw_grade == pytest.approx(1.4)
    assert p006.rank == 1


def test_example_ranks_by_mean_grade() -> None:
    scores = score_round(example())
    assert [score.proposal for score in scores] == ["P-006", "P-001", "P-002", "P-004", "P-003", "P-005"]
    assert [score.rank for score in scores] == [1, 2, 3, 4, 5, 6]
    assert by_id(scores)["P-002"].priority == pytest.approx(10**3)  # grade 2.0 is three quarters up the scale


def test_scored_round_fills_priorities_except_for_excluded_proposals() -> None:
    original = example()
    scores = score_round(original)
    result = scored_round(original, scores)
    priorities = {proposal.id: proposal.priority for proposal in result.proposals}
    assert priorities["P-005"] is None
    assert priorities["P-006"] == by_id(scores)["P-006"].priority
    assert all(priority is not None for pid, priority in priorities.items() if pid != "P-005")
    assert all(proposal.priority is None for proposal in original.proposals)
    assert "priority" in result.proposals[0].model_dump(exclude_unset=True)


def test_scoring_a_scored_round_again_changes_no_rank_or_priority() -> None:
    first = score_round(example())
    again = score_round(scored_round(example(), first))
    assert [(s.proposal, s.priority, s.excluded_reason) for s in again] == [
        (s.proposal, s.priority, s.excluded_reason) for s in first
    ]
    assert all(score.priority_given for score in again if score.priority is not None)


# Aggregates

FIVE_GRADES = [("R1", 1.0), ("R2", 1.2), ("R3", 1.5), ("R4", 2.1), ("R5", 4.7)]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"aggregate": "mean"}, 2.1),  # 10.5 / 5
        ({"aggregate": "median"}, 1.5),
        ({"aggregate": "trimmed_mean"}, 1.6),  # (1.2 + 1.5 + 2.1) / 3
        ({"aggregate": "trimmed_mean", "trim_per_end": 2}, 1.5),
        ({"aggregate": "trimmed_mean", "trim_per_end": 3}, 1.5),  # keeps at least one grade
    ],
)
def test_aggregates_of_five_grades(settings: dict[str, Any], expected: float) -> None:
    [score] = score_round(round_of(proposal("P", *FIVE_GRADES), scoring=one_to_five(**settings)))
    assert score.raw_grade == pytest.approx(expected)
    assert score.final_grade == pytest.approx(expected)


def test_median_of_an_even_count_and_trimmed_mean_of_two_grades() -> None:
    grades = [("R1", 1.0), ("R2", 2.0)]
    median = score_round(round_of(proposal("P", *grades), scoring=one_to_five(aggregate="median")))
    trimmed = score_round(round_of(proposal("P", *grades), scoring=one_to_five(aggregate="trimmed_mean")))
    assert median[0].raw_grade == pytest.approx(1.5)
    assert trimmed[0].raw_grade == pytest.approx(1.5)


# Reviewer normalisation
# Harsh reviewer H grades A, B, C as 3, 4, 5 (mean 4); lenient L grades D, E, F as 1, 2, 3 (mean 2).
# Both have spread sqrt(2/3); the round's grades have mean 3 and spread sqrt(5/3).


def harsh_and_lenient(scoring: Scoring) -> dict[str, ProposalScore]:
    harsh = [proposal(pid, ("H", grade)) for pid, grade in [("A", 3.0), ("B", 4.0), ("C", 5.0)]]
    lenient = [proposal(pid, ("L", grade)) for pid, grade in [("D", 1.0), ("E", 2.0), ("F", 3.0)]]
    return by_id(score_round(round_of(*harsh, *lenient, scoring=scoring)))


def test_normalisation_maps_each_reviewer_onto_the_round_mean_and_spread() -> None:
    scores = harsh_and_lenient(one_to_five(normalize_reviewers=True))
    # z = -sqrt(3/2) for A and D, so 3 - sqrt(5/3) * sqrt(3/2) = 3 - sqrt(5/2)
    assert scores["A"].normalised_grade == pytest.approx(3 - math.sqrt(2.5))
    assert scores["D"].normalised_grade == pytest.approx(3 - math.sqrt(2.5))
    assert scores["B"].normalised_grade == pytest.approx(3.0)
    assert scores["C"].normalised_grade == pytest.approx(3 + math.sqrt(2.5))
    assert scores["A"].raw_grade == pytest.approx(3.0)
    assert scores["A"].final_grade == scores["A"].normalised_grade


def test_a_harsh_reviewer_does_not_sink_their_best_proposal() -> None:
    plain = harsh_and_lenient(one_to_five())
    normalised = harsh_and_lenient(one_to_five(normalize_reviewers=True))
    assert plain["A"].rank > plain["E"].rank
    assert normalised["A"].rank < normalised["E"].rank
    # A and D tie after normalisation; the raw grades must not reopen it, so the id decides.
    assert normalised["A"].priority == normalised["D"].priority
    assert (normalised["A"].rank, normalised["D"].rank) == (1, 2)


def test_normalisation_to_a_fixed_mean_and_spread_as_at_nslsii() -> None:
    scores = harsh_and_lenient(one_to_five(normalize_reviewers=True, normalize_mean=2.5, normalize_sd=0.5))
    assert scores["A"].normalised_grade == pytest.approx(2.5 - 0.5 * math.sqrt(1.5))
    assert scores["C"].normalised_grade == pytest.approx(2.5 + 0.5 * math.sqrt(1.5))


def test_normalised_grades_stay_on_the_scale() -> None:
    scores = harsh_and_lenient(one_to_five(normalize_reviewers=True, normalize_sd=3.0))
    assert scores["A"].normalised_grade == 1.0
    assert scores["C"].normalised_grade == 5.0


def test_reviewers_with_too_few_grades_or_no_spread_keep_their_grades() -> None:
    round_file = round_of(
        proposal("A", ("H", 3.0), ("FEW", 4.0)),
        proposal("B", ("H", 4.0), ("FLAT", 2.0)),
        proposal("C", ("H", 5.0), ("FLAT", 2.0), ("FEW", 1.0)),
        proposal("D", ("FLAT", 2.0)),
        scoring=one_to_five(normalize_reviewers=True, normalize_mean=3.0, normalize_sd=1.0, aggregate="median"),
    )
    scores = by_id(score_round(round_file))
    assert scores["D"].normalised_grade == 2.0  # FLAT: three grades, all equal
    # B: H's grade 4.0 is H's mean, so 3.0; FLAT keeps 2.0; the median is 2.5.
    assert scores["B"].normalised_grade == pytest.approx(2.5)
    # A: H's 3.0 becomes 3 - sqrt(3/2); FEW (two grades) keeps 4.0.
    assert scores["A"].normalised_grade == pytest.approx((3 - math.sqrt(1.5) + 4.0) / 2)


def test_conflicted_grades_do_not_count_towards_a_reviewers_scale() -> None:
    conflicted = Review(reviewer="H", grade=1.0, conflict=True)
    round_file = round_of(
        proposal("A", ("H", 3.0)),
        proposal("B", ("H", 4.0)),
        proposal("C", ("H", 5.0)),
        proposal("X", ("L", 2.0)).model_copy(update={"reviews": [Review(reviewer="L", grade=2.0), conflicted]}),
        scoring=one_to_five(normalize_reviewers=True, normalize_mean=3.0, normalize_sd=1.0),
    )
    assert by_id(score_round(round_file))["B"].normalised_grade == pytest.approx(3.0)


# Policy adjustments


def bonus_scoring(**bonuses: Any) -> Scoring:
    return one_to_five(bonuses=Bonuses(**bonuses))


@pytest.mark.parametrize(
    ("missed_rounds", "bonuses", "expected"),
    [
        (1, {"ageing_per_round": 0.2}, -0.2),  # NSLS-II style, one round
        (3, {"ageing_per_round": 0.2, "ageing_max": 0.4}, -0.4),  # APS style, capped at 0.4
        (3, {"ageing_per_round": 0.1}, -0.3),
    ],
)
def test_ageing_of_a_resubmitted_proposal(missed_rounds: int, bonuses: dict[str, float], expected: float) -> None:
    aged = proposal("P", ("R1", 2.0), ("R2", 3.0), missed_rounds=missed_rounds)
    [score] = score_round(round_of(aged, scoring=bonus_scoring(**bonuses)))
    assert score.adjustments == {"ageing": pytest.approx(expected)}
    assert score.final_grade == pytest.approx(2.5 + expected)
    assert score.priority == pytest.approx(priority_for_grade(2.5 + expected, ONE_TO_FIVE))


@pytest.mark.parametrize(
    ("missed_rounds", "bonuses", "expected"),
    [
        (10, {"ageing_per_round": 0.1}, -0.3),  # the default: three missed rounds count
        (10, {"ageing_per_round": 0.1, "ageing_max_rounds": 5}, -0.5),
        (2, {"ageing_per_round": 0.1, "ageing_max_rounds": 5}, -0.2),  # below the cap, every round counts
        (10, {"ageing_per_round": 0.1, "ageing_max_rounds": 5, "ageing_max": 0.4}, -0.4),  # both caps: the lower
        (10, {"ageing_per_round": 0.1, "ageing_max_rounds": 0}, None),  # no round counts: no ageing at all
    ],
)
def test_only_so_many_missed_rounds_earn_ageing(
    missed_rounds: int, bonuses: dict[str, float], expected: float | None
) -> None:
    aged = proposal("P", ("R1", 3.0), missed_rounds=missed_rounds)
    [score] = score_round(round_of(aged, scoring=bonus_scoring(**bonuses)))
    assert score.adjustments == ({} if expected is None else {"ageing": pytest.approx(expected)})
    assert score.final_grade == pytest.approx(3.0 + (expected or 0.0))


def test_the_ageing_cap_is_optional_in_a_file_and_bounded() -> None:
    assert Bonuses.model_validate({"ageing_per_round": 0.2}).ageing_max_rounds == 3
    for bad in (-1, 101, 2.5):
        with pytest.raises(ValueError, match="ageing_max_rounds"):
            Bonuses.model_validate({"ageing_per_round": 0.2, "ageing_max_rounds": bad})


def test_first_time_users_and_early_career_pi_add_up() -> None:
    both = proposal("P", ("R1", 2.0), first_time_users=True, early_career_pi=True)
    neither = proposal("Q", ("R1", 2.0))
    scores = by_id(
        score_round(round_of(both, neither, scoring=bonus_scoring(first_time_users=0.1, early_career_pi=0.15)))
    )
    assert scores["P"].adjustments == {
        "first_time_users": pytest.approx(-0.1),
        "early_career_pi": pytest.approx(-0.15),
    }
    assert scores["P"].final_grade == pytest.approx(1.75)
    assert scores["Q"].adjustments == {}
    assert scores["P"].rank == 1


def test_the_largest_country_group_bonus_applies_once() -> None:
    indian = proposal("P", ("R1", 2.0), pi=Person(name="R. Sharma", country="IN"))
    kazakh = proposal("Q", ("R1", 2.0), pi=Person(name="N. Abenov", country="KZ"))
    round_file = round_of(
        indian,
        kazakh,
        scoring=bonus_scoring(country_groups={"BRICS": 0.1, "ASIA": 0.3, "CIS": 0.3}),
        country_groups={"BRICS": ["IN", "CN"], "ASIA": ["IN", "CN", "KZ"], "CIS": ["KZ"]},
    )
    scores = by_id(score_round(round_file))
    assert scores["P"].adjustments == {"country_group:ASIA": pytest.approx(-0.3)}
    assert scores["Q"].adjustments == {"country_group:ASIA": pytest.approx(-0.3)}  # equal bonuses: first by name


def test_bonuses_raise_the_grade_on_a_scale_where_higher_is_better_and_stop_at_the_best() -> None:
    scoring = Scoring(grade_best=10.0, grade_worst=1.0, bonuses=Bonuses(early_career_pi=0.5))
    near_top = proposal("P", ("R1", 9.8), early_career_pi=True)
    middle = proposal("Q", ("R1", 6.0), early_career_pi=True)
    scores = by_id(score_round(round_of(near_top, middle, scoring=scoring)))
    assert scores["Q"].adjustments == {"early_career_pi": 0.5}
    assert scores["Q"].final_grade == pytest.approx(6.5)
    assert scores["P"].final_grade == 10.0


def test_flags_without_a_bonus_change_nothing() -> None:
    flagged = proposal("P", ("R1", 2.0), missed_rounds=2, first_time_users=True, early_career_pi=True)
    [score] = score_round(round_of(flagged))
    assert score.adjustments == {}
    assert score.final_grade == 2.0


def test_the_cutoff_applies_to_the_grade_after_bonuses() -> None:
    aged = proposal("P", ("R1", 3.6), missed_rounds=1)
    [score] = score_round(round_of(aged, scoring=one_to_five(cutoff=3.5, bonuses=Bonuses(ageing_per_round=0.2))))
    assert score.final_grade == pytest.approx(3.4)
    assert score.excluded_reason is None


# Exclusion and given priorities


def test_a_grade_equal_to_the_cutoff_is_kept_and_a_worse_one_excluded() -> None:
    on_cutoff = proposal("P", ("R1", 3.0), ("R2", 4.0))
    past_cutoff = proposal("Q", ("R1", 3.5), ("R2", 3.6))
    scores = by_id(score_round(round_of(on_cutoff, past_cutoff, scoring=one_to_five(cutoff=3.5))))
    assert scores["P"].excluded_reason is None
    assert scores["Q"].excluded_reason == "below_cutoff"
    assert scores["Q"].excluded_detail == "score 3.55 worse than the cut-off 3.5"


def test_the_cutoff_follows_a_scale_where_higher_is_better() -> None:
    scoring = Scoring(grade_best=10.0, grade_worst=1.0, cutoff=7.0)
    scores = by_id(score_round(round_of(proposal("P", ("R1", 6.0)), proposal("Q", ("R1", 8.0)), scoring=scoring)))
    assert scores["P"].excluded_reason == "below_cutoff"
    assert scores["Q"].excluded_reason is None
    assert scores["Q"].priority == pytest.approx(10 ** (4 * 7 / 9))


def test_too_few_usable_reviews_excludes_as_below_cutoff() -> None:
    lonely = proposal("P", ("R1", 1.0)).model_copy(
        update={"reviews": [Review(reviewer="R1", grade=1.0), Review(reviewer="R2", grade=1.0, conflict=True)]}
    )
    [score] = score_round(round_of(lonely, scoring=one_to_five(min_reviews=2)))
    assert score.excluded_reason == "below_cutoff"
    assert score.excluded_detail == "1 usable review(s), 2 required"
    assert score.raw_grade == 1.0
    assert score.priority is None


def test_not_feasible_excludes_even_with_a_given_priority() -> None:
    infeasible = proposal("P", ("R1", 1.0), priority=50.0, technically_feasible=False)
    [score] = score_round(round_of(infeasible))
    assert score.excluded_reason == "not_feasible"
    assert score.priority is None


def test_a_given_priority_is_kept_and_escapes_cutoff_and_min_reviews() -> None:
    given = proposal("P", ("R1", 4.9), priority=7.5)
    scored = proposal("Q", ("R1", 4.0), ("R2", 4.0))
    scores = score_round(round_of(given, scored, scoring=one_to_five(cutoff=3.5, min_reviews=2)))
    assert [s.proposal for s in scores] == ["P", "Q"]
    assert (scores[0].priority, scores[0].priority_given, scores[0].excluded_reason) == (7.5, True, None)
    assert scores[0].raw_grade == 4.9
    assert scores[1].excluded_reason == "below_cutoff"
    assert scored_round(round_of(given, scored), scores).proposals[0].priority == 7.5


def test_with_min_reviews_zero_an_ungraded_proposal_ranks_last_at_priority_one() -> None:
    scores = score_round(round_of(proposal("A"), proposal("B", ("R1", 4.9)), scoring=one_to_five(min_reviews=0)))
    assert [s.proposal for s in scores] == ["B", "A"]
    assert scores[1].priority == 1.0
    assert scores[1].final_grade is None


def test_without_scoring_every_proposal_needs_a_priority() -> None:
    problems = problems_of(
        round_of(proposal("A", ("R1", 1.0)), proposal("B", priority=2.0), proposal("C"), scoring=None)
    )
    assert problems == [("$.scoring", "proposals A, C have no priority; a `scoring` block is needed")]


def test_without_scoring_given_priorities_are_ranked() -> None:
    scores = score_round(round_of(proposal("A", priority=2.0), proposal("B", priority=5.0), scoring=None))
    assert [(s.proposal, s.rank, s.raw_grade) for s in scores] == [("B", 1, None), ("A", 2, None)]


# Ties


def test_ties_break_on_grade_before_bonuses_then_reviews_then_id() -> None:
    scoring = one_to_five(bonuses=Bonuses(early_career_pi=0.5))
    helped = proposal("A", ("R1", 2.5), early_career_pi=True)  # 2.5 - 0.5 = 2.0
    one_review = proposal("B", ("R1", 2.0))
    two_reviews_z = proposal("Z", ("R1", 2.0), ("R2", 2.0))
    two_reviews_y = proposal("Y", ("R1", 2.0), ("R2", 2.0))
    scores = score_round(round_of(helped, one_review, two_reviews_z, two_reviews_y, scoring=scoring))
    assert [s.proposal for s in scores] == ["Y", "Z", "B", "A"]
    assert len({s.priority for s in scores}) == 1


def test_equal_grades_reached_by_different_arithmetic_tie_exactly() -> None:
    scores = score_round(round_of(proposal("A", ("R1", 0.1 + 2.2)), proposal("B", ("R1", 2.3))))
    assert scores[0].final_grade == scores[1].final_grade
    assert scores[0].priority == scores[1].priority


# Errors


def test_a_grade_outside_the_scale_sets_that_review_aside_naming_the_reviewer() -> None:
    [score] = score_round(round_of(proposal("P", ("R1", 2.0), ("R7", 5.5))))
    assert score.reviews_set_aside == ("reviewer 'R7' gave 5.5, outside the scale 1 (best) to 5 (worst)",)
    assert (score.usable_reviews, score.raw_grade) == (1, 2.0)


def test_a_grade_outside_a_descending_scale_is_set_aside() -> None:
    [score] = score_round(round_of(proposal("P", ("R1", 0.5), ("R2", 8.0)), scoring=TEN_TO_ONE))
    assert len(score.reviews_set_aside) == 1
    assert (score.usable_reviews, score.raw_grade) == (1, 8.0)


def test_a_review_by_the_pi_or_a_team_member_is_set_aside_by_e_mail_never_by_name() -> None:
    pi = Person(name="A. Ivanova", country="RU", email="ivanova@example.org")
    team = [Person(name="D. Petrov", country="RU", email="petrov@example.org"), Person(name="R3", country="RU")]
    own = proposal(
        "P",
        ("IVANOVA@example.org", 1.0),
        ("petrov@example.org", 1.0),
        ("R3", 2.0),
        ("r4@example.org", 4.0),
        pi=pi,
        team=team,
    )
    [score] = score_round(round_of(own))
    assert score.reviews_set_aside == (
        "reviewer 'IVANOVA@example.org' is the PI or a team member of this proposal",
        "reviewer 'petrov@example.org' is the PI or a team member of this proposal",
    )
    # "R3" is also a team member's display name: names decide nothing.
    assert (score.usable_reviews, score.raw_grade) == (2, 3.0)
    declared = own.model_copy(
        update={
            "reviews": [
                Review(reviewer="ivanova@example.org", grade=1.0, conflict=True),
                Review(reviewer="R3", grade=2.0),
            ]
        }
    )
    [score] = score_round(round_of(declared))
    assert (score.usable_reviews, score.raw_grade, score.reviews_set_aside) == (1, 2.0, ())


def test_a_second_review_by_the_same_reviewer_is_set_aside() -> None:
    [score] = score_round(round_of(proposal("P", ("R1", 2.0), ("R2", 2.0), ("r1 ", 3.0))))
    assert score.reviews_set_aside == ("reviewer 'r1 ' reviews this proposal more than once",)
    assert (score.usable_reviews, score.raw_grade) == (2, 2.0)


def test_set_aside_reviews_are_counted_in_the_table() -> None:
    scores = score_round(round_of(proposal("P", ("R1", 2.0), ("R7", 5.5)), proposal("Q", ("R1", 3.0))))
    rows = render_table(scores).splitlines()
    assert "1 (1 set aside)" in rows[1]
    assert "set aside" not in rows[2]


def test_settings_problems_are_reported_at_once_and_reviews_stop_nothing() -> None:
    round_file = round_of(
        proposal("P", ("R1", 9.0), ("R1", 2.0)),
        proposal("Q", ("pi-q@example.org", 2.0), pi=Person(name="PI Q", country="RU", email="pi-q@example.org")),
        scoring=one_to_five(cutoff=0.5, normalize_mean=6.0, bonuses=Bonuses(country_groups={"NOWHERE": 0.1})),
    )
    assert [path for path, _ in problems_of(round_file)] == [
        "$.scoring.cutoff",
        "$.scoring.normalize_mean",
        "$.scoring.bonuses.country_groups.NOWHERE",
    ]


# Priority mapping


def test_priority_spans_one_to_ten_thousand() -> None:
    assert priority_for_grade(1.0, ONE_TO_FIVE) == 10_000.0
    assert priority_for_grade(5.0, ONE_TO_FIVE) == 1.0
    assert priority_for_grade(10.0, TEN_TO_ONE) == 10_000.0
    assert priority_for_grade(2.0, ONE_TO_FIVE) / priority_for_grade(3.0, ONE_TO_FIVE) == pytest.approx(10.0)


def test_half_a_grade_better_outweighs_twice_the_shifts() -> None:
    assert priority_for_grade(1.5, ONE_TO_FIVE) * 6 > priority_for_grade(2.0, ONE_TO_FIVE) * 12


scales = st.sampled_from([ONE_TO_FIVE, TEN_TO_ONE, Scoring(grade_best=0.0, grade_worst=100.0)])


@given(scales, st.floats(0, 1), st.floats(0, 1))
def test_priority_is_positive_and_monotone_in_the_grade(scoring: Scoring, a: float, b: float) -> None:
    better, worse = max(a, b), min(a, b)

    def grade(quality: float) -> float:
        return scoring.grade_worst + quality * (scoring.grade_best - scoring.grade_worst)

    high, low = priority_for_grade(grade(better), scoring), priority_for_grade(grade(worse), scoring)
    assert 1.0 <= low <= high <= 10_000.0
    if better - worse > 1e-9:
        assert high > low


# Ranking is a function of the round, not of the order of its lists

GRADE = st.sampled_from([round(1 + step / 10, 1) for step in range(41)])
REVIEWS = st.lists(
    st.tuples(st.sampled_from(["R1", "R2", "R3", "R4", "R5"]), GRADE, st.booleans()),
    max_size=5,
    unique_by=lambda review: review[0],
)
SETTINGS = st.builds(
    Scoring,
    grade_best=st.just(1.0),
    grade_worst=st.just(5.0),
    aggregate=st.sampled_from(["mean", "median", "trimmed_mean"]),
    normalize_reviewers=st.booleans(),
    min_reviews=st.integers(0, 3),
    cutoff=st.none() | GRADE,
    bonuses=st.none() | st.just(Bonuses(ageing_per_round=0.2, ageing_max=0.4, early_career_pi=0.1)),
)


@given(
    st.lists(st.tuples(REVIEWS, st.integers(0, 3), st.booleans(), st.booleans()), min_size=1, max_size=10),
    SETTINGS,
    st.randoms(use_true_random=False),
)
def test_ranks_are_stable_under_reordering_the_input(
    drawn: list[tuple[list[tuple[str, float, bool]], int, bool, bool]],
    scoring: Scoring,
    shuffler: random.Random,
) -> None:
    proposals = [
        proposal(f"P-{index}", missed_rounds=missed, early_career_pi=early, technically_feasible=feasible).model_copy(
            update={"reviews": [Review(reviewer=r, grade=g, conflict=c) for r, g, c in reviews]}
        )
        for index, (reviews, missed, early, feasible) in enumerate(drawn)
    ]
    scores = score_round(round_of(*proposals, scoring=scoring))

    shuffled = [p.model_copy(update={"reviews": shuffler.sample(p.reviews, len(p.reviews))}) for p in proposals]
    shuffler.shuffle(shuffled)
    assert score_round(round_of(*shuffled, scoring=scoring)) == scores

    assert [score.rank for score in scores] == list(range(1, len(scores) + 1))
    eligible = [score for score in scores if score.excluded_reason is None]
    assert scores[: len(eligible)] == eligible
    priorities = [score.priority for score in eligible if score.priority is not None]
    assert len(priorities) == len(eligible)
    assert priorities == sorted(priorities, reverse=True)


# The table


def test_table_lists_the_ranking_with_adjustments_and_status() -> None:
    round_file = example()
    round_file.scoring = one_to_five(min_reviews=2, cutoff=3.5, bonuses=Bonuses(ageing_per_round=0.2))
    round_file.proposals[1].missed_rounds = 1
    round_file.proposals[3].priority = 2.5
    lines = render_table(score_round(round_file)).splitlines()
    assert lines[0].split() == [
        "rank",
        "proposal",
        "PI",
        "type",
        "reviews",
        "raw",
        "normalised",
        "adjustments",
        "score",
        "priority",
        "status",
    ]
    assert [line.split()[1] for line in lines[1:]] == ["P-006", "P-001", "P-002", "P-003", "P-004", "P-005"]
    assert lines[3].split() == [
        "3",
        "P-002",
        "IN",
        "standard",
        "2",
        "2.00",
        "—",
        "ageing",
        "-0.20",
        "1.80",
        "1584.9",
        "eligible",
    ]
    assert "2.5 (given)" in lines[5]
    assert lines[6].endswith("score 3.8 worse than the cut-off 3.5")
    assert {line.index("P-") for line in lines[1:]} == {lines[0].index("proposal")}
