"""What fair return costs the primary objective on the facility round, and whether it repays a large deficit (issue 13).

Per seed, the bundled facility round is solved three times with the same time limit:
without `fair_return`; with targets for four partner countries (each owed its share of the
round's requested shifts) and a balanced history (one past round of the same size in which
each target got exactly its share); and with the same targets but a history in which the
last target got nothing. The cost is the primary objective lost against the solve without
fair return; the deficit is the last target's owed shifts after the round, for the schedule
without fair return ("before") and for the schedule that prices it ("after").

    python -m benchmarks.fair_return --time-limit 30 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import fixtures
from benchmarks.engine import machine
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import FairReturn, FairReturnHistory, FairReturnTarget, RoundFile, ScheduleFile
from scheduler.roundfile.fair_return import delivered
from scheduler.roundfile.quotas import Attribution
from scheduler.roundfile.solving import solve_round
from solver.problem import Settings

FACILITY_ROUND = Path(fixtures.__file__).resolve().parent / "rounds" / "facility.json"
PARTNERS = ("KZ", "CN", "BY", "IN")
"""The targets: four partner countries with the most requested time after the host's; the last is the one owed."""
ATTRIBUTION: Attribution = "pi"


@dataclass(frozen=True)
class Outcome:
    seed: int
    without: float
    balanced: float
    repaying: float
    deficit_before: float
    deficit_after: float

    def cost(self, objective: float) -> float:
        return (self.without - objective) / self.without


def targets(round_file: RoundFile) -> list[FairReturnTarget]:
    """Each partner is owed its share of the round's requested shifts (rounded down to a thousandth)."""
    requested: dict[str, int] = {}
    for proposal in round_file.proposals:
        requested[proposal.pi.country] = requested.get(proposal.pi.country, 0) + sum(
            r.shifts for r in proposal.requests
        )
    total = sum(requested.values())
    return [
        FairReturnTarget.model_validate(
            {
                "id": country.lower(),
                "category": {"country": country},
                "share": int(1000 * requested[country] / total) / 1000,
            }
        )
        for country in PARTNERS
    ]


def history(
    round_file: RoundFile, schedule: ScheduleFile, chosen: Sequence[FairReturnTarget], owed: str | None
) -> list[FairReturnHistory]:
    """A past round as large as this round's schedule, in which every target got its share, or `owed` nothing."""
    entries = []
    for entry in delivered(round_file, schedule, chosen, ATTRIBUTION):
        share = next(t.share for t in chosen if t.id == entry.target)
        part = 0.0 if entry.target == owed else share * entry.shifts_total
        entries.append(entry.model_copy(update={"round": "2026-II", "shifts": part}))
    return entries


def deficit(round_file: RoundFile, schedule: ScheduleFile, target: FairReturnTarget, past: FairReturnHistory) -> float:
    """`share x (H + T) - (h + t)`, at least 0: what the target is owed after this round (docs/round-format.md)."""
    (now,) = delivered(round_file, schedule, [target], ATTRIBUTION)
    share = Fraction(str(target.share))
    owed = share * Fraction(past.shifts_total + now.shifts_total) - Fraction(past.shifts + now.shifts)
    return float(max(Fraction(0), owed))


def run_seed(round_file: RoundFile, seed: int, time_limit: float, workers: int) -> Outcome:
    settings = Settings(time_limit=time_limit, workers=workers, seed=seed)
    chosen = targets(round_file)
    _, plain = solve_round(round_file, settings)
    balanced_file = _with(round_file, chosen, history(round_file, plain, chosen, None))
    _, balanced = solve_round(balanced_file, settings)
    owed_target = chosen[-1]
    past = history(round_file, plain, chosen, owed_target.id)
    _, repaying = solve_round(_with(round_file, chosen, past), settings)
    (report,) = [r for r in repaying.fair_return or [] if r.id == owed_target.id]
    (owed_past,) = [entry for entry in past if entry.target == owed_target.id]
    return Outcome(
        seed,
        plain.objective,
        balanced.objective,
        repaying.objective,
        deficit(round_file, plain, owed_target, owed_past),
        report.deficit,
    )


def _with(round_file: RoundFile, chosen: list[FairReturnTarget], past: list[FairReturnHistory]) -> RoundFile:
    fair_return = FairReturn(targets=chosen, history=past, attribution=ATTRIBUTION)
    return round_file.model_copy(update={"fair_return": fair_return})


def report(outcomes: Sequence[Outcome], round_file: RoundFile, time_limit: float, workers: int) -> str:
    chosen = targets(round_file)
    lines = [
        f"Command: `python -m benchmarks.fair_return {shlex.join(sys.argv[1:])}`",
        f"Machine: {machine()}; time limit {time_limit:g} s, {workers} workers per solve.",
        "Targets: " + ", ".join(f"{t.id.upper()} {t.share:.3f}" for t in chosen) + f" (attribution {ATTRIBUTION}); "
        f"the large deficit is {chosen[-1].id.upper()}'s.",
        "",
        "| seed | objective without | with balanced history | cost | with a deficit | cost "
        "| deficit before (shifts) | deficit after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.seed} | {o.without:,.1f} | {o.balanced:,.1f} | {o.cost(o.balanced):.2%} | {o.repaying:,.1f} "
            f"| {o.cost(o.repaying):.2%} | {o.deficit_before:,.1f} | {o.deficit_after:,.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    round_file = load_round(FACILITY_ROUND)
    outcomes = [run_seed(round_file, seed, args.time_limit, args.workers) for seed in args.seeds]
    print(report(outcomes, round_file, args.time_limit, args.workers))


if __name__ == "__main__":
    main()
