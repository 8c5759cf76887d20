"""Proposals remember whether a proposer submitted them through the API (their people's countries then count only as
their accounts confirm them) or a coordinator's round file brought them; stored ones are told apart by the audit log.
"""

import sqlalchemy as sa
from alembic import op

from scheduler.db.migrations.shapes import add_columns, drop_columns, flag

revision: str = "0005"
down_revision: str | None = "0004"


def upgrade() -> None:
    add_columns("proposal", flag("submitted", server_default=sa.false()))
    op.execute(
        sa.text(
            "UPDATE proposal SET submitted = true WHERE CAST(id AS VARCHAR(64)) IN "
            "(SELECT entity_id FROM auditentry WHERE action = 'proposal.submit' AND entity = 'proposal')"
        )
    )


def downgrade() -> None:
    drop_columns("proposal", "submitted")
