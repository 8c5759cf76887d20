"""Databases with no tables at all: the shared fixtures create theirs without migrations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.db.databases import empty_public_schema, run_sync


@pytest.fixture
def empty_postgres(postgres_url: str) -> Iterator[str]:
    run_sync(postgres_url, empty_public_schema)
    yield postgres_url
    run_sync(postgres_url, empty_public_schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, for a migration to build."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'beamtime.db'}"
        return
    yield request.getfixturevalue("empty_postgres")
