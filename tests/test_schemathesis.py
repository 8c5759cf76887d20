"""Schemathesis against the app's own OpenAPI schema, in process: no request gets a server error (5xx).

Every operation is called with generated parameters and bodies, signed in as an
admin (who may do everything, so requests reach the deepest code) and signed out.
The database is SQLite with the spec's example round and a published schedule of
it, and half of the generated ids are turned into small ones, so that many
requests name things that exist rather than getting 404 at once.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.hooks import HookContext
from schemathesis.schemas import BaseSchema

from api.app import create_app
from scheduler.accounts.tokens import issue_token
from scheduler.db.engine import create_engine, session_maker
from scheduler.jobs import enqueue_solve
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation
from scheduler.rounds.importer import import_round
from tests.api_helpers import api_settings, make_user
from tests.test_api_schedules import EXAMPLE, SOLVED

EXAMPLES_PER_OPERATION = 6
SIGNED_OUT_EXAMPLES = 3
EXISTING_IDS = 3
"""Ids 1 to 3 exist for every kind of thing the example round has (or lead to one that does)."""

_database = tempfile.TemporaryDirectory(prefix="beamtime-schemathesis-")
SETTINGS = api_settings(f"sqlite+aiosqlite:///{Path(_database.name) / 'beamtime.db'}")
APP = create_app(SETTINGS)


@pytest.fixture(scope="module")
def admin_id() -> int:
    """Fills the database the app was started on."""
    return asyncio.run(_fill(SETTINGS.database_url))


@pytest.fixture(scope="module")
def admin(admin_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(admin_id, 'admin', settings=SETTINGS)}"}


async def _fill(url: str) -> int:
    """The example round with a published schedule, a proposer owning its proposals, a queued solve; the admin's id."""
    previous = [PreviousAllocation(request=r, instrument=i, start_shift=s, shifts=n) for r, i, s, n in SOLVED]
    round_file = load_round(EXAMPLE).model_copy(update={"previous_schedule": previous})
    engine = create_engine(url)
    sessions = session_maker(engine)
    try:
        admin_id = await make_user(sessions, "admin", "admin@example.org")
        proposer_id = await make_user(sessions, "proposer", "proposer@example.org")
        async with sessions.begin() as session:
            round_id = await import_round(session, round_file, owner_id=proposer_id)
            await enqueue_solve(session, round_id, requested_by=admin_id, time_limit=1.0, workers=1, seed=0)
    finally:
        await engine.dispose()
    return admin_id


def flatmap_path_parameters(
    context: HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """The generated parameters, or the same with every id made small enough to exist."""
    if not path_parameters:
        return st.just(path_parameters)
    existing = {
        name: value % EXISTING_IDS + 1 if isinstance(value, int) else value for name, value in path_parameters.items()
    }
    return st.sampled_from([path_parameters, existing])


def _schema(phases: dict[str, Any]) -> BaseSchema:
    """Loaded when the tests are collected, making one test per operation; the app starts and migrates then.

    (`schemathesis.pytest.from_fixture` would load it in a fixture instead, but it fails on pytest 9.)"""
    config = SchemathesisConfig.from_dict({"seed": 0, "phases": phases})
    loaded = schemathesis.openapi.from_asgi("/schema/openapi.json", APP, config=config)
    loaded.hook(flatmap_path_parameters)
    return loaded


signed_in = _schema({})
signed_out = _schema({"coverage": {"enabled": False}})
"""Signed out, all but signing in and the calendar feed are refused before the body is read: no boundary values."""


BOUNDED = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@signed_in.parametrize()
@BOUNDED
def test_no_request_of_an_admin_gets_a_server_error(case: Case, admin: dict[str, str]) -> None:
    case.call_and_validate(headers=admin, checks=[not_a_server_error])


@signed_out.parametrize()
@settings(BOUNDED, max_examples=SIGNED_OUT_EXAMPLES)
@pytest.mark.usefixtures("admin_id")
def test_no_request_of_someone_signed_out_gets_a_server_error(case: Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])
