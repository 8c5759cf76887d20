"""The OpenAPI document as a contract clients can generate from: what the server enforces and answers, said.

Litestar derives the document from the handlers, but loses two things the server
relies on, which this module adds once the application is built (`document_contract`):

- Request bodies are validated by pydantic (`api.problems`), so their schemas are
  pydantic's own JSON Schemas in validation mode: patterns, bounds, enums and closed
  objects (`additionalProperties: false`) exactly as they are checked.
- Every operation lists the problems (RFC 9457, `application/problem+json`) it can
  answer, from what the operation is: signed in or not, with a path, a body, a change.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.routes import HTTPRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.auth import SIGN_IN_PATHS
from api.concurrency import IF_MATCH

PROBLEM_MEDIA_TYPE = "application/problem+json"
COMPONENTS = "#/components/schemas/{model}"
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _problem_schema() -> dict[str, Any]:
    """RFC 9457 as `api.problems` writes it: `errors` for bad input, members of their own for some problems."""
    return {
        "type": "object",
        "title": "Problem",
        "description": "Problem details (RFC 9457). `errors` lists every bad field of the request as a JSON path "
        "into the body (`$.requests[0].shifts`) or the name of a parameter.",
        "required": ["status", "title", "type"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "message"],
                    "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }


_PROBLEMS: dict[int, str] = {
    400: "The body is not JSON, or is nested too deeply.",
    401: "Not signed in, or the token is invalid or has expired (`WWW-Authenticate: Bearer`).",
    403: "Signed in, but not allowed to do this.",
    404: "There is no such thing, or it is not yours to see.",
    409: "The change conflicts with the state of what it changes (a stale revision, a phase, data in use).",
    412: "`If-Match` names a version that is no longer the current one: someone changed it since; nothing was "
    "changed. Read it again (its `ETag`) and retry.",
    413: "The body is larger than this operation accepts.",
    422: "The request breaks a rule: `errors` names each bad field.",
    429: "Too many attempts: `Retry-After` says when to try again.",
}
_HEADERS: dict[int, dict[str, str]] = {
    401: {"WWW-Authenticate": "`Bearer`: how to sign in."},
    429: {"Retry-After": "Seconds until the next attempt is allowed."},
}


def document_contract(app: Litestar) -> None:
    """Run once the routes are known (on start-up): the document is built once and kept, so this lasts."""
    openapi = app.openapi_schema
    # Paths in one order in every process: route registration order varies with hash seeds, and clients (and
    # parallel test workers) generated from the document should see the same one.
    openapi.paths = dict(sorted((openapi.paths or {}).items()))
    handlers = dict(_handlers(app))
    _document_bodies(openapi, handlers)
    _document_problems(openapi)
    _sort_response_headers(openapi)


def _handlers(app: Litestar) -> Iterator[tuple[tuple[str, str], HTTPRouteHandler]]:
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in handler.http_methods:
                    yield (route.path_format or "/", method.lower()), handler


def _operations(openapi: OpenAPI) -> Iterator[tuple[str, str, Operation]]:
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "head", "post", "put", "patch", "delete"):
            operation = getattr(item, method, None)
            if isinstance(operation, Operation):
                yield path, method, operation


def _body_model(handler: HTTPRouteHandler) -> type[BaseModel] | None:
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return None
    for candidate in (data.annotation, *(inner.annotation for inner in data.inner_types)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _document_bodies(openapi: OpenAPI, handlers: dict[tuple[str, str], HTTPRouteHandler]) -> None:
    """Each request body's schema is pydantic's, which is what `api.problems` validates it with."""
    bodies: dict[tuple[str, str], type[BaseModel]] = {}
    for path, method, operation in _operations(openapi):
        handler = handlers.get((path, method))
        model = _body_model(handler) if handler is not None else None
        if model is not None and isinstance(operation.request_body, RequestBody):
            bodies[path, method] = model
    models = sorted(set(bodies.values()), key=lambda model: model.__qualname__)
    refs, schemas = models_json_schema([(model, "validation") for model in models], ref_template=COMPONENTS)
    components = openapi.components.schemas if openapi.components.schemas is not None else {}
    for name, schema in schemas.get("$defs", {}).items():
        components[name] = _RawSchema(schema)
    openapi.components.schemas = components
    for path, method, operation in _operations(openapi):
        model = bodies.get((path, method))
        if model is None or not isinstance(operation.request_body, RequestBody):
            continue
        reference = Reference(ref=refs[model, "validation"]["$ref"])
        for media in operation.request_body.content.values():
            media.schema = reference


class _RawSchema(Schema):
    """A schema given as JSON Schema already (pydantic's), written out unchanged."""

    def __init__(self, value: dict[str, Any]) -> None:
        super().__init__()
        self._value = value

    def to_schema(self) -> dict[str, Any]:
        return self._value


def _document_problems(openapi: OpenAPI) -> None:
    """Each operation's problems, as `application/problem+json`; a description a handler wrote stays."""
    components = openapi.components.schemas if openapi.components.schemas is not None else {}
    components["Problem"] = _RawSchema(_problem_schema())
    openapi.components.schemas = components
    problem = {PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))}
    for path, method, operation in _operations(openapi):
        responses = operation.responses if operation.responses is not None else {}
        for status in _problem_statuses(path, method, operation, signed_in_by_default=bool(openapi.security)):
            documented = responses.get(str(status))
            own = documented.description if isinstance(documented, OpenAPIResponse) and status != 400 else None
            responses[str(status)] = OpenAPIResponse(
                description=own or _PROBLEMS[status],  # Litestar's own 400 is its generic one
                content=problem,
                headers={
                    name: OpenAPIHeader(description=text, schema=Schema(type=OpenAPIType.STRING))
                    for name, text in _HEADERS.get(status, {}).items()
                }
                or None,
            )
        operation.responses = responses


def _problem_statuses(path: str, method: str, operation: Operation, signed_in_by_default: bool) -> list[int]:
    """Which problems an operation can answer, from what it is: who may call it, what it is sent, what it does."""
    parameters = operation.parameters or []
    has_path = any(getattr(parameter, "param_in", None) == "path" for parameter in parameters)
    has_body = operation.request_body is not None
    conditional = any(
        getattr(parameter, "param_in", None) == "header" and getattr(parameter, "name", None) == IF_MATCH
        for parameter in parameters
    )
    signed_in = bool(operation.security) or signed_in_by_default
    changes = method.upper() in CHANGES
    applies = {
        400: has_body,
        401: signed_in or path in SIGN_IN_PATHS,
        403: signed_in,
        404: has_path or signed_in,
        409: signed_in and changes,
        412: conditional,
        413: has_body,
        422: bool(parameters) or has_body or changes,
        429: not signed_in,  # what anyone may call is rate-limited per client (sign-in, calendar feeds)
    }
    return [status for status, answered in applies.items() if answered]


def _sort_response_headers(openapi: OpenAPI) -> None:
    """Each response's headers by name: Litestar keeps a handler's as a set, whose order follows hash seeds."""
    for _, _, operation in _operations(openapi):
        for response in (operation.responses or {}).values():
            if isinstance(response, OpenAPIResponse) and response.headers:
                response.headers = dict(sorted(response.headers.items()))
