"""Solve runs as jobs: a queue in the database, workers that run each solve in a process of its own."""

from scheduler.jobs.queue import (
    RunState,
    claim_next,
    enqueue_solve,
    finish_run,
    heartbeat,
    reap_stale_runs,
    request_cancel,
    start_run,
)
from scheduler.jobs.runs import (
    SolveOptions,
    cancel_solve,
    solve,
    solve_input,
    solve_output,
    solves_of_round,
    start_solve,
)
from scheduler.jobs.views import (
    SolveProgress,
    SolveResult,
    SolveRunPublic,
    SolveSettings,
    get_run,
    list_runs,
    run_input,
    run_output,
)
from scheduler.jobs.worker import Worker

__all__ = [
    "RunState",
    "SolveOptions",
    "SolveProgress",
    "SolveResult",
    "SolveRunPublic",
    "SolveSettings",
    "Worker",
    "cancel_solve",
    "claim_next",
    "enqueue_solve",
    "finish_run",
    "get_run",
    "heartbeat",
    "list_runs",
    "reap_stale_runs",
    "request_cancel",
    "run_input",
    "run_output",
    "solve",
    "solve_input",
    "solve_output",
    "solves_of_round",
    "start_run",
    "start_solve",
]
