"""From panel grades to one priority per proposal, with every step kept for the coordinator.

Grades → (conflicted and set-aside reviews dropped) → optional reviewer normalisation →
aggregate → policy bonuses → score → priority. `docs/scoring.md` states the
rules for coordinators; this module is their only implementation.

A review that breaks a rule (off the scale, a second one by the same reviewer, by the
PI or a team member without declaring the conflict) is set aside with its reason and
the rest are scored: one proposal's reviews never stop the ranking of a round.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from statistics import fmean, median, pstdev
from typing import Literal

from scheduler.roundfile.checks import InputError, InputProblem
from scheduler.roundfile.contract import Proposal, ProposalType, Review, RoundFile, Scoring

ExclusionReason = Literal["below_cutoff", "not_feasible"]
"""(JSON path, message)."""

PRIORITY_DECADES = 4.0
"""Priority spans 10**0 (worst grade) to 10**4 (best grade): a grade one tenth of the scale
better is worth 10**0.4 ≈ 2.5 times as much per shift, and the range stays small enough for
the engine to scale priorities to integers."""

_DIGITS = 9
"""Grades are rounded to this many decimals so that equal grades reached by different
arithmetic tie exactly and compare exactly with the cut-off."""


class ScoringError(InputError):
    """Every problem found in the round's scoring settings, so they can be fixed in one pass."""


@dataclass(frozen=True)
class ProposalScore:
    """One row of the ranking: how a proposal's grades became its priority."""

    proposal: str
    pi_country: str
    type: ProposalType
    usable_reviews: int
    reviews_set_aside: tuple[str, ...]
    """Why each review that is not declared conflicted still does not count, one sentence per review."""
    raw_grade: float | None
    """Aggregate of the grades as given; None without grades or without a `scoring` block."""
    normalised_grade: float | None
    """Aggregate of the reviewer-normalised grades; None when normalisation is off."""
    adjustments: dict[str, float] = field(hash=False)
    """Bonus name -> signed change of the grade (negative on a scale where lower is better)."""
    final_grade: float | None
    """The score: the aggregated grade after bonuses, kept within the scale."""
    priority: float | None
    """What the engine maximises per shift; None for an excluded proposal."""
    priority_given: bool
    """The priority came from the round file rather than from the grades."""
    excluded_reason: ExclusionReason | None
    excluded_detail: str | None
    rank: int


def priority_for_grade(grade: float, scoring: Scoring) -> float:
    """Exponential in the grade, so one clearly better proposal outweighs a longer worse one."""
    return float(10.0 ** (PRIORITY_DECADES * _quality(grade, scoring)))


def scoring_problems(round_file: RoundFile) -> list[InputProblem]:
    """What keeps the round from being scored at all, without scoring it: its scoring settings' problems, or
    proposals without a priority and no `scoring` block to give them one (`score_round` raises ScoringError)."""
    scoring = round_file.scoring
    if scoring is not None:
        return _settings_problems(round_file, scoring)
    unpriced = [proposal.id for proposal in round_file.proposals if proposal.priority is None]
    if not unpriced:
        return []
    return [InputProblem("$.scoring", f"proposals {', '.join(unpriced)} have no priority; a `scoring` block is needed")]


def score_round(round_file: RoundFile) -> list[ProposalScore]:
    """Every proposal of the round, best first; raises ScoringError listing the settings' problems."""
    problems = scoring_problems(round_file)
    if problems:
        raise ScoringError(problems)
    scoring = round_file.scoring

    judged = {proposal.id: _judge_reviews(proposal, scoring) for proposal in round_file.proposals}
    if scoring is None:
        unranked = [_given_only(proposal, judged[proposal.id]) for proposal in round_file.proposals]
    else:
        usable = [review for reviews in judged.values() for review in reviews.usable]
        normalise = _normaliser(usable, scoring) if scoring.normalize_reviewers else None
        unranked = [
            _score(proposal, judged[proposal.id], round_file, scoring, normalise) for proposal in round_file.proposals
        ]
    ranked = sorted(unranked, key=lambda score: _rank_key(score, scoring))
    return [replace(score, rank=rank) for rank, score in enumerate(ranked, start=1)]


def scored_round(round_file: RoundFile, scores: Sequence[ProposalScore]) -> RoundFile:
    """A copy with computed priorities filled in; excluded proposals stay without one so that
    scoring the copy again excludes them again."""
    computed = {
        score.proposal: score.priority for score in scores if score.priority is not None and not score.priority_given
    }
    result = round_file.model_copy(deep=True)
    for proposal in result.proposals:
        if proposal.priority is None and proposal.id in computed:
            proposal.priority = computed[proposal.id]
    return result


def render_table(scores: Sequence[ProposalScore]) -> str:
    """The ranking as aligned plain text, for coordinators to read and defend."""
    header = (
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
    )
    numeric = {"rank", "reviews", "raw", "normalised", "score", "priority"}
    rows = [header, *(_table_row(score) for score in scores)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        "  ".join(
            cell.rjust(width) if name in numeric else cell.ljust(width)
            for name, cell, width in zip(header, row, widths, strict=True)
        ).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def _table_row(score: ProposalScore) -> tuple[str, ...]:
    priority = "—" if score.priority is None else f"{score.priority:.1f}"
    if score.priority_given and score.priority is not None:
        priority += " (given)"
    adjustments = ", ".join(f"{name} {delta:+.2f}" for name, delta in score.adjustments.items())
    reviews = str(score.usable_reviews)
    if score.reviews_set_aside:
        reviews += f" ({len(score.reviews_set_aside)} set aside)"
    return (
        str(score.rank),
        score.proposal,
        score.pi_country,
        score.type,
        reviews,
        _grade_text(score.raw_grade),
        _grade_text(score.normalised_grade),
        adjustments or "—",
        _grade_text(score.final_grade),
        priority,
        score.excluded_detail or "eligible",
    )


def _grade_text(grade: float | None) -> str:
    return "—" if grade is None else f"{grade:.2f}"


def _quality(grade: float, scoring: Scoring) -> float:
    """0 at the worst grade, 1 at the best, whichever way the scale runs."""
    return (grade - scoring.grade_worst) / (scoring.grade_best - scoring.grade_worst)


def _worse(grade: float, than: float, scoring: Scoring) -> bool:
    return (grade - than) * (scoring.grade_worst - scoring.grade_best) > 0


def _on_scale(grade: float, scoring: Scoring) -> bool:
    return min(scoring.grade_best, scoring.grade_worst) <= grade <= max(scoring.grade_best, scoring.grade_worst)


def _clamp(grade: float, scoring: Scoring) -> float:
    low, high = sorted((scoring.grade_best, scoring.grade_worst))
    return round(min(high, max(low, grade)), _DIGITS)


@dataclass(frozen=True)
class _Judged:
    """A proposal's reviews that count, and why each of the others not declared conflicted does not."""

    usable: list[Review]
    set_aside: tuple[str, ...]


def _identity(text: str) -> str:
    return text.strip().casefold()


def _judge_reviews(proposal: Proposal, scoring: Scoring | None) -> _Judged:
    """Conflicts are decided on identities (the people's account e-mails), never on display names."""
    authors = {_identity(person.email) for person in [proposal.pi, *proposal.team] if person.email is not None}
    usable: list[Review] = []
    set_aside: list[str] = []
    seen: set[str] = set()
    for review in proposal.reviews:
        if review.conflict:
            continue
        identity = _identity(review.reviewer)
        if identity in authors:
            set_aside.append(f"reviewer {review.reviewer!r} is the PI or a team member of this proposal")
        elif identity in seen:
            set_aside.append(f"reviewer {review.reviewer!r} reviews this proposal more than once")
        elif scoring is not None and not _on_scale(review.grade, scoring):
            set_aside.append(
                f"reviewer {review.reviewer!r} gave {review.grade:g}, outside the scale "
                f"{scoring.grade_best:g} (best) to {scoring.grade_worst:g} (worst)"
            )
        else:
            usable.append(review)
        seen.add(identity)
    return _Judged(usable, tuple(set_aside))


def _settings_problems(round_file: RoundFile, scoring: Scoring) -> list[InputProblem]:
    problems: list[InputProblem] = []
    scale = f"the scale {scoring.grade_best:g} to {scoring.grade_worst:g}"
    if scoring.cutoff is not None and not _on_scale(scoring.cutoff, scoring):
        problems.append(InputProblem("$.scoring.cutoff", f"cut-off {scoring.cutoff:g} is outside {scale}"))
    if scoring.normalize_mean is not None and not _on_scale(scoring.normalize_mean, scoring):
        problems.append(InputProblem("$.scoring.normalize_mean", f"{scoring.normalize_mean:g} is outside {scale}"))
    if scoring.bonuses is not None:
        for group in scoring.bonuses.country_groups:
            if group not in round_file.country_groups:
                problems.append(
                    InputProblem(
                        f"$.scoring.bonuses.country_groups.{group}", f"no country group {group!r} in the round"
                    )
                )
    return problems


def _normaliser(reviews: list[Review], scoring: Scoring) -> Callable[[Review], float]:
    """Z-scores per reviewer mapped onto one target mean and spread, so a harsh reviewer does not
    sink a proposal. Reviewers with too few grades, or all grades equal, have no measurable
    harshness; their grades are kept as given."""
    if not reviews:
        return lambda review: review.grade
    all_grades = [review.grade for review in reviews]
    target_mean = fmean(all_grades) if scoring.normalize_mean is None else scoring.normalize_mean
    target_sd = pstdev(all_grades) if scoring.normalize_sd is None else scoring.normalize_sd
    by_reviewer: dict[str, list[float]] = defaultdict(list)
    for review in reviews:
        by_reviewer[review.reviewer].append(review.grade)
    scales = {
        reviewer: (fmean(grades), pstdev(grades))
        for reviewer, grades in by_reviewer.items()
        if len(grades) >= scoring.normalize_min_grades and pstdev(grades) > 0
    }

    def normalise(review: Review) -> float:
        if review.reviewer not in scales:
            return review.grade
        mean, sd = scales[review.reviewer]
        return _clamp(target_mean + target_sd * (review.grade - mean) / sd, scoring)

    return normalise


def _aggregate(grades: list[float], scoring: Scoring) -> float:
    if scoring.aggregate == "mean":
        return round(fmean(grades), _DIGITS)
    if scoring.aggregate == "median":
        return round(median(grades), _DIGITS)
    drop = min(scoring.trim_per_end, (len(grades) - 1) // 2)
    kept = sorted(grades)[drop : len(grades) - drop]
    return round(fmean(kept), _DIGITS)


def _adjustments(proposal: Proposal, round_file: RoundFile, scoring: Scoring) -> dict[str, float]:
    """Signed grade changes; bonuses always move the grade towards `grade_best`."""
    bonuses = scoring.bonuses
    if bonuses is None:
        return {}
    amounts: dict[str, float] = {}
    if proposal.missed_rounds:
        ageing = bonuses.ageing_per_round * min(proposal.missed_rounds, bonuses.ageing_max_rounds)
        amounts["ageing"] = ageing if bonuses.ageing_max is None else min(ageing, bonuses.ageing_max)
    if proposal.first_time_users:
        amounts["first_time_users"] = bonuses.first_time_users
    if proposal.early_career_pi:
        amounts["early_career_pi"] = bonuses.early_career_pi
    groups = [
        (amount, group)
        for group, amount in bonuses.country_groups.items()
        if proposal.pi.country_confirmed and proposal.pi.country in round_file.country_groups[group]
    ]
    if groups:
        amount, group = min(groups, key=lambda item: (-item[0], item[1]))
        amounts[f"country_group:{group}"] = amount
    towards_best = math.copysign(1.0, scoring.grade_best - scoring.grade_worst)
    return {name: round(towards_best * amount, _DIGITS) for name, amount in amounts.items() if amount > 0}


def _score(
    proposal: Proposal,
    judged: _Judged,
    round_file: RoundFile,
    scoring: Scoring,
    normalise: Callable[[Review], float] | None,
) -> ProposalScore:
    usable = judged.usable
    raw_grade = _aggregate([review.grade for review in usable], scoring) if usable else None
    normalised_grade = _aggregate([normalise(review) for review in usable], scoring) if usable and normalise else None
    base = raw_grade if normalised_grade is None else normalised_grade
    adjustments = _adjustments(proposal, round_file, scoring) if base is not None else {}
    final_grade = None if base is None else _clamp(base + math.fsum(adjustments.values()), scoring)

    reason: ExclusionReason | None = None
    detail = None
    if not proposal.technically_feasible:
        reason, detail = "not_feasible", "not technically feasible"
    elif proposal.priority is None and len(usable) < scoring.min_reviews:
        reason = "below_cutoff"
        detail = f"{len(usable)} usable review(s), {scoring.min_reviews} required"
    elif (
        proposal.priority is None
        and final_grade is not None
        and scoring.cutoff is not None
        and _worse(final_grade, scoring.cutoff, scoring)
    ):
        reason = "below_cutoff"
        detail = f"score {final_grade:g} worse than the cut-off {scoring.cutoff:g}"

    if reason is not None:
        priority = None
    elif proposal.priority is not None:
        priority = proposal.priority
    else:
        # Ungraded only when min_reviews is 0: it ranks below every graded proposal.
        grade = scoring.grade_worst if final_grade is None else final_grade
        priority = priority_for_grade(grade, scoring)
    return ProposalScore(
        proposal=proposal.id,
        pi_country=proposal.pi.country,
        type=proposal.type,
        usable_reviews=len(usable),
        reviews_set_aside=judged.set_aside,
        raw_grade=raw_grade,
        normalised_grade=normalised_grade,
        adjustments=adjustments,
        final_grade=final_grade,
        priority=priority,
        priority_given=proposal.priority is not None,
        excluded_reason=reason,
        excluded_detail=detail,
        rank=0,
    )


def _given_only(proposal: Proposal, judged: _Judged) -> ProposalScore:
    """Without a `scoring` block every proposal has a priority and grades mean nothing."""
    feasible = proposal.technically_feasible
    return ProposalScore(
        proposal=proposal.id,
        pi_country=proposal.pi.country,
        type=proposal.type,
        usable_reviews=len(judged.usable),
        reviews_set_aside=judged.set_aside,
        raw_grade=None,
        normalised_grade=None,
        adjustments={},
        final_grade=None,
        priority=proposal.priority if feasible else None,
        priority_given=True,
        excluded_reason=None if feasible else "not_feasible",
        excluded_detail=None if feasible else "not technically feasible",
        rank=0,
    )


def _rank_key(score: ProposalScore, scoring: Scoring | None) -> tuple[bool, float, float, float, int, str]:
    """Eligible first, then priority, score, grade before bonuses, more usable reviews, proposal id."""

    def best_first(grade: float | None) -> float:
        return math.inf if grade is None or scoring is None else -_quality(grade, scoring)

    before_bonuses = score.raw_grade if score.normalised_grade is None else score.normalised_grade
    return (
        score.excluded_reason is not None,
        -(score.priority or 0.0),
        best_first(score.final_grade),
        best_first(before_bonuses),
        -score.usable_reviews,
        score.proposal,
    )
