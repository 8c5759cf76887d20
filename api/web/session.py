"""Signing in to the dashboard: the API's own token, kept in an HttpOnly, SameSite=Strict cookie.

Script on the page never sees the token, and other sites' pages cannot make the
browser send it. Litestar's JWT cookie backend decodes it into the same `Claims`
the API's bearer token gives (`api.auth.token_checks`), and the pages call the
same scheduler services, so the access rules are the API's. Every form post and
script request that changes something carries Litestar's CSRF token: the forms a
hidden `_csrf_token` field, the scripts the `CSRF_HEADER` with the CSRF cookie's value.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.authentication import AuthenticationResult
from litestar.security.jwt import JWTCookieAuth, JWTCookieAuthenticationMiddleware, Token

from api.auth import token_checks
from scheduler.accounts.schemas import Claims
from scheduler.settings import Settings

COOKIE = "beamtime_session"
CSRF_COOKIE = "beamtime_csrf"
"""The names on a machine of one's own; served anywhere else, both carry the `__Host-` prefix (`cookie_name`)."""
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
HOST_ONLY_PREFIX = "__Host-"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_PATH = "/ui/login"

Viewer = NamedDependency[Claims]
"""`viewer`: the user signed in to the dashboard."""


class SignInRequired(Exception):  # noqa: N818 (named for what the reader must do)
    """A page was asked for without a valid session: the answer is the login page."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path

    @property
    def login_url(self) -> str:
        return f"{LOGIN_PATH}?next={quote(self.path, safe='/?=&')}"


class DashboardSessionMiddleware(JWTCookieAuthenticationMiddleware):
    """The session cookie's user, or None: the pages decide what a missing session means
    (the login page for a page, 401 for a page's script). Reads the cookie only, never a header."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        token = connection.cookies.get(self.auth_cookie_key)
        if not token:
            return AuthenticationResult(user=None, auth=None)
        try:
            return await self.authenticate_token(encoded_token=token, connection=connection)
        except NotAuthorizedException:
            return AuthenticationResult(user=None, auth=None)


def secure_cookies(settings: Settings) -> bool:
    """Cookies are sent over HTTPS only, except to a server on this machine reached by plain HTTP (development)."""
    address = urlsplit(settings.public_url)
    return not (address.scheme == "http" and address.hostname in LOCAL_HOSTS)


def cookie_name(name: str, settings: Settings) -> str:
    """A Secure cookie is named `__Host-…`: browsers then accept it only when Secure, for path `/` and without a
    Domain, so neither a sibling subdomain nor a plain-HTTP page can plant or overwrite it."""
    return HOST_ONLY_PREFIX + name if secure_cookies(settings) else name


def dashboard_auth(settings: Settings) -> JWTCookieAuth[Claims, Token]:
    """Add its `.middleware` to the dashboard's routes."""
    return JWTCookieAuth[Claims, Token](
        **token_checks(settings),
        authentication_middleware_class=DashboardSessionMiddleware,
        key=cookie_name(COOKIE, settings),
        exclude=["^/ui/static/"],
    )


def dashboard_csrf(settings: Settings) -> CSRFConfig:
    """Litestar's double-submit CSRF check on the dashboard's unsafe requests (the API's bearer calls are exempt)."""
    return CSRFConfig(
        secret=hmac.new(settings.jwt_secret.encode(), b"beamtime csrf", hashlib.sha256).hexdigest(),
        cookie_name=cookie_name(CSRF_COOKIE, settings),
        cookie_path="/",
        header_name=CSRF_HEADER,
        cookie_secure=secure_cookies(settings),
        cookie_samesite="strict",
        exclude=["^/(?!ui/).", "^/ui/static/"],
    )


def _signed_in(connection: ASGIConnection[Any, Any, Any, Any]) -> Claims | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Claims) else None


async def provide_page_viewer(request: Request[Any, Any, Any]) -> Claims:
    """The signed-in user of a page; without one, the login page that leads back here."""
    claims = _signed_in(request)
    if claims is None:
        query = request.url.query
        raise SignInRequired(request.url.path + (f"?{query}" if query else ""))
    return claims


async def provide_action_viewer(request: Request[Any, Any, Any]) -> Claims:
    """The signed-in user of a page's script; 401 without one."""
    claims = _signed_in(request)
    if claims is None:
        raise NotAuthorizedException("your dashboard session has ended: sign in again")
    return claims


def session_cookie(token: str, settings: Settings) -> Cookie:
    return _session_cookie(token, settings.jwt_minutes * 60, settings)


def ended_session_cookie(settings: Settings) -> Cookie:
    return _session_cookie("", 0, settings)


def _session_cookie(value: str, max_age: int, settings: Settings) -> Cookie:
    return Cookie(
        key=cookie_name(COOKIE, settings),
        value=value,
        path="/",
        domain=None,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(settings),
    )


def safe_next(target: str | None) -> str:
    """Only a dashboard path of this site: a login link must not send anyone elsewhere."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"
