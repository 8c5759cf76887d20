"""The database for the API: advanced-alchemy's Litestar plugin on our engine, one transaction per request.

The plugin provides `db_session` and closes it; the commit rule is ours. Its own
autocommit handler commits a 2xx and rolls back the rest, as we do, but a commit
that fails is only logged at debug level and the client still hears of success;
here the failure propagates, so the client gets a 500 and the transaction, rolled
back by the database, changed nothing.
"""

from __future__ import annotations

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig, SQLAlchemyInitPlugin
from advanced_alchemy.extensions.litestar._utils import delete_aa_scope_state, get_aa_scope_state
from litestar.config.app import AppConfig
from litestar.constants import HTTP_RESPONSE_START
from litestar.types import BeforeMessageSendHookHandler, Message, Scope
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

SESSION_ENDS = {HTTP_RESPONSE_START, "http.disconnect"}


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

    return handler


class _DatabasePlugin(SQLAlchemyInitPlugin):
    """The init half of advanced-alchemy's `SQLAlchemyPlugin` (answers are pydantic models, so no serialization half).

    Its signature namespace names SQLAlchemy's synchronous `Session`, which would take the place of
    our `api.params.Session` in every handler's annotations; we have no synchronous sessions.
    """

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config = super().on_app_init(app_config)
        del app_config.signature_namespace["Session"]
        return app_config


def database_plugin(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> SQLAlchemyInitPlugin:
    """`db_session` for handlers, from the engine of `scheduler.db.engine` (SQLite WAL, pool sizes) and its sessions.

    The plugin's lifespan disposes of the engine at shutdown.
    """
    config = SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_maker=sessions,
        session_dependency_key="db_session",
        set_default_exception_handler=False,
    )
    config.before_send_handler = _commit_when_answered(config.session_scope_key)
    return _DatabasePlugin(config=config)
