"""The route of every list that belongs to one round (its ranking, its nightly runs), written once: a page of what
a domain function lists of the round the path names, with the total."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from litestar import Controller, get
from litestar.handlers import HTTPRouteHandler
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.params import CurrentUser, Id, Page, Session
from scheduler.accounts.schemas import Claims

RoundLister = Callable[[AsyncSession, Claims, int, LimitOffset], Awaitable[OffsetPagination[Any]]]
"""(session, actor, round id, page) -> that page of the round's things; the function checks the actor may read them."""
Row = BaseModel


def round_list(path: str, name: str, lister: RoundLister, row: type[Any], **options: Any) -> HTTPRouteHandler:
    """GET `path` (which names `{round_id}`): a page of `row`s as `lister` answers it. The handler is called
    `name`, which makes the operation's id; `options` are the route's (summary, description, guards)."""

    async def list_of_round(
        self: Controller, round_id: Id, db_session: Session, current_user: CurrentUser, page: Page
    ) -> OffsetPagination[Row]:
        return await lister(db_session, current_user, round_id, page)

    list_of_round.__name__ = name
    return get(path, signature_namespace={"Row": row}, **options)(list_of_round)
