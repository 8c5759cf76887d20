"""One solve of a round: scoring, building the problem, the engine, the schedule file."""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from scheduler.roundfile.build import Exclusion, Prepared, prepare
from scheduler.roundfile.checks import InputProblem, check_round
from scheduler.roundfile.contract import Proposal, RoundFile, ScheduleFile
from scheduler.roundfile.schedule import schedule_file
from scheduler.roundfile.scoring import ProposalScore, score_round, scoring_problems
from solver.clock import slowdown
from solver.problem import Settings
from solver.search import ProgressCallback, solve

AFTER_SEARCH_CPU_PER_REQUEST = 0.0001
"""CPU seconds per request of the stages after the search: the schedule file built, written and summarised
(facility round, 4,145 requests: 0.15 s, so 2.7 times that; BENCHMARKS.md). Kept back from the search's time,
times `slowdown`."""

log = structlog.get_logger(__name__)
_PROPOSAL_PATH = re.compile(r"^\$\.proposals\[(\d+)\]")
_ALLOCATION_PATH = re.compile(r"^\$\.previous_schedule\[(\d+)\]")


@dataclass(frozen=True)
class Lap:
    """How long a stage took."""

    wall: float
    cpu: float
    """This thread's CPU seconds."""

    @property
    def slowdown(self) -> float:
        """Wall seconds per CPU second: how much longer than its CPU time a stage takes on the machine as
        loaded now; 1 for a stage too short to tell."""
        return slowdown(self.wall, self.cpu)

    def logged(self, stage: str) -> dict[str, float]:
        return {f"{stage}_s": round(self.wall, 3), f"{stage}_cpu": round(self.cpu, 3)}


@dataclass
class Stopwatch:
    """Wall and CPU time of this thread since the last lap."""

    wall: float = field(default_factory=time.monotonic)
    cpu: float = field(default_factory=time.thread_time)

    def lap(self) -> Lap:
        wall, cpu = time.monotonic(), time.thread_time()
        lap = Lap(wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return lap


def kept_back(requests: int, slowdown: float) -> float:
    """Seconds of the time limit kept from the search for the stages after it, at the machine's `slowdown`."""
    return AFTER_SEARCH_CPU_PER_REQUEST * requests * slowdown


@dataclass(frozen=True)
class SetAside:
    """A round file without the proposals that break the file's rules, and why each was set aside."""

    round_file: RoundFile
    """The round without those proposals and their previous allocations: only round-wide problems are left."""
    reasons: Mapping[str, str]
    """Proposal id -> its problems in words."""


def set_aside(round_file: RoundFile) -> SetAside:
    """The proposals whose requests, links, reviews or previous allocations break a rule, set aside.

    A stored round should hold none (`scheduler.rounds.integrity` refuses writes that add one), but
    old data or a rule added later must cost one proposal its time, never the whole round its solve.
    A problem of the round itself (its grid, quotas, scoring settings) is no proposal's and stays.
    """
    return _set_aside(round_file, _problems_by_proposal(round_file))


def set_aside_with_and_without_previous(round_file: RoundFile) -> tuple[SetAside, SetAside]:
    """`set_aside` of the round, and of the round without its previous schedule, with one check of the round when
    it breaks no rule (as a stored round should): the previous schedule's own checks are the only ones that read
    it (`check_round`), so a round that passes them with it passes them without it."""
    found = _problems_by_proposal(round_file)
    without_previous = round_file.model_copy(update={"previous_schedule": None})
    if not found:
        return SetAside(round_file, {}), SetAside(without_previous, {})
    return _set_aside(round_file, found), set_aside(without_previous)


def _set_aside(round_file: RoundFile, found: dict[str, list[str]]) -> SetAside:
    """The round without the proposals `found` (the round's own problems by proposal), and then without those
    whose problems that leaves, until none is left."""
    reasons: dict[str, list[str]] = defaultdict(list)
    kept = round_file
    while found:
        for proposal_id, messages in found.items():
            reasons[proposal_id] += messages
        kept = _without(kept, set(found))
        found = _problems_by_proposal(kept)
    return SetAside(kept, {proposal_id: "; ".join(messages) for proposal_id, messages in reasons.items()})


def ranked_with_set_aside(
    round_file: RoundFile, aside: SetAside | None = None, scores: Sequence[ProposalScore] | None = None
) -> list[ProposalScore]:
    """The ranking of `round_file`: its valid proposals scored, then those set aside (`aside`, when already
    worked out), each with its reason. `scores` are those of `aside`'s round, when already worked out."""
    aside = set_aside(round_file) if aside is None else aside
    scores = score_round(aside.round_file) if scores is None else list(scores)
    return scores + [
        ProposalScore(
            proposal=proposal.id,
            pi_country=proposal.pi.country,
            type=proposal.type,
            usable_reviews=0,
            reviews_set_aside=(),
            raw_grade=None,
            normalised_grade=None,
            adjustments={},
            final_grade=None,
            priority=None,
            priority_given=False,
            excluded_reason="not_feasible",
            excluded_detail=f"set aside: {aside.reasons[proposal.id]}",
            rank=len(scores) + position,
        )
        for position, proposal in enumerate((p for p in round_file.proposals if p.id in aside.reasons), start=1)
    ]


def proposal_problems(round_file: RoundFile) -> list[InputProblem]:
    """Every problem of the file's checks and its scoring settings (`scoring_problems`), with paths into the file."""
    return check_round(round_file) + scoring_problems(round_file)


def _problems_by_proposal(round_file: RoundFile) -> dict[str, list[str]]:
    proposal_of_request = {r.id: p.id for p in round_file.proposals for r in p.requests}
    allocations = round_file.previous_schedule or []
    found: dict[str, list[str]] = defaultdict(list)
    for problem in proposal_problems(round_file):
        if match := _PROPOSAL_PATH.match(problem.path):
            proposal = round_file.proposals[int(match[1])].id
            where = proposal + problem.path.removeprefix(match[0])
        elif (match := _ALLOCATION_PATH.match(problem.path)) and (
            owner := proposal_of_request.get(allocations[int(match[1])].request)
        ):
            proposal, where = owner, problem.path
        else:
            continue
        said = problem.message if problem.message.startswith(proposal) else f"{where}: {problem.message}"
        found[proposal].append(said)
    return found


def _without(round_file: RoundFile, proposal_ids: set[str]) -> RoundFile:
    gone: list[Proposal] = [p for p in round_file.proposals if p.id in proposal_ids]
    gone_requests = {request.id for proposal in gone for request in proposal.requests}
    previous = round_file.previous_schedule
    return round_file.model_copy(
        update={
            "proposals": [p for p in round_file.proposals if p.id not in proposal_ids],
            "previous_schedule": None
            if previous is None
            else [allocation for allocation in previous if allocation.request not in gone_requests],
        }
    )


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
    started: float | None = None,
) -> tuple[Prepared, ScheduleFile]:
    """Scores the proposals that lack a priority, then allocates the round by `started`
    (`time.monotonic()`, by default now) plus the time limit: checking, scoring and
    preparing the round count against the limit, and the search ends early enough for the
    stages after it (`kept_back`, at the slowdown measured while preparing).

    Proposals that break the file's rules are set aside (`set_aside`): their requests are
    unallocated as `not_feasible`, the detail saying why.
    """
    started = time.monotonic() if started is None else started
    stopwatch = Stopwatch()
    aside = set_aside(round_file)
    scores = ranked_with_set_aside(round_file, aside)
    excluded = exclusions(scores)
    without_their_allocations = round_file.model_copy(update={"previous_schedule": aside.round_file.previous_schedule})
    prepared = prepare(without_their_allocations, priorities(scores), excluded)
    preparing = stopwatch.lap()
    requests = len(prepared.problem.requests)
    keeping = kept_back(requests, preparing.slowdown)
    search_given = started + settings.time_limit - keeping - stopwatch.wall
    solution = solve(prepared.problem, settings, on_progress, stop, started - keeping)
    searching = stopwatch.lap()
    schedule = schedule_file(prepared, solution)
    log.debug(
        "solve stages",
        requests=requests,
        **preparing.logged("preparing"),
        slowdown=preparing.slowdown,
        kept_back_s=keeping,
        search_given_s=round(search_given, 3),
        **searching.logged("search"),
        **stopwatch.lap().logged("schedule_file"),
    )
    return prepared, schedule
