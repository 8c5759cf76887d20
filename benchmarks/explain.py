"""How long explaining a schedule takes at facility size, and what the explanations say.

Solves a round (the facility fixture by default) as `beamtime solve` does, then times
`solver.explain.explain_unallocated` on the returned schedule again, several times, in
wall and CPU time (the machine is shared: CPU time moves less with the neighbours' load).
It also reports the reasons, how many unallocated requests list competitors, rank fairness
and the size of the schedule file.

    python -m benchmarks.explain --time-limit 20 --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from pathlib import Path

from fixtures import ROUNDS
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.solving import solve_round
from solver.explain import explain_unallocated
from solver.problem import Placement, Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("round", nargs="?", type=Path, default=ROUNDS / "facility.json")
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    prepared, schedule = solve_round(load_round(arguments.round), Settings(time_limit=arguments.time_limit))
    problem = prepared.problem
    request = {code: r for r, code in enumerate(prepared.request_ids)}
    instrument = {code: i for i, code in enumerate(prepared.instrument_ids)}
    placements = [
        Placement(request[a.request], instrument[a.instrument], a.start_shift, a.shifts) for a in schedule.allocations
    ]
    walls, cpus = [], []
    for _ in range(arguments.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        explained = explain_unallocated(problem, placements)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    print(f"round {arguments.round.name}: {len(problem.requests)} requests, {len(problem.instruments)} instruments")
    print(f"schedule: {schedule.status}, {len(schedule.allocations)} allocated, solve {schedule.solve_seconds:.1f} s")
    print(
        f"explain_unallocated x{arguments.repeat}: wall median {statistics.median(walls):.3f} s "
        f"(min {min(walls):.3f}), CPU median {statistics.median(cpus):.3f} s (min {min(cpus):.3f})"
    )
    reasons = Counter(u.reason for u in explained).most_common()
    print(f"unallocated {len(explained)}: " + ", ".join(f"{reason} {count}" for reason, count in reasons))
    listed = sum(len(u.competitors) for u in explained)
    print(f"with competitors: {sum(1 for u in explained if u.competitors)}; competitor entries: {listed}")
    print(f"rank fairness: {schedule.rank_fairness}")
    print(f"schedule file: {len(schedule.model_dump_json()) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
