"""Accounts that can be ended (token versions), equipment kept by a facility, confirmed bonus facts, run attempts."""

import sqlalchemy as sa
from alembic import op

from scheduler.db.migrations.shapes import add_columns, drop_columns, flag, integer

revision: str = "0002"
down_revision: str | None = "0001"


def upgrade() -> None:
    add_columns("user", integer("token_version", server_default="0"))
    with op.batch_alter_table("equipment") as table:
        table.add_column(integer("facility_id", nullable=True))
        table.create_index(op.f("ix_equipment_facility_id"), ["facility_id"], unique=False)
        table.create_foreign_key("fk_equipment_facility_id_facility", "facility", ["facility_id"], ["id"])
    add_columns("proposal", flag("bonus_facts_confirmed", server_default=sa.false()))
    add_columns("solverun", integer("attempts", server_default="0"))


def downgrade() -> None:
    drop_columns("solverun", "attempts")
    drop_columns("proposal", "bonus_facts_confirmed")
    with op.batch_alter_table("equipment") as table:
        table.drop_constraint("fk_equipment_facility_id_facility", type_="foreignkey")
        table.drop_index(op.f("ix_equipment_facility_id"))
        table.drop_column("facility_id")
    drop_columns("user", "token_version")
