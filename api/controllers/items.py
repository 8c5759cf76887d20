"""The routes every kept thing has, written once, for any domain service that offers them:
read one, change it, delete it (`item_routes`); list them and create one, at the top level
(`collection_routes`) or under the thing they belong to (`child_routes`).

Each route opens its service on the request's transaction as the dependency `service`; things under a parent
get theirs bound to the parent the path names, so one list and one create handler serve both. A thing is
answered with its version as `ETag`; a change or delete with `If-Match` is made only on a version it names (412
otherwise), and a create with an `Idempotency-Key` happens once per key (`api.params.CreateOnce`).
The handlers name their types by placeholders (`Public`, `Change`, `Create` and the
service's), which Litestar resolves per route through the handler's signature namespace,
so the OpenAPI document shows each noun's own schemas.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol, cast

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from litestar import Controller, HttpMethod, Response, delete, get, post, route
from litestar.di import NamedDependency, Provide
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody
from pydantic import BaseModel

from api.concurrency import ETAG, tagged
from api.controllers import LOCATION, permits
from api.params import Creation, CurrentUser, ExpectedVersions, Id, Page, Session
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


@dataclass(frozen=True)
class Kind:
    """A kind of kept thing as the API shows it: the service that keeps it (an `ItemService`; a
    `CollectionService` or `ChildService` where it is listed), its schemas, and what the access policy is asked
    before a body is read: whether the caller may ever make `changes`, and `creates` where creating is another
    operation."""

    service: type[Any]
    public: type[BaseModel]
    create: type[BaseModel]
    change: type[BaseModel]
    changes: Operation
    creates: Operation | None = None

    def kept_by(self, service: type[Any]) -> Kind:
        """The same things as another service keeps them (windows, as a facility's or an instrument's)."""
        return replace(self, service=service)


@dataclass(frozen=True)
class _Children:
    """A child service bound to the parent the path names: that parent's collection."""

    service: ChildService
    parent_id: int

    async def list_page(self, page: LimitOffset, /) -> OffsetPagination[Any]:
        return await self.service.list_page(page, self.parent_id)

    async def create_item(self, actor: Claims, data: Any, /) -> BaseModel:
        return await self.service.create_item(actor, self.parent_id, data)


Items = NamedDependency[ItemService]
Collection = NamedDependency[CollectionService]
Public = BaseModel
Change = BaseModel
Create = BaseModel


def services(**kinds: type[Any]) -> dict[str, Provide]:
    """Dependencies named as the keywords, for a controller's own handlers: each a domain service."""
    return {name: _provide(kind) for name, kind in kinds.items()}


def changing(**kinds: type[Any]) -> dict[str, Provide]:
    """As `services`, for a handler that changes things: each service makes its changes only on a version
    `If-Match` names (which the handler thereby documents)."""
    return {name: _provide_for_change(kind) for name, kind in kinds.items()}


def item_routes(
    kind: Kind, summaries: tuple[str, str, str], *, replace: bool = False
) -> tuple[HTTPRouteHandler, HTTPRouteHandler, HTTPRouteHandler]:
    """GET, PATCH (PUT when `replace`: the body is the whole thing) and DELETE of `/{item_id}`,
    with `summaries` in that order; whom the policy never lets make `kind.changes` is refused before the body."""
    namespace = {"Items": _dependency(kind.service), "Public": kind.public, "Change": kind.change}
    read_summary, change_summary, delete_summary = summaries
    options: dict[str, Any] = {"signature_namespace": namespace, "dependencies": services(service=kind.service)}
    change_options: dict[str, Any] = {"signature_namespace": namespace, "dependencies": changing(service=kind.service)}

    @get("/{item_id:int}", summary=read_summary, response_headers=[ETAG], **options)
    async def read_item(self: Controller, item_id: Id, service: Items) -> Response[Public]:
        return tagged(await service.read(item_id))

    method = HttpMethod.PUT if replace else HttpMethod.PATCH

    @route(
        "/{item_id:int}",
        http_method=method,
        summary=change_summary,
        guards=[permits(kind.changes)],
        response_headers=[ETAG],
        **change_options,
    )
    async def change_item(
        self: Controller, item_id: Id, data: JSONBody[Change], service: Items, current_user: CurrentUser
    ) -> Response[Public]:
        return tagged(await service.update_item(current_user, item_id, data))

    @delete("/{item_id:int}", summary=delete_summary, **change_options)
    async def delete_item(self: Controller, item_id: Id, service: Items, current_user: CurrentUser) -> None:
        await service.delete_item(current_user, item_id)

    return read_item, change_item, delete_item


def collection_routes(kind: Kind, summaries: tuple[str, str]) -> tuple[HTTPRouteHandler, HTTPRouteHandler]:
    """GET (a page, with the total) and POST of the controller's own path, with `summaries` in that order;
    a new thing lives under the path it was posted to (its `Location`)."""
    return _list_and_create(kind, summaries, None, _provide(kind.service), kind.service, None)


def child_routes(children: str, kind: Kind, summaries: tuple[str, str]) -> tuple[HTTPRouteHandler, HTTPRouteHandler]:
    """GET (a page, with the total) and POST of `/{item_id}/{children}`: the things under one of the
    controller's things (`kind.service` a `ChildService`), with `summaries` in that order. A child lives at
    `/{children}/{id}` (its `Location`)."""

    async def open_children(db_session: Session, item_id: Id) -> _Children:
        return _Children(kind.service(session=db_session), item_id)

    path = f"/{{item_id:int}}/{children}"
    return _list_and_create(kind, summaries, path, Provide(open_children), _Children, f"/{children}")


def _list_and_create(
    kind: Kind, summaries: tuple[str, str], path: str | None, provide: Provide, provided: type[Any], under: str | None
) -> tuple[HTTPRouteHandler, HTTPRouteHandler]:
    """A collection's GET and POST at `path` (the controller's own when None); new things live `under` a path
    (the collection's own when None)."""
    namespace = {"Collection": _dependency(provided), "Public": kind.public, "Create": kind.create}
    options: dict[str, Any] = {"signature_namespace": namespace, "dependencies": {"service": provide}}
    list_summary, create_summary = summaries

    async def list_items(self: Controller, service: Collection, page: Page) -> OffsetPagination[Public]:
        return await service.list_page(page)

    async def create_item(
        self: Controller, data: JSONBody[Create], service: Collection, creation: Creation
    ) -> Response[Public]:
        return await creation.answer(lambda: service.create_item(creation.actor, data), under or creation.here)

    if path is not None:  # the handlers' names make the operations' ids, which clients are generated with
        list_items.__name__, create_item.__name__ = "list_children", "create_child"
    guard = permits(kind.creates or kind.changes)
    return (
        get(path, summary=list_summary, **options)(list_items),
        post(path, summary=create_summary, guards=[guard], response_headers=[LOCATION, ETAG], **options)(create_item),
    )


def _dependency(kind: type[Any]) -> Any:
    """`NamedDependency[kind]`, for a service type known only when the routes are made."""
    return cast(Any, NamedDependency)[kind]


def _provide(kind: type[Any]) -> Provide:
    async def open_service(db_session: Session) -> Any:
        return kind(session=db_session)

    return Provide(open_service)


def _provide_for_change(kind: type[Any]) -> Provide:
    async def open_service(db_session: Session, expected: ExpectedVersions) -> Any:
        service = kind(session=db_session)
        service.expected = expected
        return service

    return Provide(open_service)
