"""How long writes hold a round's row locked on PostgreSQL: the ceiling on one round's write throughput (issue 17).

Every write that changes what a solve reads moves its round's input revision, so on PostgreSQL it holds the
round's row locked (`locked`'s `SELECT … FOR NO KEY UPDATE`, or the revision's `UPDATE`) from then until its
transaction ends: writes to one round take turns there, and one round's writes per second can be no more than one
over the mean time a write holds it. `benchmarks.writes` serves the app through `create_app` below, which notes,
through SQLAlchemy's engine events only, when each transaction's first statement that locks a round's row returns
(after any wait for the lock) and when the transaction sends its COMMIT or ROLLBACK (the row is free a round trip
later, so the holds are a little short and the ceiling a little high), and on shutdown appends its process's holds
to the file named by `BEAMTIME_BENCHMARK_ROUND_LOCKS` (a JSON line of seconds per process).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from litestar import Litestar
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from api.app import create_app as create_api

HOLDS_FILE = "BEAMTIME_BENCHMARK_ROUND_LOCKS"
LOCKING = ("SELECT round.id", "UPDATE round SET")
"""How the statements that lock a round's row begin (the locking read of `locked` is `SELECT round.id, …
FOR NO KEY UPDATE`; before d6bd9eb, `FOR UPDATE`)."""


class RoundLockHolds:
    """The holds of one process: per connection, when its transaction first locked a round's row."""

    def __init__(self) -> None:
        self.since: dict[int, float] = {}
        self.holds: list[float] = []

    def executed(self, conn: Connection, statement: str) -> None:
        if (
            id(conn) not in self.since
            and statement.startswith(LOCKING)
            and (statement.startswith("UPDATE") or statement.rstrip().endswith(("FOR UPDATE", "FOR NO KEY UPDATE")))
        ):
            self.since[id(conn)] = time.perf_counter()

    def ended(self, conn: Connection) -> None:
        locked_at = self.since.pop(id(conn), None)
        if locked_at is not None:
            self.holds.append(time.perf_counter() - locked_at)

    def listen(self) -> None:
        def executed(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
            self.executed(conn, statement)

        def end(conn: Connection) -> None:
            self.ended(conn)

        event.listen(Engine, "after_cursor_execute", executed)
        event.listen(Engine, "commit", end)
        event.listen(Engine, "rollback", end)

    def write(self) -> None:
        with Path(os.environ[HOLDS_FILE]).open("a", encoding="utf-8") as holds:
            holds.write(json.dumps(self.holds) + "\n")


def create_app() -> Litestar:
    """The API as served, noting its round-lock holds; `uvicorn --factory benchmarks.round_lock:create_app`."""
    holds = RoundLockHolds()
    holds.listen()
    app = create_api()
    app.on_shutdown.append(holds.write)
    return app


def summary(path: str, seconds: float) -> str:
    """The holds the server processes appended to `path`, for a run of `seconds`."""
    with Path(path).open(encoding="utf-8") as lines:
        holds = sorted(hold for line in lines for hold in json.loads(line))
    if not holds:
        return "No write locked a round's row."

    def ms(quantile: float) -> str:
        return f"{holds[min(len(holds) - 1, int(quantile * len(holds)))] * 1000:.1f}"

    mean = sum(holds) / len(holds)
    return (
        f"A round's row was locked by {len(holds):,} transactions, held p50 {ms(0.5)} ms, p99 {ms(0.99)} ms, "
        f"mean {mean * 1000:.1f} ms: held {sum(holds) / seconds:.0%} of the run, a ceiling of "
        f"{1 / mean:,.0f} writes/s to one round."
    )
