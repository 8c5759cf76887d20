"""The solver's own process, so a crash or a kill there cannot take the worker or the API down.

The worker starts it with the multiprocessing "spawn" context (a fresh
interpreter: OR-Tools misbehaves after fork and over repeated solves in one
process) and two one-way pipes: messages up, commands down.
"""

from __future__ import annotations

import signal
import threading
from multiprocessing.connection import Connection
from typing import Any, Literal

from scheduler.roundfile.contract import RoundFile
from scheduler.roundfile.solving import solve_round
from solver.problem import Settings
from solver.solution import Progress

STOP = "stop"

Message = (
    tuple[Literal["progress"], Progress] | tuple[Literal["schedule"], dict[str, Any]] | tuple[Literal["error"], str]
)
"""What the solver process sends: progress while it searches, then the schedule file or an error."""


def solve_in_process(
    round_document: dict[str, Any], settings: Settings, messages: Connection, commands: Connection
) -> None:
    """Entry point of the solver process: solves the round, streaming progress, until done or told to stop."""
    stop = threading.Event()
    _stop_on_signals(stop)
    threading.Thread(target=_stop_when_told, args=(commands, stop), daemon=True).start()

    def report(progress: Progress) -> None:
        messages.send(("progress", progress))

    try:
        round_file = RoundFile.model_validate(round_document)
        _, schedule = solve_round(round_file, settings, report, stop)
    except Exception as error:
        messages.send(("error", f"{type(error).__name__}: {error}"))
        raise
    messages.send(("schedule", schedule.model_dump(mode="json")))


def _stop_on_signals(stop: threading.Event) -> None:
    """Ctrl-C and SIGTERM reach the solver process too when they go to the whole process group
    (a terminal, systemd): the worker decides how the solve ends, so SIGINT is ignored and
    SIGTERM only stops the search."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())


def _stop_when_told(commands: Connection, stop: threading.Event) -> None:
    """Stops the search on the worker's command, or when the worker is gone (the pipe closes)."""
    try:
        while commands.recv() != STOP:
            pass
    except EOFError:
        pass
    stop.set()
