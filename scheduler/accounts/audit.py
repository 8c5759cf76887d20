"""The audit log read back: who changed what, newest first.

Entries are written by `scheduler.db.repository.record`, in the same transaction as the change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.repository import TableService
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


class AuditService(TableService[AuditEntry]):
    noun = "audit entry"


async def entries(
    session: AsyncSession,
    page: LimitOffset,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    user_id: int | None = None,
) -> OffsetPagination[AuditEntryPublic]:
    """Newest first, so the latest changes are on the first page; each filter given narrows the list."""
    given = {"entity": entity, "entity_id": entity_id, "user_id": user_id}
    query = (
        select(AuditEntry)
        .filter_by(**{column: value for column, value in given.items() if value is not None})
        .order_by(col(AuditEntry.id).desc())
    )
    return await AuditService(session=session).page(page, query, AuditEntryPublic)
