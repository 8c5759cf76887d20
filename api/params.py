"""Parameters and dependencies the controllers share; numbers are bounded so the database never sees one it rejects."""

from __future__ import annotations

from typing import Annotated

from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from scheduler.accounts import Claims
from scheduler.fields import MAX_INT

Id = Annotated[int, PathParameter(ge=1, le=MAX_INT)]
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="At most this many items.")]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_INT, description="Skip this many items first.")]
OptionalId = Annotated[int | None, QueryParameter(ge=1, le=MAX_INT)]

Session = NamedDependency[AsyncSession]
"""`db_session`: the request's transaction, committed when the handler returns."""
CurrentUser = NamedDependency[Claims]
"""`current_user`: the caller, from the bearer token (401 without one)."""
