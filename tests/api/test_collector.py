"""The server's cycle collector: after start-up it runs as seldom as `beamtime solve`'s, so the ~330,000 objects of a
facility round's first page view are not walked again and again (BENCHMARKS.md, dashboard)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from scheduler.cli import ALLOCATIONS_PER_COLLECTION
from tests.api_helpers import api_settings


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """The test process's own thresholds and frozen objects back afterwards."""
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


async def test_a_started_server_collects_cycles_after_its_allocations_threshold(
    database_url: str, collector_restored: None
) -> None:
    gc.set_threshold(700, 10, 10)
    async with AsyncTestClient(app=create_app(api_settings(database_url), start_worker=False, migrate=False)):
        assert gc.get_threshold()[0] == ALLOCATIONS_PER_COLLECTION
