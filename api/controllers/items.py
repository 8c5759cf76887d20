"""The routes every kept thing has, written once, for any domain service that offers them:
read one, change it, delete it (`item_routes`); list them and create one, at the top level
(`collection_routes`) or under the thing they belong to (`child_routes`).

Each route opens its service on the request's transaction as the dependency `service`. A thing is answered
with its version as `ETag`; a change or delete with `If-Match` is made only on a version it names (412
otherwise), and a create with an `Idempotency-Key` happens once per key (`api.concurrency`).
The handlers name their types by placeholders (`Public`, `Change`, `Create` and the
service's), which Litestar resolves per route through the handler's signature namespace,
so the OpenAPI document shows each noun's own schemas.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from litestar import Controller, HttpMethod, Request, Response, delete, get, post, route
from litestar.di import NamedDependency, Provide
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED
from pydantic import BaseModel

from api.concurrency import ETAG, IdempotencyKeyHeader, IfMatch, created_once, expected_versions, tagged
from api.controllers import LOCATION, permits
from api.params import CurrentUser, Id, Page, Session
from scheduler.access import Operation
from scheduler.accounts.schemas import Claims


class ItemService(Protocol):
    """A domain service's things by id; a change or delete is made only on a version in `expected`."""

    expected: frozenset[int] | None

    async def read(self, item_id: int, /) -> BaseModel: ...

    async def update_item(self, actor: Claims, item_id: int, data: Any, /) -> BaseModel: ...

    async def delete_item(self, actor: Claims, item_id: int, /) -> None: ...


class CollectionService(Protocol):
    """A domain service's top-level things (nothing above them in the path)."""

    async def list_page(self, page: LimitOffset, /) -> OffsetPagination[Any]: ...

    async def create_item(self, actor: Claims, data: Any, /) -> BaseModel: ...


class ChildService(Protocol):
    """A domain service's things that belong to another one (instruments to a facility)."""

    async def list_page(self, page: LimitOffset, parent_id: int, /) -> OffsetPagination[Any]: ...

    async def create_item(self, actor: Claims, parent_id: int, data: Any, /) -> BaseModel: ...


Items = NamedDependency[ItemService]
Collection = NamedDependency[CollectionService]
Children = NamedDependency[ChildService]
Public = BaseModel
Change = BaseModel
Create = BaseModel


def services(**kinds: type[Any]) -> dict[str, Provide]:
    """Dependencies named as the keywords, for a controller's own handlers: each a domain service."""
    return {name: _provide(kind) for name, kind in kinds.items()}


def item_routes(
    kind: type[ItemService],
    public: type[BaseModel],
    change: type[BaseModel],
    summaries: tuple[str, str, str],
    *,
    changes: Operation,
    replace: bool = False,
) -> tuple[HTTPRouteHandler, HTTPRouteHandler, HTTPRouteHandler]:
    """GET, PATCH (PUT when `replace`: the body is the whole thing) and DELETE of `/{item_id}`,
    with `summaries` in that order; whom the policy never lets make `changes` is refused before the body."""
    namespace = {"Items": _dependency(kind), "Public": public, "Change": change}
    read_summary, change_summary, delete_summary = summaries
    options: dict[str, Any] = {"signature_namespace": namespace, "dependencies": services(service=kind)}

    @get("/{item_id:int}", summary=read_summary, response_headers=[ETAG], **options)
    async def read_item(self: Controller, item_id: Id, service: Items) -> Response[Public]:
        return tagged(await service.read(item_id))

    method = HttpMethod.PUT if replace else HttpMethod.PATCH

    @route(
        "/{item_id:int}",
        http_method=method,
        summary=change_summary,
        guards=[permits(changes)],
        response_headers=[ETAG],
        **options,
    )
    async def change_item(
        self: Controller,
        item_id: Id,
        data: JSONBody[Change],
        service: Items,
        current_user: CurrentUser,
        if_match: IfMatch = None,
    ) -> Response[Public]:
        service.expected = expected_versions(if_match)
        return tagged(await service.update_item(current_user, item_id, data))

    @delete("/{item_id:int}", summary=delete_summary, **options)
    async def delete_item(
        self: Controller, item_id: Id, service: Items, current_user: CurrentUser, if_match: IfMatch = None
    ) -> None:
        service.expected = expected_versions(if_match)
        await service.delete_item(current_user, item_id)

    return read_item, change_item, delete_item


def collection_routes(
    kind: type[CollectionService],
    public: type[BaseModel],
    create: type[BaseModel],
    summaries: tuple[str, str],
    *,
    creates: Operation,
) -> tuple[HTTPRouteHandler, HTTPRouteHandler]:
    """GET (a page, with the total) and POST of the controller's own path, with `summaries` in that order;
    POST answers 201 with the new thing's `Location`, and refuses whom the policy never lets `creates`."""
    namespace = {"Collection": _dependency(kind), "Public": public, "Create": create}
    list_summary, create_summary = summaries
    options: dict[str, Any] = {"signature_namespace": namespace, "dependencies": services(service=kind)}

    @get(summary=list_summary, **options)
    async def list_items(self: Controller, page: Page, service: Collection) -> OffsetPagination[Public]:
        return await service.list_page(page)

    @post(summary=create_summary, guards=[permits(creates)], response_headers=[LOCATION, ETAG], **options)
    async def create_item(
        self: Controller,
        request: Request[Any, Any, Any],
        data: JSONBody[Create],
        service: Collection,
        db_session: Session,
        current_user: CurrentUser,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Public]:
        async def create() -> Response[Any]:
            created = await service.create_item(current_user, data)
            return _created(created, f"{request.url.path.rstrip('/')}/{_id(created)}")

        return await created_once(db_session, current_user, idempotency_key, request, create)

    return list_items, create_item


def child_routes(
    children: str,
    kind: type[ChildService],
    public: type[BaseModel],
    create: type[BaseModel],
    summaries: tuple[str, str],
    *,
    creates: Operation,
) -> tuple[HTTPRouteHandler, HTTPRouteHandler]:
    """GET (a page, with the total) and POST of `/{item_id}/{children}`: the things under one of the
    controller's things, with `summaries` in that order. A child lives at `/{children}/{id}` (its
    `Location`); whom the policy never lets `creates` is refused before the body."""
    namespace = {"Children": _dependency(kind), "Public": public, "Create": create}
    list_summary, create_summary = summaries
    path = f"/{{item_id:int}}/{children}"
    options: dict[str, Any] = {"signature_namespace": namespace, "dependencies": services(service=kind)}

    @get(path, summary=list_summary, **options)
    async def list_children(self: Controller, item_id: Id, page: Page, service: Children) -> OffsetPagination[Public]:
        return await service.list_page(page, item_id)

    @post(path, summary=create_summary, guards=[permits(creates)], response_headers=[LOCATION, ETAG], **options)
    async def create_child(
        self: Controller,
        request: Request[Any, Any, Any],
        item_id: Id,
        data: JSONBody[Create],
        service: Children,
        db_session: Session,
        current_user: CurrentUser,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Public]:
        async def create() -> Response[Any]:
            created = await service.create_item(current_user, item_id, data)
            return _created(created, f"/{children}/{_id(created)}")

        return await created_once(db_session, current_user, idempotency_key, request, create)

    return list_children, create_child


def _id(created: BaseModel) -> int:
    identifier = getattr(created, "id", None)
    if not isinstance(identifier, int):
        raise TypeError(f"{type(created).__name__} has no id to give as its Location")
    return identifier


def _created(created: BaseModel, location: str) -> Response[Any]:
    return tagged(created, HTTP_201_CREATED, {"Location": location})


def _dependency(kind: type[Any]) -> Any:
    """`NamedDependency[kind]`, for a service type known only when the routes are made."""
    return cast(Any, NamedDependency)[kind]


def _provide(kind: type[Any]) -> Provide:
    async def open_service(db_session: Session) -> Any:
        return kind(session=db_session)

    return Provide(open_service)
