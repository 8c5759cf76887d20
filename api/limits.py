"""How much one request may send, and how often a client that has not signed in may ask.

Litestar reads a body whole before parsing it on the event loop, and keeps each
distinct form body in a cache: an unbounded body is a way to stall every other
request. Every route gets the small `DEFAULT_BODY`; the few that need more say so
in their decorator (`request_max_body_size=`). A body past its route's limit is
refused with 413 before it is read, when `Content-Length` announces it, or as soon
as the bytes received pass the limit. Guards and authentication run before any
body is read, so only coordinators ever get to send a round file.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE

from api.auth import SIGN_IN_PATHS
from api.problems import problem
from scheduler.settings import Settings

KIB = 1024
MIB = 1024 * KIB

DEFAULT_BODY = 64 * KIB
"""Every route that says nothing else: settings, quotas, windows, moves, reviews, solve options."""
FORM_BODY = 4 * KIB
"""Sign-in bodies and the dashboard's forms: an e-mail address, a password, a CSRF token."""
PROPOSAL_BODY = 256 * KIB
"""A proposal: up to 100 requests with their choices, a team and an abstract."""
ROUND_FILE_BODY = 16 * MIB
"""A round file: the largest round the contract allows (20,000 requests) is about 9 MB."""

PUBLIC_PATHS = ("/calendar/", "/schema", "/ui/login")
"""What anyone may ask without a token (sign-in itself has its own, stricter limit in `api.auth`)."""


def body_limit_detail(request: Request[Any, Any, Any]) -> str:
    """What a 413 says: the limit of the route asked for."""
    limit = request.route_handler.resolve_request_max_body_size()
    return f"the request body is larger than this endpoint accepts: at most {_size(limit)}"


def _size(limit: int | None) -> str:
    if limit is None:
        return "any size"
    if limit % MIB == 0:
        return f"{limit // MIB} MiB ({limit} bytes)"
    if limit % KIB == 0:
        return f"{limit // KIB} KiB ({limit} bytes)"
    return f"{limit} bytes"


def _is_public(request: Request[Any, Any, Any]) -> bool:
    """Calendar feeds, the API's description and the login form; sign-in posts count under the sign-in limit."""
    path = request.url.path
    if request.method == "POST" and path in SIGN_IN_PATHS:
        return False
    return path.startswith(PUBLIC_PATHS)


def public_rate_limit(settings: Settings) -> RateLimitConfig:
    """Requests to the routes anyone may call, per client address and minute: generous for calendar apps and
    people, but a single client cannot keep the process busy answering them. 429 with `Retry-After`."""
    return RateLimitConfig(
        rate_limit=("minute", settings.public_requests_per_minute),
        check_throttle_handler=_is_public,
        exclude=["^/(?!calendar/|schema|ui/login)."],
        store="public_rate_limit",
    )


def body_too_large(request: Request[Any, Any, Any], _error: RequestEntityTooLarge) -> Response[dict[str, Any]]:
    """413 as problem details naming the limit (Litestar's own says only "Request Entity Too Large")."""
    return problem(request, HTTP_413_REQUEST_ENTITY_TOO_LARGE, body_limit_detail(request))
