"""The audit log (admins)."""

from __future__ import annotations

from typing import Annotated

from advanced_alchemy.service import OffsetPagination
from litestar import get
from litestar.params import QueryParameter

from api.controllers import AdminsOnly
from api.params import OptionalId, Page, Session
from scheduler.accounts import audit
from scheduler.accounts.audit import AuditEntryPublic


class AuditController(AdminsOnly):
    path = "/audit"
    tags = ("audit",)

    @get(summary="Who changed what, newest first (admins)")
    async def entries(
        self,
        db_session: Session,
        page: Page,
        entity: Annotated[str | None, QueryParameter(max_length=32, pattern=r"^[^\x00]*$")] = None,
        entity_id: Annotated[str | None, QueryParameter(max_length=64, pattern=r"^[^\x00]*$")] = None,
        user_id: OptionalId = None,
    ) -> OffsetPagination[AuditEntryPublic]:
        return await audit.entries(db_session, page, entity=entity, entity_id=entity_id, user_id=user_id)
