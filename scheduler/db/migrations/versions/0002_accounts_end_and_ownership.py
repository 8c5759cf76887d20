"""Accounts that can be ended (token versions), equipment kept by a facility, confirmed bonus facts, run attempts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user") as table:
        table.add_column(sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("equipment") as table:
        table.add_column(sa.Column("facility_id", sa.Integer(), nullable=True))
        table.create_index(op.f("ix_equipment_facility_id"), ["facility_id"], unique=False)
        table.create_foreign_key("fk_equipment_facility_id_facility", "facility", ["facility_id"], ["id"])
    with op.batch_alter_table("proposal") as table:
        table.add_column(sa.Column("bonus_facts_confirmed", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("solverun") as table:
        table.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("solverun") as table:
        table.drop_column("attempts")
    with op.batch_alter_table("proposal") as table:
        table.drop_column("bonus_facts_confirmed")
    with op.batch_alter_table("equipment") as table:
        table.drop_constraint("fk_equipment_facility_id_facility", type_="foreignkey")
        table.drop_index(op.f("ix_equipment_facility_id"))
        table.drop_column("facility_id")
    with op.batch_alter_table("user") as table:
        table.drop_column("token_version")
