"""Who is asking: the JWT bearer token, read once per request, and role guards.

The token is the whole authentication: no database read per request, so that an
authenticated GET costs no more than its own query.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.types import Guard

from scheduler.accounts.service import Claims, InvalidTokenError, Role, decode_token
from scheduler.settings import Settings

_CLAIMS_KEY = "beamtime.claims"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def authenticated(connection: ASGIConnection[Any, Any, Any, Any]) -> Claims:
    """The caller's claims, or 401; decoded once per request however many guards and dependencies ask."""
    request_state = connection.scope["state"]
    claims = request_state.get(_CLAIMS_KEY)
    if isinstance(claims, Claims):
        return claims
    scheme, _, token = (connection.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException(
            "sign in first: send `Authorization: Bearer <token>` from POST /auth/login", headers=_CHALLENGE
        )
    settings: Settings = connection.app.state.settings
    try:
        claims = decode_token(token.strip(), settings=settings)
    except InvalidTokenError:
        raise NotAuthorizedException("the token is invalid or has expired: sign in again", headers=_CHALLENGE) from None
    request_state[_CLAIMS_KEY] = claims
    return claims


async def provide_current_user(request: Request[Any, Any, Any]) -> Claims:
    return authenticated(request)


def requires_role(*roles: Role) -> Guard:
    """A guard for endpoints that only some roles may ever use: 403 for the others (401 when signed out)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if authenticated(connection).role not in roles:
            raise PermissionDeniedException(f"only {' or '.join(roles)} users may do this")

    return guard
