"""One solve of a round: scoring, building the problem, the engine, the schedule file."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from scheduler.roundfile.build import Exclusion, Prepared, prepare
from scheduler.roundfile.contract import RoundFile, ScheduleFile
from scheduler.roundfile.schedule import schedule_file
from scheduler.roundfile.scoring import ProposalScore, score_round
from solver.problem import Settings
from solver.search import ProgressCallback, solve


def exclusions(scores: Sequence[ProposalScore]) -> dict[str, Exclusion]:
    return {
        score.proposal: Exclusion(score.excluded_reason, score.excluded_detail or score.excluded_reason)
        for score in scores
        if score.excluded_reason is not None
    }


def priorities(scores: Sequence[ProposalScore]) -> dict[str, float]:
    return {score.proposal: score.priority for score in scores if score.priority is not None}


def solve_round(
    round_file: RoundFile,
    settings: Settings = Settings(),
    on_progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> tuple[Prepared, ScheduleFile]:
    """Scores the proposals that lack a priority, then allocates the round."""
    scores = score_round(round_file)
    prepared = prepare(round_file, priorities(scores), exclusions(scores))
    solution = solve(prepared.problem, settings, on_progress, stop)
    return prepared, schedule_file(prepared, solution)
