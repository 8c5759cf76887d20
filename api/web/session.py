"""Signing in to the dashboard: the API's own token, kept in an HttpOnly, SameSite=Strict cookie.

Script on the page never sees the token, and other sites' pages cannot make the
browser send it. The pages decode it into the same `Claims` the API's bearer
token gives and call the same scheduler services, so the access rules are the
API's. The page's own requests that change something also carry `UI_HEADER`,
which a form on another site cannot set.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from scheduler.accounts.service import Claims, InvalidTokenError, decode_token
from scheduler.settings import Settings

COOKIE = "beamtime_session"
UI_HEADER = "X-Beamtime-UI"
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


def signed_in(connection: ASGIConnection[Any, Any, Any, Any]) -> Claims | None:
    token = connection.cookies.get(COOKIE)
    if not token:
        return None
    try:
        return decode_token(token, settings=connection.app.state.settings)
    except InvalidTokenError:
        return None


async def provide_page_viewer(request: Request[Any, Any, Any]) -> Claims:
    """The signed-in user of a page; without one, the login page that leads back here."""
    claims = signed_in(request)
    if claims is None:
        query = request.url.query
        raise SignInRequired(request.url.path + (f"?{query}" if query else ""))
    return claims


async def provide_action_viewer(request: Request[Any, Any, Any]) -> Claims:
    """The signed-in user of a page's script; 401 without one."""
    claims = signed_in(request)
    if claims is None:
        raise NotAuthorizedException("your dashboard session has ended: sign in again")
    return claims


def from_the_page(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard against cross-site requests: only the dashboard's script sets this header."""
    if connection.headers.get(UI_HEADER) != "1":
        raise PermissionDeniedException(f"dashboard actions are sent by the dashboard's pages (header {UI_HEADER})")


def cross_site(request: Request[Any, Any, Any]) -> bool:
    """A form posted from another site's page (login CSRF would sign the victim in as the attacker)."""
    origin = request.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc != request.headers.get("host")


def session_cookie(token: str, settings: Settings) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=token,
        path="/",
        max_age=settings.jwt_minutes * 60,
        httponly=True,
        samesite="strict",
        secure=settings.public_url.startswith("https://"),
    )


def ended_session_cookie(settings: Settings) -> Cookie:
    return Cookie(
        key=COOKIE,
        value="",
        path="/",
        max_age=0,
        httponly=True,
        samesite="strict",
        secure=settings.public_url.startswith("https://"),
    )


def safe_next(target: str | None) -> str:
    """Only a dashboard path of this site: a login link must not send anyone elsewhere."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"
