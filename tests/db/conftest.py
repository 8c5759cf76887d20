"""Databases with no tables at all: the shared fixtures create theirs without migrations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.db.databases import empty_public_schema, run_sync


@pytest.fixture
def empty_postgres(postgres_url: str) -> Iterator[str]:
    run_sync(postgres_url, empty_public_schema)
    yield postgres_url
    run_sync(postgres_url, empty_public_schema)
