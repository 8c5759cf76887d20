"""Every error as RFC 9457 problem details (`application/problem+json`).

Validation problems list every bad field at once, as JSON paths into the body
(`$.requests[0].shifts`) or as the name of the query or path parameter, so a
client fixes a request in one go. Request bodies are validated here rather than
by Litestar's pydantic plugin, whose error keys lose list indices and carry the
tags of discriminated unions; `scheduler.roundfile.checks` already maps pydantic's errors
to the paths of the document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from litestar import Request, Response
from litestar.config.app import AppConfig
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins import InitPluginProtocol
from litestar.types import ExceptionHandlersMap
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError, IntegrityError

from scheduler.errors import Conflict, DomainError, Forbidden, NotFound
from scheduler.roundfile.checks import InputError, InputProblem, load_round, problems_from_validation_error
from scheduler.roundfile.contract import RoundFile

PROBLEM_JSON = "application/problem+json"
_MISSING_PARAMETER = re.compile(r"parameter '([^']+)'")

log = structlog.get_logger(__name__)


def problem(
    request: Request[Any, Any, Any],
    status: int,
    detail: str | None = None,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _title(status),
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _input_error(request: Request[Any, Any, Any], error: InputError) -> Response[dict[str, Any]]:
    return problem(
        request,
        HTTPStatus.UNPROCESSABLE_ENTITY,
        f"the request has {len(error.problems)} problem(s)",
        errors=[{"path": found.path, "message": found.message} for found in error.problems],
    )


def _validation_error(request: Request[Any, Any, Any], error: ValidationException) -> Response[dict[str, Any]]:
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
    return problem(request, HTTPStatus.UNPROCESSABLE_ENTITY, f"the request has {len(errors)} problem(s)", errors=errors)


def _http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[dict[str, Any]]:
    status = error.status_code
    errors = None
    if status == HTTPStatus.BAD_REQUEST:
        errors = [{"path": "$", "message": error.detail}]
    return problem(request, status, error.detail, errors=errors, headers=error.headers)


def _domain_error(request: Request[Any, Any, Any], error: DomainError) -> Response[dict[str, Any]]:
    status = (
        HTTPStatus.NOT_FOUND
        if isinstance(error, NotFound)
        else HTTPStatus.FORBIDDEN
        if isinstance(error, Forbidden)
        else HTTPStatus.CONFLICT
        if isinstance(error, Conflict)
        else HTTPStatus.UNPROCESSABLE_ENTITY
    )
    return problem(request, status, str(error))


def _integrity_error(request: Request[Any, Any, Any], error: IntegrityError) -> Response[dict[str, Any]]:
    """A uniqueness or reference check the database made: someone else's change won, or the data is in use."""
    log.info("integrity error", method=request.method, path=request.url.path, error=str(error.orig))
    return problem(request, HTTPStatus.CONFLICT, "the change conflicts with data already stored (taken or in use)")


def _data_error(request: Request[Any, Any, Any], error: DataError) -> Response[dict[str, Any]]:
    log.info("data error", method=request.method, path=request.url.path, error=str(error.orig))
    return problem(request, HTTPStatus.UNPROCESSABLE_ENTITY, "a value does not fit what the database stores")


def _too_deep(request: Request[Any, Any, Any], error: RecursionError) -> Response[dict[str, Any]]:
    """The JSON decoder recurses once per level of nesting: no sensible body comes near the limit."""
    return problem(
        request, HTTPStatus.BAD_REQUEST, "the body is nested too deeply", errors=[{"path": "$", "message": str(error)}]
    )


def _internal_error(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    log.error("unhandled error", method=request.method, path=request.url.path, exc_info=error)
    return problem(request, HTTPStatus.INTERNAL_SERVER_ERROR, "an internal error; it has been logged")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    InputError: _input_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    DomainError: _domain_error,
    IntegrityError: _integrity_error,
    DataError: _data_error,
    RecursionError: _too_deep,
    Exception: _internal_error,
}


def _decode(model: type[BaseModel], value: object) -> BaseModel:
    """A request body, with every problem reported as a JSON path (InputError)."""
    if model is RoundFile:
        if not isinstance(value, Mapping):
            raise InputError([InputProblem("$", "a round file is a JSON object")])
        return load_round(value)
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise InputError(problems_from_validation_error(error, model=model)) from None


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


class BodyValidation(InitPluginProtocol):
    """Puts `_decode` ahead of the pydantic plugin's decoder, which must therefore come first in `plugins`."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.type_decoders = [(_is_model, _decode), *(app_config.type_decoders or [])]
        return app_config
