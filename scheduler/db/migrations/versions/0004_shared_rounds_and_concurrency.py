"""Shared rounds and what people send (sign-offs, admissibility, confirmed facts, voided reviews, identities by
e-mail) and nothing lost under concurrency (a version per editable row, idempotency keys, the input revision a
solve read).

Proposal types already stored count as confirmed: they were accepted before confirmation existed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 13:41:51.115020
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotencykey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("request", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "key"),
    )
    with op.batch_alter_table("idempotencykey", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotencykey_created_at"), ["created_at"], unique=False)

    op.create_table(
        "schedulesignoff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_version_id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
        ),
        sa.ForeignKeyConstraint(
            ["schedule_version_id"],
            ["scheduleversion.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_version_id", "facility_id"),
    )
    with op.batch_alter_table("schedulesignoff", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_schedulesignoff_schedule_version_id"), ["schedule_version_id"], unique=False
        )

    with op.batch_alter_table("equipment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))

    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))

    with op.batch_alter_table("instrument", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))

    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pi_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))
        batch_op.add_column(sa.Column("type_confirmed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("inadmissible_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.execute(sa.text("UPDATE proposal SET type_confirmed = true"))

    with op.batch_alter_table("quota", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))

    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("void_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("voided_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_review_voided_by_user", "user", ["voided_by"], ["id"])

    with op.batch_alter_table("round", schema=None) as batch_op:
        batch_op.add_column(sa.Column("input_revision", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))

    with op.batch_alter_table("solverun", schema=None) as batch_op:
        batch_op.add_column(sa.Column("input_revision", sa.Integer(), nullable=True))

    with op.batch_alter_table("teammember", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))

    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True))
        batch_op.add_column(sa.Column("institution", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column("country_confirmed", sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table("window", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("window", schema=None) as batch_op:
        batch_op.drop_column("version")

    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("country_confirmed")
        batch_op.drop_column("institution")
        batch_op.drop_column("country")

    with op.batch_alter_table("teammember", schema=None) as batch_op:
        batch_op.drop_column("email")

    with op.batch_alter_table("solverun", schema=None) as batch_op:
        batch_op.drop_column("input_revision")

    with op.batch_alter_table("round", schema=None) as batch_op:
        batch_op.drop_column("version")
        batch_op.drop_column("input_revision")

    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_constraint("fk_review_voided_by_user", type_="foreignkey")
        batch_op.drop_column("voided_by")
        batch_op.drop_column("void_reason")
        batch_op.drop_column("voided_at")

    with op.batch_alter_table("quota", schema=None) as batch_op:
        batch_op.drop_column("version")

    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.drop_column("version")
        batch_op.drop_column("inadmissible_reason")
        batch_op.drop_column("type_confirmed")
        batch_op.drop_column("pi_email")

    with op.batch_alter_table("instrument", schema=None) as batch_op:
        batch_op.drop_column("version")

    with op.batch_alter_table("facility", schema=None) as batch_op:
        batch_op.drop_column("version")

    with op.batch_alter_table("equipment", schema=None) as batch_op:
        batch_op.drop_column("version")

    with op.batch_alter_table("schedulesignoff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedulesignoff_schedule_version_id"))

    op.drop_table("schedulesignoff")
    with op.batch_alter_table("idempotencykey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotencykey_created_at"))

    op.drop_table("idempotencykey")
