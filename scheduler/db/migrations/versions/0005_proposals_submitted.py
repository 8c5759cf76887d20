"""Proposals remember whether a proposer submitted them through the API (their people's countries then count only as
their accounts confirm them) or a coordinator's round file brought them; stored ones are told apart by the audit log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("proposal") as table:
        table.add_column(sa.Column("submitted", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        sa.text(
            "UPDATE proposal SET submitted = true WHERE CAST(id AS VARCHAR(64)) IN "
            "(SELECT entity_id FROM auditentry WHERE action = 'proposal.submit' AND entity = 'proposal')"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("proposal") as table:
        table.drop_column("submitted")
