"""Alembic's entry: migrates the database of `-x url=…`, of the caller's `url` attribute, or DATABASE_URL.

Engines are async (aiosqlite, asyncpg), so the migrations run on a sync view of
an async connection (`run_sync`). SQLite alters tables by copying them, hence
batch mode there.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from pathlib import Path
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from scheduler.db import tables  # noqa: F401  (registers the tables)
from scheduler.db.types import UTCDateTime
from scheduler.settings import get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url: str | None = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    return url or get_settings().database_url


def render_item(type_: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Migrations stay independent of the app's modules: UTCDateTime is written as the column type it stores."""
    if type_ == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure(**options: Any) -> None:
    context.configure(
        target_metadata=SQLModel.metadata,
        render_as_batch=make_url(database_url()).get_backend_name() == "sqlite",
        render_item=render_item,
        compare_type=True,
        **options,
    )


def run_offline() -> None:
    configure(url=database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def migrate(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    url = make_url(database_url())
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
