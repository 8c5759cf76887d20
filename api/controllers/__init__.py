"""HTTP endpoints, one controller per resource: they parse, call `scheduler`, and answer in schemas."""

from __future__ import annotations

from typing import Any

from litestar import Controller
from litestar.connection import ASGIConnection
from litestar.datastructures import ResponseHeader
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.types import Guard

from api.auth import CHALLENGE, requires_role
from scheduler import access
from scheduler.access import Answer, Facts, Operation
from scheduler.accounts.schemas import Claims

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
"""The OpenAPI security requirement of every endpoint that needs a token."""

LOCATION = ResponseHeader(
    name="Location", description="The address of what was created.", required=True, documentation_only=True
)
"""Documents the `Location` of a 201 (or of a 202's job), which the handler sets itself."""


class SignedIn(Controller):
    """Endpoints for signed-in callers only: the OpenAPI document asks each for the bearer token."""

    security = BEARER


class AdminsOnly(SignedIn):
    """Endpoints no role but admin may ever use."""

    guards = (requires_role("admin"),)


COORDINATORS = requires_role("admin", "coordinator")
"""A guard for what only the people who run rounds use: coordinators (the service checks whose round) and admins."""


def permits(operation: Operation) -> Guard:
    """Asks the access policy before the body is read (guards run before Litestar parses `data`): a caller whom
    the policy refuses `operation` on anything at all gets 403 (404 where it hides the thing) and learns nothing
    of the body's shape. The service still decides for the thing named, with its real facts."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        actor = connection.scope.get("user")
        if not isinstance(actor, Claims):
            raise NotAuthorizedException("sign in first", headers=CHALLENGE)
        answer = access.decide(actor, operation, _best_case(actor))
        if answer is Answer.HIDE:
            raise NotFoundException("not found")
        if answer is Answer.FORBID:
            raise PermissionDeniedException(f"your account may not do `{operation.value}` at all")

    return guard


def _best_case(actor: Claims) -> Facts:
    """Facts of a thing as favourable to the actor as any can be: theirs, of their facilities, assigned to them."""
    return Facts(
        facilities=actor.facilities,
        asks_for=actor.facilities,
        owner_id=actor.user_id,
        reviewers=frozenset({actor.user_id}),
        subject_id=actor.user_id,
    )
