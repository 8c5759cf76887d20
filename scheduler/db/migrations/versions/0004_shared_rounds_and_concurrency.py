"""Shared rounds and what people send (sign-offs, admissibility, confirmed facts, voided reviews, identities by
e-mail) and nothing lost under concurrency (a version per editable row, idempotency keys, the input revision a
solve read).

Proposal types already stored count as confirmed: they were accepted before confirmation existed.
"""

import sqlalchemy as sa
from alembic import op

from scheduler.db.migrations.shapes import add_columns, drop_columns, flag, integer, json, moment, references, text

revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    op.create_table(
        "idempotencykey",
        integer("id"),
        integer("user_id"),
        text("key", 128),
        text("request", 64),
        integer("status_code"),
        json("body", nullable=True),
        text("location", 512, nullable=True),
        moment("created_at"),
        references("user_id", "user"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "key"),
    )
    with op.batch_alter_table("idempotencykey") as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotencykey_created_at"), ["created_at"], unique=False)

    op.create_table(
        "schedulesignoff",
        integer("id"),
        integer("schedule_version_id"),
        integer("facility_id"),
        integer("user_id"),
        moment("at"),
        references("facility_id", "facility"),
        references("schedule_version_id", "scheduleversion"),
        references("user_id", "user"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_version_id", "facility_id"),
    )
    with op.batch_alter_table("schedulesignoff") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_schedulesignoff_schedule_version_id"), ["schedule_version_id"], unique=False
        )

    add_columns("equipment", integer("version", server_default="1"))
    add_columns("facility", integer("version", server_default="1"))
    add_columns("instrument", integer("version", server_default="1"))
    add_columns(
        "proposal",
        text("pi_email", 254, nullable=True),
        flag("type_confirmed", server_default=sa.false()),
        text("inadmissible_reason", nullable=True),
        integer("version", server_default="1"),
    )
    op.execute(sa.text("UPDATE proposal SET type_confirmed = true"))

    add_columns("quota", integer("version", server_default="1"))

    with op.batch_alter_table("review") as batch_op:
        batch_op.add_column(moment("voided_at", nullable=True))
        batch_op.add_column(text("void_reason", nullable=True))
        batch_op.add_column(integer("voided_by", nullable=True))
        batch_op.create_foreign_key("fk_review_voided_by_user", "user", ["voided_by"], ["id"])

    add_columns("round", integer("input_revision", server_default="0"), integer("version", server_default="1"))
    add_columns("solverun", integer("input_revision", nullable=True))
    add_columns("teammember", text("email", 254, nullable=True))
    add_columns(
        "user",
        text("country", 2, nullable=True),
        text("institution", 200, nullable=True),
        flag("country_confirmed", server_default=sa.false()),
    )

    add_columns("window", integer("version", server_default="1"))


def downgrade() -> None:
    drop_columns("window", "version")
    drop_columns("user", "country_confirmed", "institution", "country")
    drop_columns("teammember", "email")
    drop_columns("solverun", "input_revision")
    drop_columns("round", "version", "input_revision")

    with op.batch_alter_table("review") as batch_op:
        batch_op.drop_constraint("fk_review_voided_by_user", type_="foreignkey")
        batch_op.drop_column("voided_by")
        batch_op.drop_column("void_reason")
        batch_op.drop_column("voided_at")

    drop_columns("quota", "version")
    drop_columns("proposal", "version", "inadmissible_reason", "type_confirmed", "pi_email")
    drop_columns("instrument", "version")
    drop_columns("facility", "version")
    drop_columns("equipment", "version")

    with op.batch_alter_table("schedulesignoff") as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedulesignoff_schedule_version_id"))

    op.drop_table("schedulesignoff")
    with op.batch_alter_table("idempotencykey") as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotencykey_created_at"))

    op.drop_table("idempotencykey")
