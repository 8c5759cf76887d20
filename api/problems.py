"""Every error as RFC 9457 problem details (`application/problem+json`), through Litestar's ProblemDetailsPlugin.

Validation problems list every bad field at once, as JSON paths into the body
(`$.requests[0].shifts`) or as the name of the query or path parameter, so a
client fixes a request in one go. Request bodies are validated here rather than
by Litestar's pydantic plugin, whose error keys lose list indices and carry the
tags of discriminated unions; `scheduler.roundfile.checks` already maps pydantic's errors
to the paths of the document. No answer carries a traceback or local values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import anyio.to_thread
import msgspec
import structlog
from advanced_alchemy.exceptions import DuplicateKeyError, ForeignKeyError, NotFoundError, RepositoryError
from advanced_alchemy.exceptions import IntegrityError as RepositoryIntegrityError
from litestar import Request, Response
from litestar.config.app import AppConfig
from litestar.exceptions import ClientException, HTTPException, TooManyRequestsException, ValidationException
from litestar.plugins import InitPluginProtocol
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin
from litestar.types import ExceptionHandlersMap
from litestar.utils.scope.state import ScopeState
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from api.explanations import localized
from api.i18n import DEFAULT_LOCALE, locale_of, problem_title
from scheduler.errors import Conflict, DomainError, Forbidden, NotFound, PreconditionFailed
from scheduler.roundfile.checks import InputError, InputProblem, load_round, problems_from_validation_error
from scheduler.roundfile.contract import RoundFile

_MISSING_PARAMETER = re.compile(r"parameter '([^']+)'")
DECODED_IN_A_THREAD_FROM = 1024 * 1024
"""Bytes from which a body is parsed and checked in a worker thread, not on the event loop: a round file of
16 MiB takes seconds, and every other request would wait for it."""

log = structlog.get_logger(__name__)


class Problem(ProblemDetailsException):
    """Our shape of RFC 9457: `about:blank`, the status's phrase as title, `errors` as JSON paths, and the path
    asked for as `instance` (the plugin's conversions never see the request, the answer does).

    The title, the detail and each error's message are in the request's language (the dashboard's switch, else
    `Accept-Language`: `api.i18n`); the scheduler writes them in English, told in Russian where their form is known
    (`api.explanations`). Machine fields (paths, rule numbers, revisions) are the same in every language."""

    def to_response(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        if self.instance is None:
            self.instance = request.url.path
        locale = locale_of(request)
        self.title = problem_title(self.status_code, locale)
        self.headers = {**(self.headers or {}), "Content-Language": locale}
        if locale != DEFAULT_LOCALE:
            self.detail = localized(self.detail, locale)
            for error in self.extra.get("errors", []) if isinstance(self.extra, dict) else []:
                error["message"] = localized(error["message"], locale)
        return super().to_response(request)


def _problem(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    members: Mapping[str, Any] | None = None,
) -> Problem:
    """`members` are added to the body as they are (the round's revision, each broken rule with its number)."""
    extra = {**(members or {}), **({} if errors is None else {"errors": errors})}
    return Problem(
        detail=detail,
        status_code=status,
        headers=dict(headers) if headers else None,
        extra=extra or None,
        type_="about:blank",
    )


def problem(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """A problem-details response, for handlers that add members of their own to the body."""
    return _problem(status, detail, errors=errors, headers=headers).to_response(request)


def _input_error(error: InputError) -> Problem:
    return _problem(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        f"the request has {len(error.problems)} problem(s)",
        errors=[{"path": found.path, "message": found.message} for found in error.problems],
    )


def _validation_error(error: ValidationException) -> Problem:
    """Litestar's own checks: query, path and header parameters (bodies go through `_decode`)."""
    extra = error.extra if isinstance(error.extra, list) else []
    errors = [
        {"path": str(item.get("key") or "$"), "message": str(item.get("message", "invalid"))}
        for item in extra
        if isinstance(item, dict)
    ]
    if not errors:
        missing = _MISSING_PARAMETER.search(error.detail)
        errors = [{"path": missing.group(1) if missing else "$", "message": error.detail}]
    return _problem(HTTPStatus.UNPROCESSABLE_ENTITY, f"the request has {len(errors)} problem(s)", errors=errors)


def _http_error(error: HTTPException) -> Problem:
    if error.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
        log.error("server error", detail=error.detail, exc_info=error)
    errors = [{"path": "$", "message": error.detail}] if error.status_code == HTTPStatus.BAD_REQUEST else None
    return _problem(error.status_code, error.detail, errors=errors, headers=error.headers)


def _too_many_requests(error: TooManyRequestsException) -> Problem:
    """The rate limiter says when its window resets; `Retry-After` tells the client in the standard header."""
    headers = dict(error.headers or {})
    headers["Retry-After"] = headers.get("RateLimit-Reset", "60")
    return _problem(error.status_code, "too many attempts: wait, then try again", headers=headers)


def domain_problem(error: DomainError) -> Problem:
    """A refusal of the domain's as the problem of its kind, its message the detail, its members in the body."""
    status = (
        HTTPStatus.NOT_FOUND
        if isinstance(error, NotFound)
        else HTTPStatus.FORBIDDEN
        if isinstance(error, Forbidden)
        else HTTPStatus.CONFLICT
        if isinstance(error, Conflict)
        else HTTPStatus.PRECONDITION_FAILED
        if isinstance(error, PreconditionFailed)
        else HTTPStatus.UNPROCESSABLE_ENTITY
    )
    return _problem(status, str(error), members=error.members)


def _repository_error(error: RepositoryError) -> Problem:
    """What the repository services raise: a row that is not there, or one the database refused."""
    if isinstance(error, NotFoundError):
        return _problem(HTTPStatus.NOT_FOUND, "not found")
    if isinstance(error, DuplicateKeyError | ForeignKeyError | RepositoryIntegrityError):
        return _problem(HTTPStatus.CONFLICT, "the change conflicts with data already stored (taken or in use)")
    log.error("repository error", exc_info=error)
    return _problem(HTTPStatus.INTERNAL_SERVER_ERROR, "an internal error; it has been logged")


def _too_deep(error: RecursionError) -> Problem:
    """The JSON decoder recurses once per level of nesting: no sensible body comes near the limit."""
    return _problem(
        HTTPStatus.BAD_REQUEST, "the body is nested too deeply", errors=[{"path": "$", "message": str(error)}]
    )


def _integrity_error(request: Request[Any, Any, Any], error: IntegrityError) -> Response[dict[str, Any]]:
    """A uniqueness or reference check the database made: someone else's change won, or the data is in use."""
    log.info("integrity error", method=request.method, path=request.url.path, error=str(error.orig))
    return problem(request, HTTPStatus.CONFLICT, "the change conflicts with data already stored (taken or in use)")


def _stale_data(request: Request[Any, Any, Any], error: StaleDataError) -> Response[dict[str, Any]]:
    """A row's version counter moved between this request's read and its write: another change won meanwhile."""
    log.info("stale write", method=request.method, path=request.url.path, error=str(error))
    return problem(
        request, HTTPStatus.CONFLICT, "another change was saved while this one ran: read it again, then retry"
    )


def _data_error(request: Request[Any, Any, Any], error: DataError) -> Response[dict[str, Any]]:
    log.info("data error", method=request.method, path=request.url.path, error=str(error.orig))
    return problem(request, HTTPStatus.UNPROCESSABLE_ENTITY, "a value does not fit what the database stores")


def _internal_error(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    log.error("unhandled error", method=request.method, path=request.url.path, exc_info=error)
    return problem(request, HTTPStatus.INTERNAL_SERVER_ERROR, "an internal error; it has been logged")


PROBLEM_DETAILS = ProblemDetailsPlugin(
    ProblemDetailsConfig(
        exception_to_problem_detail_map={
            InputError: _input_error,
            ValidationException: _validation_error,
            TooManyRequestsException: _too_many_requests,
            HTTPException: _http_error,
            DomainError: domain_problem,
            RepositoryError: _repository_error,
            RecursionError: _too_deep,
        },
    )
)
"""Exceptions that become a problem by what they say alone."""

LOGGED_ERRORS: ExceptionHandlersMap = {
    IntegrityError: _integrity_error,
    StaleDataError: _stale_data,
    DataError: _data_error,
    Exception: _internal_error,
}
"""Exceptions logged with the request that met them before they are answered as problems."""


def _decode(model: type[BaseModel], value: object) -> BaseModel:
    """A request body, with every problem reported as a JSON path (InputError)."""
    if isinstance(value, model):  # decoded already, in a thread (`require_body`)
        return value
    if model is RoundFile:
        if not isinstance(value, Mapping):
            raise InputError([InputProblem("$", "a round file is a JSON object")])
        return load_round(value)
    try:
        # Strictly as JSON, as the schema says: no number read as a date-time, no text as a number.
        return model.model_validate_json(msgspec.json.encode(_whole_numbers(value)), strict=True)
    except ValidationError as error:
        raise InputError(problems_from_validation_error(error, model=model)) from None


def _whole_numbers(value: object) -> object:
    """`94.0` is the integer 94 to JSON (and JSON Schema); strict validation would refuse it for an int field."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    return value


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _body_model(request: Request[Any, Any, Any]) -> type[BaseModel] | None:
    """The model a handler's required JSON body is read into; None when it takes none, or may go without."""
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    if data is None or data.is_optional:
        return None
    return data.annotation if _is_model(data.annotation) else None


async def require_body(request: Request[Any, Any, Any]) -> None:
    """A required body that was not sent is a problem naming each field it must have (`$.expected_revision`),
    in the words of any other missing field; it runs after the guards, so only those allowed learn them. A body of
    `DECODED_IN_A_THREAD_FROM` bytes or more is parsed and checked here, in a worker thread, and handed on decoded."""
    model = _body_model(request)
    if model is None:
        return
    body = await request.body()
    if len(body) >= DECODED_IN_A_THREAD_FROM:
        ScopeState.from_scope(request.scope).json = await anyio.to_thread.run_sync(_decode_bytes, model, body)
    if body:
        return
    _decode(model, {})
    raise InputError([InputProblem("$", "a JSON body is required")])


def _decode_bytes(model: type[BaseModel], body: bytes) -> BaseModel:
    """`_decode` of a body as it came; a body that is no JSON is refused as Litestar refuses it (400)."""
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise ClientException(str(error)) from None
    return _decode(model, document)


class BodyValidation(InitPluginProtocol):
    """Puts `_decode` ahead of the pydantic plugin's decoder, which must therefore come first in `plugins`,
    and `require_body` before every handler (none other sets `before_request`)."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.type_decoders = [(_is_model, _decode), *(app_config.type_decoders or [])]
        if app_config.before_request is not None:
            raise ValueError("BodyValidation sets the app's before_request itself")
        app_config.before_request = require_body
        return app_config
