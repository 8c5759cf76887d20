"""The audit log: who changed what, written in the same transaction as the change itself.

Writing in the same transaction means a change and its entry are committed or rolled
back together, so the log never claims a change that did not happen, nor misses one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import OffsetPagination, SQLAlchemyAsyncRepositoryService
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.tables import AuditEntry


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    user_id: int | None
    action: str
    entity: str
    entity_id: str
    detail: dict[str, Any]


def record(
    session: AsyncSession,
    user_id: int | None,
    action: str,
    entity: str,
    entity_id: int | str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Adds the entry to the session; the caller's commit writes it with the change. `detail` must be JSON."""
    session.add(
        AuditEntry(user_id=user_id, action=action, entity=entity, entity_id=str(entity_id), detail=detail or {})
    )


class AuditService(SQLAlchemyAsyncRepositoryService[Any, Any]):
    """Audit entries' rows (SQLModel tables are not advanced-alchemy's `ModelProtocol`, hence `Any`)."""

    class Repo(SQLAlchemyAsyncRepository[Any]):
        model_type = AuditEntry

    repository_type = Repo
    count_with_window_function = False
    """The total is counted apart from the page, so a page past the end still says how many there are."""


async def entries(
    session: AsyncSession,
    page: LimitOffset,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    user_id: int | None = None,
) -> OffsetPagination[AuditEntryPublic]:
    """Newest first, so the latest changes are on the first page."""
    query: Select[Any] = select(AuditEntry).order_by(col(AuditEntry.id).desc())
    if entity is not None:
        query = query.where(col(AuditEntry.entity) == entity)
    if entity_id is not None:
        query = query.where(col(AuditEntry.entity_id) == entity_id)
    if user_id is not None:
        query = query.where(col(AuditEntry.user_id) == user_id)
    rows, total = await AuditService(session=session).list_and_count(page, statement=query)
    return OffsetPagination(
        items=[AuditEntryPublic.model_validate(row) for row in rows], limit=page.limit, offset=page.offset, total=total
    )
