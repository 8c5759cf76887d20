"""Schemathesis against the app's own OpenAPI schema, in process: the contract clients generate from holds.

Every operation is called with generated parameters and bodies in all of
schemathesis' phases (the schema's examples, the coverage phase's boundary and
negative values, random fuzzing) as an admin (who may do everything, so requests
reach the deepest code), a coordinator of the round's facilities, a proposer who
owns its proposals, and signed out. Each answer must be no server error, have a
documented status code and content type, match its documented schema, reject
what the schema forbids and accept what it allows.

The database is SQLite with the spec's example round and a published schedule of
it, and half of the generated ids are turned into small ones, so that many
requests name things that exist rather than getting 404 at once. The stateful
phase is off: the schema has no OpenAPI links to chain operations by.
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
from schemathesis.checks import (
    CheckContext,
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.hooks import HookContext
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.schemas import BaseSchema

from api.app import create_app
from scheduler.accounts.credentials import NOT_YOUR_PASSWORD
from scheduler.accounts.service import ONLY_COORDINATORS_HAVE_FACILITIES
from scheduler.accounts.tokens import issue_token
from scheduler.catalogue.schemas import END_AFTER_START
from scheduler.db.engine import create_engine, session_maker
from scheduler.fields import FIRST_YEAR, LAST_YEAR, MAX_INT
from scheduler.jobs import enqueue_solve
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation
from scheduler.rounds.importer import import_round
from scheduler.schedules.service import MOVED_ONCE
from tests.api_helpers import api_client, api_settings, login, make_user
from tests.schedules.test_api_schedules import EXAMPLE, SOLVED

EXAMPLES_PER_OPERATION = 2
SIGNED_OUT_EXAMPLES = 2
EXISTING_IDS = 3
FIRST_TOKEN_VERSION = 0
"""A new account's: its tokens hold until it signs out or is changed."""
"""Ids 1 to 3 exist for every kind of thing the example round has (or lead to one that does)."""
UNEXPRESSIBLE = (
    END_AFTER_START,
    "the round ends at or before its start",
    "grade_best and grade_worst must differ",
    "a category has exactly one key",
    f"the year must be between {FIRST_YEAR} and {LAST_YEAR}",
    ONLY_COORDINATORS_HAVE_FACILITIES,
    NOT_YOUR_PASSWORD,
    "no facility with code",
    "a quota needs min_share, max_share or both",
    "a request cannot come after itself",
    "unknown instrument",
    "unknown request",
    "is not an active reviewer",
    "is not in the round",
    MOVED_ONCE,
)
"""The rules JSON Schema cannot state, so a request valid by the schema may break them: one field against
another (a window's end after its start, a scale's two ends, a quota category's one key, a user's facilities
against their role), a range of date-times (`format: date-time` has no bounds), and what only the stored state
decides (the caller's current password, codes naming a facility, an instrument, a reviewer or a request that
exist). Their fields' descriptions say them; a 422 naming only these is not a schema-valid request rejected."""


CROSS_REFERENCED_BODIES = frozenset(
    {
        "POST /rounds/import",
        "PUT /rounds/{round_id}/import",
        "POST /rounds/{round_id}/proposals",
        "PUT /proposals/{proposal_id}",
    }
)
"""Round files and proposal contents, whose ids refer to one another and to the round (links naming requests,
requests naming instruments and equipment, pins naming requests): the round file's own checks judge them, which a
schema cannot; a 422 from those checks is not a schema-valid request rejected."""


def negative_data_rejection_but_null(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """`negative_data_rejection`, except for a JSON `null` sent as an optional body (a solve's options): the server
    reads it as no body, as the operation's description says, rather than as a body of the wrong type. A 413 (a
    body over the route's documented limit, refused before it is read: an array past its `maxItems` may be) is a
    rejection as much as a 422, which schemathesis does not count as one."""
    optional = not case.operation.definition.raw.get("requestBody", {}).get("required", True)
    if optional and response.request.body == b"null":
        return None
    if response.status_code == 413:
        return None
    return negative_data_rejection(ctx, response, case)


def positive_data_acceptance_but_unexpressible(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """`positive_data_acceptance`, except for a 422 whose every problem is one of `UNEXPRESSIBLE`, and a 412: an
    `If-Match` naming a version the thing is no longer at is the state's answer, as a 409 is."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if response.status_code == 412:
            return None
        if response.status_code == 422 and f"{case.method} {case.path}" in CROSS_REFERENCED_BODIES:
            return None
        errors = response.json().get("errors", []) if response.status_code == 422 else []
        if errors and all(any(rule in error["message"] for rule in UNEXPRESSIBLE) for error in errors):
            return None
        raise


CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection_but_null,
    positive_data_acceptance_but_unexpressible,
]

_database = tempfile.TemporaryDirectory(prefix="beamtime-schemathesis-")
SETTINGS = api_settings(f"sqlite+aiosqlite:///{Path(_database.name) / 'beamtime.db'}")
APP = create_app(SETTINGS)


@pytest.fixture(scope="module")
def user_ids() -> dict[str, int]:
    """Fills the database the app was started on."""
    return asyncio.run(_fill(SETTINGS.database_url))


@pytest.fixture(scope="module", params=["admin", "coordinator", "proposer"])
def signed_in_as(request: pytest.FixtureRequest, user_ids: dict[str, int]) -> dict[str, str]:
    user_id = user_ids[str(request.param)]
    return {"Authorization": f"Bearer {issue_token(user_id, FIRST_TOKEN_VERSION, settings=SETTINGS)}"}


async def _fill(url: str) -> dict[str, int]:
    """The example round with a published schedule, a proposer owning its proposals, a queued solve; user ids."""
    previous = [PreviousAllocation(request=r, instrument=i, start_shift=s, shifts=n) for r, i, s, n in SOLVED]
    round_file = load_round(EXAMPLE).model_copy(update={"previous_schedule": previous})
    engine = create_engine(url)
    sessions = session_maker(engine)
    try:
        users = {
            "admin": await make_user(sessions, "admin", "admin@example.org"),
            "proposer": await make_user(sessions, "proposer", "proposer@example.org"),
        }
        async with sessions.begin() as session:
            round_id = await import_round(session, round_file, owner_id=users["proposer"])
            await enqueue_solve(session, round_id, requested_by=users["admin"], time_limit=1.0, workers=1, seed=0)
        users["coordinator"] = await make_user(
            sessions, "coordinator", "coordinator@example.org", facility_codes=["SKIF", "PIK"]
        )
    finally:
        await engine.dispose()
    return users


def flatmap_path_parameters(
    context: HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """The generated parameters, or the same with every valid id made small enough to exist (an id out of
    range stays out of range: it is what a negative case is about)."""
    if not path_parameters:
        return st.just(path_parameters)
    existing = {
        name: value % EXISTING_IDS + 1 if isinstance(value, int) and 1 <= value <= MAX_INT else value
        for name, value in path_parameters.items()
    }
    return st.sampled_from([path_parameters, existing])


def _schema(phases: dict[str, Any]) -> BaseSchema:
    """Loaded when the tests are collected, making one test per operation; the app starts and migrates then.

    (`schemathesis.pytest.from_fixture` would load it in a fixture instead, but it fails on pytest 9.)"""
    config = SchemathesisConfig.from_dict({"seed": 0, "phases": phases})
    loaded = schemathesis.openapi.from_asgi("/schema/openapi.json", APP, config=config)
    loaded.hook(flatmap_path_parameters)
    return loaded


ALL_PHASES = {
    "examples": {"enabled": True},
    "coverage": {"enabled": True},
    "fuzzing": {"enabled": True},
    "stateful": {"enabled": False},
}
signed_in = _schema(ALL_PHASES)
signed_out = _schema(ALL_PHASES | {"coverage": {"enabled": False}})
"""Signed out, all but signing in and the calendar feed are refused before the body is read: no boundary values."""


BOUNDED = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _leaves_out_the_token(case: Case) -> bool:
    """A negative case without `Authorization` on purpose: sending the role's token would make it a valid one."""
    data = case.meta.phase.data if case.meta else None
    mutated = {getattr(data, "parameter", None), *(m.parameter for m in getattr(data, "mutations", ()))}
    return any(name is not None and name.lower() == "authorization" for name in mutated)


@signed_in.parametrize()
@BOUNDED
def test_the_contract_holds_for_each_role(case: Case, signed_in_as: dict[str, str]) -> None:
    case.call_and_validate(headers={} if _leaves_out_the_token(case) else signed_in_as, checks=CONFORMANCE)


@signed_out.parametrize()
@settings(BOUNDED, max_examples=SIGNED_OUT_EXAMPLES)
@pytest.mark.usefixtures("user_ids")
def test_the_contract_holds_signed_out(case: Case) -> None:
    case.call_and_validate(checks=CONFORMANCE)


async def test_who_may_not_use_an_operation_learns_nothing_of_its_body(database_url: str) -> None:
    engine = create_engine(database_url)
    sessions = session_maker(engine)
    async with sessions.begin() as session:
        await import_round(session, load_round(EXAMPLE))
    await make_user(sessions, "proposer", "proposer@example.org")
    await make_user(sessions, "coordinator", "skif@example.org", facility_codes=["SKIF"])
    await engine.dispose()

    async with api_client(database_url) as client:
        proposer = await login(client, "proposer@example.org")
        coordinator = await login(client, "skif@example.org")
        json = {"content-type": "application/json"}
        refused = [
            await client.post("/schedules/1/publish", content=b'{"not": "JSON', headers=proposer | json),
            await client.post("/rounds", json={"unknown": 1}, headers=proposer),
            await client.put("/proposals/1/feasibility", json=[], headers=proposer),
            await client.post("/facilities", json={"code": ""}, headers=coordinator),
        ]
        without_body = await client.post("/schedules/1/publish", headers=coordinator)

    for response in refused:
        assert response.status_code == 403, (response.request.url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "errors" not in response.json()
    assert without_body.status_code == 422, without_body.text
    assert without_body.json()["errors"] == [{"path": "$.expected_revision", "message": "required key is missing"}]
