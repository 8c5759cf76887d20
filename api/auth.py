"""Who is asking: Litestar's JWT backend reads the bearer token once per request into `Claims`; role guards.

The API reads `Authorization: Bearer`; the dashboard reads the same token from its
HttpOnly cookie (`api.web.session`). Both check it as `token_checks` says and turn a
verified token into `Claims` in `retrieve_claims`, the one place that decides who a token names.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Self, TypedDict

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware.authentication import AuthenticationResult
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token
from litestar.types import Guard

from scheduler.accounts.identity import Identities
from scheduler.accounts.schemas import Claims, Role
from scheduler.accounts.tokens import TOKEN_ALGORITHM, InvalidTokenError, token_subject
from scheduler.settings import Settings

CHALLENGE = {"WWW-Authenticate": "Bearer"}
PUBLIC_PATHS = ["^/auth/login$", "^/calendar/", "^/schema(/|$)", "^/ui(/|$)", "^/$"]
"""Open to everyone (sign in, calendar feeds, the OpenAPI document) or signed in by the dashboard's cookie."""
SIGN_IN_PATHS = ("/auth/login", "/ui/login")


async def retrieve_claims(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> Claims | None:
    """Who a verified, unexpired token names, as their account is now; None refuses it (401).

    The account is checked on every request (active, role, facilities, token version) through
    a cache of a few seconds (`settings.account_cache_seconds`), so ended accounts lose access quickly.
    """
    try:
        user_id, version = token_subject(token.sub, token.extras.get("ver"))
    except InvalidTokenError:
        return None
    identities: Identities = connection.app.state.identities
    return await identities.claims(user_id, version)


VERIFIED_TOKENS_KEPT = 4096
"""Tokens this process has checked, kept decoded (`KeptToken`)."""
_verified: OrderedDict[tuple[str, str, str, str], KeptToken] = OrderedDict()


class KeptToken(Token):
    """Litestar's token, its signature checked once per process: a token seen before, under the same checks, is taken
    as it was decoded then until it expires (decoding it again cost about a quarter of a millisecond of CPU per
    request). The account it names is still checked on every request (`retrieve_claims`), so signing out ends it."""

    @classmethod
    def decode(
        cls,
        encoded_token: str,
        secret: str,
        algorithm: str,
        audience: str | Sequence[str] | None = None,
        issuer: str | Sequence[str] | None = None,
        require_claims: Sequence[str] | None = None,
        verify_exp: bool = True,
        verify_nbf: bool = True,
        strict_audience: bool = False,
    ) -> Self:
        checks = (audience, issuer, require_claims, verify_exp, verify_nbf, strict_audience)
        key = (encoded_token, secret, algorithm, repr(checks))
        token = _verified.get(key)
        if isinstance(token, cls) and token.exp > datetime.now(UTC):
            return token
        decoded = super().decode(encoded_token, secret, algorithm, *checks)
        _verified[key] = decoded
        if len(_verified) > VERIFIED_TOKENS_KEPT:
            _verified.popitem(last=False)
        return decoded


class BearerAuthenticationMiddleware(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware, refusing with a Bearer challenge and a message that says what to do."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        scheme, _, token = (connection.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException(
                "sign in first: send `Authorization: Bearer <token>` from POST /auth/login", headers=CHALLENGE
            )
        try:
            return await self.authenticate_token(encoded_token=token.strip(), connection=connection)
        except NotAuthorizedException:
            raise NotAuthorizedException(
                "the token is invalid or has expired: sign in again", headers=CHALLENGE
            ) from None


class TokenChecks(TypedDict):
    """How a Litestar JWT backend checks a token, the same for every way in (bearer header, dashboard cookie):
    signed with the service's secret and algorithm, naming an account as it is now (`retrieve_claims`)."""

    token_secret: str
    algorithm: str
    retrieve_user_handler: Callable[[Token, ASGIConnection[Any, Any, Any, Any]], Awaitable[Claims | None]]
    token_cls: type[Token]


def token_checks(settings: Settings) -> TokenChecks:
    return TokenChecks(
        token_secret=settings.jwt_secret,
        algorithm=TOKEN_ALGORITHM,
        retrieve_user_handler=retrieve_claims,
        token_cls=KeptToken,
    )


def bearer_auth(settings: Settings) -> JWTAuth[Claims, Token]:
    """Add its `.middleware` to the app: the OpenAPI keeps its own `bearer` scheme on the protected controllers."""
    return JWTAuth[Claims, Token](
        **token_checks(settings),
        authentication_middleware_class=BearerAuthenticationMiddleware,
        exclude=PUBLIC_PATHS,
        openapi_security_scheme_name="bearer",
    )


def _is_sign_in(request: Request[Any, Any, Any]) -> bool:
    return request.method == "POST" and request.url.path in SIGN_IN_PATHS


def sign_in_rate_limit(settings: Settings) -> RateLimitConfig:
    """Sign-in attempts per client address and minute, API and dashboard together: guessing passwords
    is slow, and argon2's cost cannot be turned against the server. 429 says when to try again (`Retry-After`)."""
    return RateLimitConfig(
        rate_limit=("minute", settings.login_attempts_per_minute),
        check_throttle_handler=_is_sign_in,
        exclude=["^/(?!auth/login$|ui/login$)."],
    )


async def provide_current_user(request: Request[Claims, Token, Any]) -> Claims:
    """The caller the bearer middleware let through (public paths never ask)."""
    return request.user


def requires_role(*roles: Role) -> Guard:
    """A guard for endpoints that only some roles may ever use: 403 for the others (401 when signed out)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if not isinstance(user, Claims):
            raise NotAuthorizedException("sign in first", headers=CHALLENGE)
        if user.role not in roles:
            raise PermissionDeniedException(f"only {' or '.join(roles)} users may do this")

    return guard
