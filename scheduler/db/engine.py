"""Database engines and sessions: SQLite (embedded default, WAL) or PostgreSQL from DATABASE_URL."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import aiosqlite
import msgspec
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


JSON_CODEC: dict[str, Callable[..., Any]] = {
    "json_serializer": lambda value: msgspec.json.encode(value).decode(),
    "json_deserializer": msgspec.json.decode,
}
"""JSON columns in and out through msgspec: a round's export decodes one small column per request and proposal,
thousands in a facility round, where `json.loads` costs several times as much per value."""


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets its private folder and file, WAL, foreign keys and a busy timeout."""
    if not is_sqlite(url):
        engine = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=0, **JSON_CODEC)
        event.listen(engine.sync_engine, "checkout", _closed_by_the_server)
        event.listen(engine.sync_engine, "handle_error", _note_lost_connection)
        event.listen(engine.sync_engine, "handle_error", _note_transient_conflict)
        return engine
    private_sqlite_database(url)
    engine = create_async_engine(url, connect_args={"timeout": 30}, **JSON_CODEC)
    event.listen(engine.sync_engine, "do_connect", _one_trip_per_statement)

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


_T = TypeVar("_T")
_CHANGES = frozenset({"INSERT", "UPDATE", "DELETE", "REPLAC"})
"""The first six letters of the statements that change rows (and so take SQLite's write lock)."""
IN_PLACE_SLICE = 0.005
"""Seconds of SQLite statements run in place (`_OneTripConnection.trip`) before the event loop runs other work."""


def _one_trip_per_statement(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
    """SQLite connections whose statements each take one trip to the connection's thread (`_OneTripConnection`)."""
    return dialect.dbapi.connect(*cargs, async_creator_fn=_one_trip_connection, **cparams)


async def _one_trip_connection(database: str, **options: Any) -> aiosqlite.Connection:
    # The cursors are made and closed on the event loop's thread, which SQLite allows (serialized mode).
    options = options | {"check_same_thread": False}
    connection = _OneTripConnection(lambda: sqlite3.connect(database, **options), 64)
    connection._thread.daemon = True  # as SQLAlchemy's aiosqlite dialect makes its own connections' threads
    return await connection


class _OneTripConnection(aiosqlite.Connection):
    """aiosqlite's connection, whose cursors execute a statement and fetch its rows in one trip to the thread (none
    once it holds the write lock: `trip`).

    aiosqlite sends each call to the connection's thread and back: SQLAlchemy makes a cursor, executes, fetches
    and closes it, four trips per statement, each a thread hand-off of the GIL and a wake-up of the event loop.
    Making and closing a cursor does no I/O and fetching what was just executed can be done in the same trip,
    which halves the process's CPU per statement (BENCHMARKS.md, "Writes and faults"); a commit or rollback with no
    transaction open (sqlite3 begins one only before a change) takes no trip at all.
    """

    _others_ran = 0.0
    """When the event loop last ran other work while this connection's statements waited (`time.perf_counter`)."""
    _changed = False
    """Whether the open transaction has run a change, and so holds the database's write lock until it ends."""

    def cursor(self) -> Any:
        return _OneTripCursor(self, self._conn.cursor())

    def holds_write_lock(self) -> bool:
        if not self._conn.in_transaction:
            self._changed = False
        return self._changed

    async def trip(self, function: Callable[[], _T], *, changes: bool = False) -> _T:
        """`function` run on the connection's thread; in place once the connection holds the write lock.

        Holding it (its transaction ran a change: `changes`), no statement waits for a lock (WAL: reads never do),
        so it runs on the event loop's thread without two thread hand-offs. That shortens a write's turn
        (`api.database`), which sets SQLite's write throughput. The event loop runs other work at least every
        `IN_PLACE_SLICE` seconds, so a long transaction (an import) does not hold it. The statement that takes the
        lock, which may wait for it, and the commit, which syncs the file, go to the thread.
        """
        if self.holds_write_lock():
            result = function()
            if time.perf_counter() - self._others_ran < IN_PLACE_SLICE:
                return result
            await asyncio.sleep(0)
        else:
            result = await self._execute(function)  # type: ignore[no-untyped-call]
        self._changed = self._changed or (changes and self._conn.in_transaction)
        self._others_ran = time.perf_counter()
        return result

    async def commit(self) -> None:
        """No trip when there is nothing to commit (sqlite3 would do nothing): a read began no transaction."""
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        """No trip when there is nothing to roll back, as after every commit when the pool takes the connection back."""
        if self._conn.in_transaction:
            await super().rollback()


class _OneTripCursor:
    """The cursor SQLAlchemy's aiosqlite adapter drives: rows fetched with the statement, the rest done in place."""

    def __init__(self, connection: _OneTripConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor
        self._rows: list[Any] = []

    async def __aenter__(self) -> _OneTripCursor:
        return self

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> _OneTripCursor:
        cursor = self._cursor

        def run() -> list[Any]:
            cursor.execute(sql, parameters)
            return cursor.fetchall() if cursor.description else []

        self._rows = await self._connection.trip(run, changes=sql.lstrip()[:6].upper() in _CHANGES)
        return self

    async def executemany(self, sql: str, parameters: Sequence[Any]) -> _OneTripCursor:
        self._rows = []
        cursor = self._cursor
        await self._connection.trip(lambda: cursor.executemany(sql, parameters), changes=True)
        return self

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """Streamed results (`stream_results`) come in parts from the rows fetched with the statement."""
        size = size or self._cursor.arraysize
        taken, self._rows = self._rows[:size], self._rows[size:]
        return taken

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


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
