"""The routes every kept thing has, written once: read one, change it, delete it
(`item_routes`), and for top-level things list them and create one (`collection_routes`).

A controller gets its domain service as the dependency `service` (`services`) and takes
the routes from these functions. The handlers name their types by the placeholders
`Items`, `Public` and `Change`, which Litestar resolves per controller through the
handler's signature namespace, so the OpenAPI document shows each noun's own schemas.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from litestar import Controller, HttpMethod, delete, get, post, route
from litestar.di import NamedDependency, Provide
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody
from pydantic import BaseModel

from api.params import CurrentUser, Id, Page, Session
from scheduler.accounts.schemas import Claims


class ItemService(Protocol):
    """What a domain service offers for one of its things, by id."""

    async def read(self, item_id: int, /) -> BaseModel: ...

    async def update_item(self, actor: Claims, item_id: int, data: Any, /) -> BaseModel: ...

    async def delete_item(self, actor: Claims, item_id: int, /) -> None: ...


class CollectionService(Protocol):
    """What a domain service of top-level things (no parent in the path) offers for all of them."""

    async def list_page(self, page: LimitOffset, /) -> OffsetPagination[Any]: ...

    async def create_item(self, actor: Claims, data: Any, /) -> BaseModel: ...


Items = NamedDependency[ItemService]
Collection = NamedDependency[CollectionService]
Public = BaseModel
Change = BaseModel
Create = BaseModel


def services(**kinds: type[Any]) -> dict[str, Provide]:
    """Dependencies named as the keywords: each a domain service opened on the request's transaction."""
    return {name: _provide(kind) for name, kind in kinds.items()}


def _provide(kind: type[Any]) -> Provide:
    async def open_service(db_session: Session) -> Any:
        return kind(session=db_session)

    return Provide(open_service)


def item_routes(
    kind: type[ItemService],
    public: type[BaseModel],
    change: type[BaseModel],
    summaries: tuple[str, str, str],
    *,
    replace: bool = False,
) -> tuple[HTTPRouteHandler, HTTPRouteHandler, HTTPRouteHandler]:
    """GET, PATCH (PUT when `replace`: the body is the whole thing) and DELETE of `/{item_id}`.

    `summaries` are the OpenAPI summaries of the three, in that order.
    """
    namespace = {"Items": cast(Any, NamedDependency)[kind], "Public": public, "Change": change}
    read_summary, change_summary, delete_summary = summaries

    @get("/{item_id:int}", summary=read_summary, signature_namespace=namespace)
    async def read_item(self: Controller, item_id: Id, service: Items) -> Public:
        return await service.read(item_id)

    @route(
        "/{item_id:int}",
        http_method=HttpMethod.PUT if replace else HttpMethod.PATCH,
        summary=change_summary,
        signature_namespace=namespace,
    )
    async def change_item(
        self: Controller,
        item_id: Id,
        data: JSONBody[Change],
        service: Items,
        current_user: CurrentUser,
    ) -> Public:
        return await service.update_item(current_user, item_id, data)

    @delete("/{item_id:int}", summary=delete_summary, signature_namespace=namespace)
    async def delete_item(self: Controller, item_id: Id, service: Items, current_user: CurrentUser) -> None:
        await service.delete_item(current_user, item_id)

    return read_item, change_item, delete_item


def collection_routes(
    kind: type[CollectionService], public: type[BaseModel], create: type[BaseModel], summaries: tuple[str, str]
) -> tuple[HTTPRouteHandler, HTTPRouteHandler]:
    """GET (a page, with the total) and POST of the controller's path; `summaries` of the two, in that order."""
    namespace = {"Collection": cast(Any, NamedDependency)[kind], "Public": public, "Create": create}
    list_summary, create_summary = summaries

    @get(summary=list_summary, signature_namespace=namespace)
    async def list_items(self: Controller, page: Page, service: Collection) -> OffsetPagination[Public]:
        return await service.list_page(page)

    @post(summary=create_summary, signature_namespace=namespace)
    async def create_item(
        self: Controller, data: JSONBody[Create], service: Collection, current_user: CurrentUser
    ) -> Public:
        return await service.create_item(current_user, data)

    return list_items, create_item
