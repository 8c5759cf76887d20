"""The database for the API: advanced-alchemy's Litestar plugin on our engine, one transaction per request.

The plugin provides `db_session` and closes it; the commit rule is ours. Its own
autocommit handler commits a 2xx and rolls back the rest, as we do, but a commit
that fails is only logged at debug level and the client still hears of success;
here the failure propagates, so the client gets a 500 and the transaction, rolled
back by the database, changed nothing.

A connection the database dropped (a restart, a failover, `pg_terminate_backend`)
costs nobody an error: the engine replaces pooled connections the server has
closed before handing them out (`scheduler.db.engine`), and a request whose
connection is lost while it runs is answered again, once, on a new connection —
its transaction died with the connection, so nothing of the first try was kept.
While the database cannot be reached at all, requests answer 503 at once.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import structlog
from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig, SQLAlchemyInitPlugin
from advanced_alchemy.extensions.litestar._utils import delete_aa_scope_state, get_aa_scope_state, set_aa_scope_state
from litestar import Request, Response
from litestar.config.app import AppConfig
from litestar.constants import HTTP_RESPONSE_START
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ASGIApp, BeforeMessageSendHookHandler, ExceptionHandlersMap, Message, Receive, Scope, Send
from litestar.types.empty import Empty
from litestar.utils.scope.state import ScopeState
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.problems import problem
from scheduler.db.engine import (
    Tally,
    is_sqlite,
    note_lost_connection,
    noting_lost_connections,
    noting_transient_conflicts,
)

SESSION_ENDS = {HTTP_RESPONSE_START, "http.disconnect"}
SAFE_METHODS = frozenset({"GET", "HEAD"})
RETRY_AFTER = {"Retry-After": "1"}

log = structlog.get_logger(__name__)


def _commit_when_answered(session_scope_key: str) -> BeforeMessageSendHookHandler:
    """Commits when the answer is a success or a redirect, rolls back otherwise; a failed commit is raised.

    Handlers report errors by raising (the problem-details handlers turn exceptions into
    error responses), so a failed request is rolled back whatever stage it failed at.
    """

    async def handler(message: Message, scope: Scope) -> None:
        if message["type"] not in SESSION_ENDS:
            return
        session: AsyncSession | None = get_aa_scope_state(scope, session_scope_key)
        if session is None:
            return
        delete_aa_scope_state(scope, session_scope_key)
        try:
            if message["type"] == HTTP_RESPONSE_START and 200 <= message["status"] < 400:
                await session.commit()
            else:
                await session.rollback()
        finally:
            await session.close()
            _end_turn(scope)

    return handler


_TURN_KEY = "_beamtime_write_turn"
OUTSIDE_WRITE_TURNS = "outside_write_turns"
"""A route handler's `opt` key: its writes take no turn on PostgreSQL (`_WriteTurns`)."""


class _WriteTurns:
    """Requests that may write take turns in the process, in arrival order: a few at a time hold a session, from the
    moment the handler asks for one (after its body was read) until its transaction ends. Reads (GET, HEAD) never
    wait.

    SQLite: one at a time. It has one writer at a time anyway; a transaction that read before another committed
    cannot write after it (its snapshot is stale), and one waiting on the database's lock sleeps in steps. Taking
    turns here makes each write request's checks and writes one serial step, and the waits short.

    PostgreSQL: `Settings.write_transactions_at_once`. Its writes lock the rows they check
    (`scheduler.db.repository`), and a transaction that holds a lock waits for the event loop at each of its
    statements: with every write of 64 clients running at once, the loop turned between them, each held the
    round's row longer, and the slowest write waited about twice as long as the mean (BENCHMARKS.md). Routes
    marked `OUTSIDE_WRITE_TURNS` (a round file's import, seconds long) take no turn there, so the short writes
    never queue behind them.
    """

    def __init__(self, config: SQLAlchemyAsyncConfig, at_once: int, serial: bool) -> None:
        self.config = config
        self.lock = asyncio.Semaphore(at_once)
        self.serial = serial

    async def provide_session(self, state: State, scope: Scope) -> AsyncSession:
        key = self.config.session_scope_key
        outside = not self.serial and scope["route_handler"].opt.get(OUTSIDE_WRITE_TURNS, False)
        if scope.get("method") not in SAFE_METHODS and not outside and get_aa_scope_state(scope, key) is None:
            await self.lock.acquire()
            set_aa_scope_state(scope, _TURN_KEY, self.lock)
        return self.config.provide_session(state, scope)


def _end_turn(scope: Scope) -> None:
    """Lets the next write request in; called when the request's transaction ends, and when the request does."""
    lock: asyncio.Semaphore | None = get_aa_scope_state(scope, _TURN_KEY, pop=True)
    if lock is not None:
        lock.release()


def _turn_ends_with_request() -> DefineMiddleware:
    """A request that ended without its session's end (an error before any answer) gives back its turn."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await app(scope, receive, send)
            finally:
                _end_turn(scope)

        return middleware

    return DefineMiddleware(wrap)


def _lost_connection(request: Request[Any, Any, Any], error: DBAPIError) -> Response[dict[str, Any]]:
    """503 for a connection that died under the request twice (`_ask_again_on_lost_connection` hides the first);
    500 for any other error the database reported that nothing more specific answered."""
    if error.connection_invalidated:
        log.warning("database connection lost", method=request.method, path=request.url.path, error=str(error.orig))
        note_lost_connection()
        return problem(
            request, HTTP_503_SERVICE_UNAVAILABLE, "the database connection was lost: try again", headers=RETRY_AFTER
        )
    log.error("database error", method=request.method, path=request.url.path, exc_info=error)
    return problem(request, HTTP_500_INTERNAL_SERVER_ERROR, "an internal error; it has been logged")


def _is_lost(error: BaseException | None) -> bool:
    """Whether a lost connection is what `error` is, or what it was raised from."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _unreachable(request: Request[Any, Any, Any], error: ConnectionError) -> Response[dict[str, Any]]:
    """The database refused or reset a new connection: it is down or restarting. Said at once, without a traceback."""
    log.warning("database unreachable", method=request.method, path=request.url.path, error=str(error))
    return problem(
        request, HTTP_503_SERVICE_UNAVAILABLE, "the database is not reachable: try again", headers=RETRY_AFTER
    )


DATABASE_ERRORS: ExceptionHandlersMap = {DBAPIError: _lost_connection, ConnectionError: _unreachable}
"""Register on the app: database failures that are nobody's fault answer 503 with `Retry-After`."""


def _ask_again_on_lost_connection(session_scope_key: str) -> DefineMiddleware:
    """Runs a request a second time when the database dropped its connection under it, and nobody hears the first.

    The first try's transaction died with its connection, so nothing of it was kept; its answer (whatever the error
    became on its way up) is held back, its session dropped (the commit hook never saw the answer) and the second
    try gets a new session on a new connection. A read whose commit met the loss is asked again too; a write's
    commit that met it may have been kept, so that one is answered (503). The body was read once and is kept in
    the scope, so the second try reads the same. A loss in the second try is answered.
    """

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            held = sent = False

            async def unless_lost(message: Message) -> None:
                nonlocal held, sent
                if message["type"] == HTTP_RESPONSE_START and losses.count and not sent:
                    held = True
                if held:
                    return
                try:
                    await send(message)
                except DBAPIError as error:
                    read = message["type"] == HTTP_RESPONSE_START and scope["method"] in SAFE_METHODS
                    if error.connection_invalidated and read:
                        held = True
                        return
                    sent = True
                    if error.connection_invalidated:
                        # A write's commit met the loss: it may have been kept, so it is answered (503), not asked
                        # again; nothing has reached the client yet.
                        ScopeState.from_scope(scope).response_started = False
                    raise
                sent = True

            with noting_lost_connections() as losses:
                try:
                    await app(scope, receive, unless_lost)
                except Exception as error:  # raised before any handler answered: by a middleware (authentication)
                    if sent or not (losses.count or _is_lost(error)):
                        raise
                    held = True
            if not held:
                return
            log.info("asked again after a lost connection", method=scope["method"], path=scope["path"])
            session: AsyncSession | None = get_aa_scope_state(scope, session_scope_key, pop=True)
            if session is not None:
                await session.invalidate()  # no rollback over the lost connection
            state = ScopeState.from_scope(scope)
            state.response_started = False
            state.dependency_cache = Empty
            await app(scope, receive, send)

        return middleware

    return DefineMiddleware(wrap)


TRIES_ON_CONFLICT = 3
"""Tries of a request whose transaction the database aborted for a transient conflict (`is_transient`)."""


def _again_after_transient_conflict(session_scope_key: str) -> DefineMiddleware:
    """Runs a request again, after a short random pause, when the database aborted its transaction for a deadlock or
    a serialization failure (or SQLite's write lock stayed taken) and it answered an error; nobody hears that try.

    The aborted transaction kept nothing: its session is closed (rolled back) and the next try gets a new one; the
    body was read once and is kept in the scope. When `TRIES_ON_CONFLICT` tries ran out, the answer is 503 with
    Retry-After, never the 500 or 409 the conflict became on its way up.
    """

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            for attempt in range(1, TRIES_ON_CONFLICT + 1):
                with noting_transient_conflicts() as conflicts:
                    answered = await _try(app, scope, receive, send, conflicts)
                if answered:
                    return
                session: AsyncSession | None = get_aa_scope_state(scope, session_scope_key, pop=True)
                if session is not None:
                    await session.close()
                state = ScopeState.from_scope(scope)
                state.response_started = False
                state.dependency_cache = Empty
                log.info("asked again after a transient conflict", method=scope["method"], path=scope["path"])
                if attempt < TRIES_ON_CONFLICT:
                    await asyncio.sleep(random.uniform(0.005, 0.05) * attempt)
            await _busy(scope, send)

        return middleware

    return DefineMiddleware(wrap)


async def _try(app: ASGIApp, scope: Scope, receive: Receive, send: Send, conflicts: Tally) -> bool:
    """Runs the request once; False, and nothing sent, when it answered an error after a transient conflict."""
    held = False

    async def unless_conflicted(message: Message) -> None:
        nonlocal held
        if message["type"] == HTTP_RESPONSE_START and message["status"] >= 400 and conflicts.count:
            held = True
        if not held:
            await send(message)

    await app(scope, receive, unless_conflicted)
    return not held


async def _busy(scope: Scope, send: Send) -> None:
    """503 as problem details, with Retry-After: the database kept aborting this request for others' changes."""
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": HTTP_503_SERVICE_UNAVAILABLE,
            "detail": "the database was busy with conflicting changes: try again",
            "instance": scope["path"],
        }
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", RETRY_AFTER["Retry-After"].encode()),
    ]
    await send({"type": HTTP_RESPONSE_START, "status": HTTP_503_SERVICE_UNAVAILABLE, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _DatabasePlugin(SQLAlchemyInitPlugin):
    """The init half of advanced-alchemy's `SQLAlchemyPlugin` (answers are pydantic models, so no serialization half).

    Its signature namespace names SQLAlchemy's synchronous `Session`, which would take the place of
    our `api.params.Session` in every handler's annotations; we have no synchronous sessions.
    """

    def __init__(self, config: SQLAlchemyAsyncConfig, writes_at_once: int) -> None:
        super().__init__(config=config)
        self.writes_at_once = writes_at_once

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config = super().on_app_init(app_config)
        del app_config.signature_namespace["Session"]
        # Outermost, so that the account check of the authentication middleware is asked again too.
        app_config.middleware.insert(0, _ask_again_on_lost_connection(self.config[0].session_scope_key))
        app_config.middleware.insert(1, _again_after_transient_conflict(self.config[0].session_scope_key))
        config = self.config[0]
        assert isinstance(config, SQLAlchemyAsyncConfig), "the plugin is made with an async configuration"
        serial = is_sqlite(str(config.get_engine().url))
        turns = _WriteTurns(config, 1 if serial else self.writes_at_once, serial)
        app_config.dependencies[config.session_dependency_key] = Provide(turns.provide_session)
        app_config.middleware.insert(2, _turn_ends_with_request())  # inside: each try gives its turn back
        return app_config


def database_plugin(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], writes_at_once: int
) -> SQLAlchemyInitPlugin:
    """`db_session` for handlers, from the engine of `scheduler.db.engine` (SQLite WAL, pool sizes) and its sessions;
    write requests take turns (`_WriteTurns`), `writes_at_once` at a time on PostgreSQL.

    The plugin's lifespan disposes of the engine at shutdown.
    """
    config = SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_maker=sessions,
        session_dependency_key="db_session",
        set_default_exception_handler=False,
    )
    config.before_send_handler = _commit_when_answered(config.session_scope_key)
    return _DatabasePlugin(config, writes_at_once)
