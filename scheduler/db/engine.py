"""Database engines and sessions: SQLite (embedded default, WAL) or PostgreSQL from DATABASE_URL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from scheduler.settings import private_sqlite_database

POOL_SIZE = 20
"""PostgreSQL connections per process, kept open: a busy process queues for one rather than opening more.

Connections beyond the pool (`max_overflow`) are closed as soon as they are returned: under steady load they
are opened and closed hundreds of times a second, a PostgreSQL backend each, which cut the throughput of the
slot-status benchmark to a quarter (BENCHMARKS.md, API). No ping before each checkout either (`pool_pre_ping`
costs a round trip per request): `_closed_by_the_server` finds the connections a restart or
`pg_terminate_backend` ended without asking the server."""


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets its private folder and file, WAL, foreign keys and a busy timeout."""
    if not is_sqlite(url):
        engine = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=0)
        event.listen(engine.sync_engine, "checkout", _closed_by_the_server)
        event.listen(engine.sync_engine, "handle_error", _note_lost_connection)
        event.listen(engine.sync_engine, "handle_error", _note_transient_conflict)
        return engine
    private_sqlite_database(url)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    event.listen(engine.sync_engine, "handle_error", _note_transient_conflict)
    return engine


def session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _closed_by_the_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled PostgreSQL connection the server has ended is replaced before use, at no cost to the healthy ones.

    An idle asyncpg connection reads its socket all the time, so it knows within moments that the server ended it
    (restart, failover, `pg_terminate_backend`); `DisconnectionError` makes the pool open a new one instead.
    """
    if dbapi_connection._connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


@dataclass
class Tally:
    count: int = 0


class _Noted:
    """Counts something the database met in the work done within `counting()` (this task and the greenlets
    SQLAlchemy runs it in), whatever the error became on its way up: a caller can then tell it from a bug."""

    def __init__(self, name: str) -> None:
        self._current: ContextVar[Tally | None] = ContextVar(name, default=None)

    @contextmanager
    def counting(self) -> Iterator[Tally]:
        tally = Tally()
        token = self._current.set(tally)
        try:
            yield tally
        finally:
            self._current.reset(token)

    def note(self) -> None:
        if (tally := self._current.get()) is not None:
            tally.count += 1


_lost_connections = _Noted("lost_connections")
noting_lost_connections = _lost_connections.counting
"""Counts the connections the database drops under the work done within."""


def note_lost_connection() -> None:
    """For a loss seen where SQLAlchemy's error event is not: in another task that shares its result with this one."""
    _lost_connections.note()


def _note_lost_connection(context: ExceptionContext) -> None:
    if context.is_disconnect:
        note_lost_connection()


TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
"""PostgreSQL's deadlock_detected and serialization_failure: the transaction was aborted for another's sake."""


def is_transient(error: BaseException | None) -> bool:
    """Whether `error`, or what it was raised from, is a conflict that the same transaction tried again resolves:
    a deadlock or serialization failure (PostgreSQL), or SQLite's write lock not had within the busy timeout."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        cause = error.orig if isinstance(error, DBAPIError) else error
        if getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES:
            return True
        if isinstance(cause, sqlite3.OperationalError) and str(cause).startswith("database is locked"):
            return True
        error = error.__cause__ or error.__context__
    return False


_transient_conflicts = _Noted("transient_conflicts")
noting_transient_conflicts = _transient_conflicts.counting
"""Counts the transient conflicts (`is_transient`) the database met in the work done within: the caller may then
run the work again."""


def _note_transient_conflict(context: ExceptionContext) -> None:
    if is_transient(context.original_exception):
        _transient_conflicts.note()
