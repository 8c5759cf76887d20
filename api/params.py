"""Parameters and dependencies the controllers share; numbers are bounded so the database never sees one it rejects."""

from __future__ import annotations

from typing import Annotated

from advanced_alchemy.filters import LimitOffset
from litestar.di import NamedDependency, Provide
from litestar.params import PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.accounts.schemas import Claims
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
PAGE = {"page": Provide(provide_page)}
"""Register on the app (or a controller) once; handlers then take `page: Page`."""
