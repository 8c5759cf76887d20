"""The dashboard's pages: server-rendered HTML over the view models of `api.web.views`.

Errors are pages too: no session leads to the login page (and back), a round
the viewer may not see is a 404 page, as the API answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import ResponseHeader, State
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body, Dependency, QueryParameter
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap
from sqlalchemy.ext.asyncio import AsyncSession

from api.controllers.accounts import client_of
from api.controllers.reports import download
from api.i18n import locale_of, sign_in_locked
from api.limits import FORM_BODY, body_limit_detail
from api.params import Id, Session
from api.web.session import (
    LOGIN_PATH,
    SignInRequired,
    Viewer,
    ended_session_cookie,
    provide_page_viewer,
    safe_next,
    session_cookie,
)
from api.web.views import exports
from api.web.views.panels import Lists
from api.web.views.proposer import proposer_page
from api.web.views.round import compare_page, coordinated_rounds, instruments_page, round_lists, round_page
from scheduler.accounts import credentials
from scheduler.accounts import service as accounts
from scheduler.accounts.schemas import Claims, Me
from scheduler.errors import DomainError, Forbidden, NotFound
from scheduler.fields import MAX_INT
from scheduler.roundfile.checks import InputError
from scheduler.roundfile.contract import RoundFile
from scheduler.schedules.calendar import new_calendar_path

log = structlog.get_logger(__name__)

OptionalNumber = Annotated[int | None, QueryParameter(ge=1, le=MAX_INT)]
Week = Annotated[int | None, QueryParameter(ge=1, le=1000, description="1 is the round's first week.")]
VersionNumber = Annotated[int, QueryParameter(ge=1, le=MAX_INT)]
Code = Annotated[str | None, QueryParameter(max_length=64)]

SECURITY_HEADERS = [
    ResponseHeader(
        name="Content-Security-Policy",
        value="default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    ),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
    ResponseHeader(name="Cache-Control", value="no-store"),
]
"""Pages carry private data and positions come from inline styles only; scripts are the app's own files."""
ERROR_PAGE_HEADERS = {header.name: header.value for header in SECURITY_HEADERS if header.value is not None}
"""Error pages are answered by exception handlers, which the controllers' `response_headers` never reach."""

MANAGER_ROLES = ("admin", "coordinator")


def _error_page(request: Request[Any, Any, Any], status: int, title: str, message: str) -> Template:
    return Template(
        template_name="error.html",
        context={"status": status, "title": title, "message": message, "viewer": None},
        status_code=status,
        headers=ERROR_PAGE_HEADERS,
    )


def _sign_in(request: Request[Any, Any, Any], error: SignInRequired) -> Response[Any]:
    return Redirect(path=error.login_url, status_code=303)


def _refused(request: Request[Any, Any, Any], error: DomainError) -> Response[Any]:
    if isinstance(error, NotFound):
        return _error_page(request, 404, "Not found", str(error))
    if isinstance(error, Forbidden):
        return _error_page(request, 403, "Not allowed", str(error))
    return _error_page(request, 409, "Not possible now", str(error))


def _bad_input(request: Request[Any, Any, Any], error: InputError) -> Response[Any]:
    return _error_page(request, 422, "Bad input", str(error))


def _http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    return _error_page(request, error.status_code, "Request refused", error.detail)


def _too_large(request: Request[Any, Any, Any], error: RequestEntityTooLarge) -> Response[Any]:
    return _error_page(request, error.status_code, "Request refused", body_limit_detail(request))


def _internal_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    log.error("unhandled page error", path=request.url.path, exc_info=error)
    return _error_page(request, 500, "Something went wrong", "An internal error; it has been logged.")


PAGE_ERRORS: ExceptionHandlersMap = {
    # These take the place of the app's problem-details handlers of the same classes: pages answer in HTML.
    SignInRequired: _sign_in,
    DomainError: _refused,
    InputError: _bad_input,
    HTTPException: _http_error,
    ValidationException: _http_error,
    RequestEntityTooLarge: _too_large,
    Exception: _internal_error,
}


class _Pages(Controller):
    path = "/ui"
    include_in_schema = False
    exception_handlers = PAGE_ERRORS
    response_headers = SECURITY_HEADERS


class LoginPages(_Pages):
    @get("/login", summary="The login form")
    async def login_form(self, next_page: Annotated[str | None, QueryParameter(name="next")] = None) -> Template:
        return Template(template_name="login.html", context={"next": safe_next(next_page), "error": None})

    @post(
        "/login",
        status_code=303,
        summary="Sign in: the session cookie, then the page asked for",
        request_max_body_size=FORM_BODY,
    )
    async def login(
        self,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
        request: Request[Any, Any, Any],
        state: State,
    ) -> Response[Any]:
        target = safe_next(data.get("next"))
        email, password = data.get("email", "")[:254], data.get("password", "")[:1024]
        settings = state.settings
        if not email or not password:
            return _login_refused(target, email, "Wrong e-mail or password.", 401)
        try:
            token = await credentials.sign_in(state.sessions, email, password, client_of(request), settings)
        except credentials.SignInRefused:
            return _login_refused(target, email, "Wrong e-mail or password.", 401)
        except credentials.TooManyFailures as locked:
            message = sign_in_locked(locale_of(request), locked.retry_after)
            return _login_refused(target, email, message, 429, {"Retry-After": str(locked.retry_after)})
        return Redirect(path=target, status_code=303, cookies=[session_cookie(token, settings)])

    @post("/logout", status_code=303, summary="Sign out: the session and every other token of the account end")
    async def logout(self, request: Request[Any, Any, Any], db_session: Session, state: State) -> Response[Any]:
        viewer = request.scope.get("user")
        if isinstance(viewer, Claims):
            await credentials.sign_out(db_session, state.identities, viewer.user_id)
        return Redirect(path=LOGIN_PATH, status_code=303, cookies=[ended_session_cookie(state.settings)])


def _login_refused(
    target: str, email: str, message: str, status: int, headers: dict[str, str] | None = None
) -> Template:
    return Template(
        template_name="login.html",
        context={"next": target, "error": message, "email": email},
        status_code=status,
        headers=headers,
    )


@dataclass(frozen=True)
class PageContext:
    """What a dashboard page is drawn for: the request's session, the viewer (and their account, for the header)
    and the language."""

    session: AsyncSession
    viewer: Viewer
    account: Me
    locale: str

    def render(self, template_name: str, **context: Any) -> Template:
        return Template(template_name=template_name, context={"viewer": self.account, **context})


async def provide_page_context(request: Request[Any, Any, Any], db_session: Session, viewer: Viewer) -> PageContext:
    return PageContext(db_session, viewer, await _account(db_session, viewer), locale_of(request))


Ctx = Annotated[PageContext, Dependency(skip_validation=True)]


def _list_file(name: str, render: Callable[[RoundFile, Lists, str], str], summary: str) -> HTTPRouteHandler:
    """GET `/rounds/{round_id}/{name}.csv`: one of the round page's lists of the version shown, as `render` writes
    it in the page's language, saved as `{round}-{name}.csv`. The route takes `name`'s handler name (`ranking_csv`)."""

    async def list_file(self: Controller, round_id: Id, ctx: Ctx, version: OptionalNumber = None) -> Response[Any]:
        round_file, found = await round_lists(ctx.session, ctx.viewer, round_id, version)
        return download(render(round_file, found, ctx.locale), "csv", f"{round_file.round.id}-{name}")

    list_file.__name__ = f"{name}_csv"
    return get(f"/rounds/{{round_id:int}}/{name}.csv", summary=summary)(list_file)


class DashboardPages(_Pages):
    dependencies: Mapping[str, Provide] = {
        "viewer": Provide(provide_page_viewer),
        "ctx": Provide(provide_page_context),
    }

    @get("/", summary="Each role's start page")
    async def home(self, viewer: Viewer) -> Redirect:
        return Redirect(path="/ui/rounds" if viewer.role in MANAGER_ROLES else "/ui/me", status_code=303)

    @get("/rounds", summary="The rounds the viewer coordinates")
    async def rounds(self, ctx: Ctx) -> Template:
        return ctx.render("rounds.html", cards=await coordinated_rounds(ctx.session, ctx.viewer))

    @get("/rounds/{round_id:int}", summary="A round: timeline, quotas, ranking, solves and versions")
    async def round_detail(self, round_id: Id, ctx: Ctx, version: OptionalNumber = None, week: Week = None) -> Template:
        page = await round_page(ctx.session, ctx.viewer, round_id, version_id=version, week=week, locale=ctx.locale)
        return ctx.render("round.html", page=page)

    @get("/rounds/{round_id:int}/instruments", summary="Each instrument's schedule, for beamline staff")
    async def instruments(
        self, round_id: Id, ctx: Ctx, version: OptionalNumber = None, instrument: Code = None
    ) -> Template:
        return ctx.render(
            "instruments.html", page=await instruments_page(ctx.session, ctx.viewer, round_id, version, instrument)
        )

    ranking_csv = _list_file("ranking", exports.ranking_csv, "The ranking of the version shown, as CSV")
    unallocated_csv = _list_file(
        "unallocated", exports.unallocated_csv, "The unallocated requests with reasons, as CSV"
    )

    @get("/rounds/{round_id:int}/compare", summary="Two versions of a round, changes highlighted")
    async def compare(
        self, round_id: Id, ctx: Ctx, before: VersionNumber, after: VersionNumber, week: Week = None
    ) -> Template:
        page = await compare_page(ctx.session, ctx.viewer, round_id, before, after, week=week, locale=ctx.locale)
        return ctx.render("compare.html", page=page)

    @get("/me", summary="The proposer's page: proposals, status, slots, calendar feed, changes")
    async def me(self, ctx: Ctx) -> Template:
        return ctx.render("me.html", page=await proposer_page(ctx.session, ctx.viewer.user_id))

    @post("/me/calendar-url", status_code=200, summary="The proposer's page with a new calendar address, shown once")
    async def new_calendar_url(self, ctx: Ctx, state: State) -> Template:
        url = state.settings.public_url.rstrip("/") + await new_calendar_path(
            ctx.session, ctx.viewer.user_id, ctx.locale
        )
        return ctx.render("me.html", page=await proposer_page(ctx.session, ctx.viewer.user_id, new_calendar_url=url))


class RootRedirect(Controller):
    include_in_schema = False

    @get("/", summary="The dashboard")
    async def root(self) -> Redirect:
        return Redirect(path="/ui/", status_code=303)


async def _account(session: AsyncSession, viewer: Claims) -> Me:
    """The viewer's account for the page header; a deleted account ends the session."""
    found = await accounts.me(session, viewer.user_id)
    if found is None or not found.active:
        raise SignInRequired("/ui/")
    return found
