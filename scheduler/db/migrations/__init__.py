"""The database schema's history (Alembic), applied from code at start-up, from the CLI and in tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """A configuration without alembic.ini, so an installed package migrates too; it leaves logging alone."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    config.attributes["configure_logger"] = False
    return config


def upgrade_database(url: str) -> None:
    """Brings the database at `url` to the newest schema; a no-op when it is there already.

    It runs its own event loop: from async code, call it in a thread (`await asyncio.to_thread(...)`).
    """
    command.upgrade(alembic_config(url), "head")
