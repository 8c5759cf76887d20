"""Parameters and dependencies the controllers share; numbers are bounded so the database never sees one it rejects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from advanced_alchemy.filters import LimitOffset
from litestar import Request, Response
from litestar.di import NamedDependency, Provide
from litestar.params import PathParameter, QueryParameter
from litestar.status_codes import HTTP_201_CREATED
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import provide_current_user
from api.concurrency import IdempotencyKeyHeader, IfMatch, created_once, expected_versions, tagged
from scheduler.accounts.schemas import Claims
from scheduler.db.repository import Expected
from scheduler.fields import MAX_INT

Id = Annotated[int, PathParameter(ge=1, le=MAX_INT)]
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="At most this many items.")]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_INT, description="Skip this many items first.")]
OptionalId = Annotated[int | None, QueryParameter(ge=1, le=MAX_INT)]

Session = NamedDependency[AsyncSession]
"""`db_session`: the request's transaction, committed when the handler returns."""
CurrentUser = NamedDependency[Claims]
"""`current_user`: the caller, from the bearer token (the auth middleware answers 401 without one)."""


async def provide_page(limit: Limit = 100, offset: Offset = 0) -> LimitOffset:
    """`?limit=&offset=` of every list endpoint, as the filter the domain services page with."""
    return LimitOffset(limit=limit, offset=offset)


Page = NamedDependency[LimitOffset]
"""`page`: which slice of a list to answer; lists answer `OffsetPagination` with the total."""


async def provide_expected(if_match: IfMatch = None) -> Expected:
    """A conditional write's `If-Match`, read once, as the versions the write may be made on."""
    return expected_versions(if_match)


ExpectedVersions = NamedDependency[Expected]
"""`expected`: the versions `If-Match` names (None: any); the write answers 412 on another one."""


@dataclass(frozen=True)
class CreateOnce:
    """A creating request, answered once per `Idempotency-Key` (`api.concurrency.created_once`): 201 with the
    new thing, its `ETag`, and its address as `Location`."""

    request: Request[Any, Any, Any]
    session: AsyncSession
    actor: Claims
    key: str | None

    @property
    def here(self) -> str:
        """The path created things live under when they are created where they are listed."""
        return self.request.url.path.rstrip("/")

    async def answer(self, create: Callable[[], Awaitable[BaseModel]], under: str) -> Response[Any]:
        """`create()`'s thing, at `{under}/{its id}`."""

        async def first_answer() -> Response[Any]:
            created = await create()
            return tagged(created, HTTP_201_CREATED, {"Location": f"{under}/{_id(created)}"})

        return await created_once(self.session, self.actor, self.key, self.request, first_answer)


async def provide_creation(
    request: Request[Any, Any, Any],
    db_session: Session,
    current_user: CurrentUser,
    idempotency_key: IdempotencyKeyHeader = None,
) -> CreateOnce:
    return CreateOnce(request, db_session, current_user, idempotency_key)


Creation = NamedDependency[CreateOnce]
"""`creation`: what a creating handler answers through (`CreateOnce.answer`)."""

DEPENDENCIES = {
    "current_user": Provide(provide_current_user),
    "page": Provide(provide_page),
    "expected": Provide(provide_expected),
    "creation": Provide(provide_creation),
}
"""Register on the app once; handlers then take `current_user`, `page`, `expected` or `creation` by name."""


def _id(created: BaseModel) -> int:
    identifier = getattr(created, "id", None)
    if not isinstance(identifier, int):
        raise TypeError(f"{type(created).__name__} has no id to give as its Location")
    return identifier
