"""Fair return across rounds (issue 13): a consortium's policy, configured once, that rounds refer to; and a round's
`fair_return` as its imported round file gave it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fairreturnpolicy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("attribution", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("price_per_shift", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("round") as table:
        table.add_column(sa.Column("fair_return_policy_id", sa.Integer(), nullable=True))
        table.add_column(sa.Column("fair_return", sa.JSON(), nullable=True))
        table.create_index("ix_round_fair_return_policy_id", ["fair_return_policy_id"], unique=False)
        table.create_foreign_key(
            "fk_round_fair_return_policy_id_fairreturnpolicy", "fairreturnpolicy", ["fair_return_policy_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("round") as table:
        table.drop_constraint("fk_round_fair_return_policy_id_fairreturnpolicy", type_="foreignkey")
        table.drop_index("ix_round_fair_return_policy_id")
        table.drop_column("fair_return")
        table.drop_column("fair_return_policy_id")
    op.drop_table("fairreturnpolicy")
