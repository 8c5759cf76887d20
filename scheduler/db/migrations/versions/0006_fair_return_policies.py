"""Fair return across rounds (issue 13): a consortium's policy, configured once, that rounds refer to; and a round's
`fair_return` as its imported round file gave it.
"""

import sqlalchemy as sa
from alembic import op

from scheduler.db.migrations.shapes import integer, json, moment, number, text

revision: str = "0006"
down_revision: str | None = "0005"


def upgrade() -> None:
    op.create_table(
        "fairreturnpolicy",
        integer("id"),
        text("name", 200),
        json("targets"),
        text("attribution", 8),
        number("price_per_shift", nullable=True),
        integer("version"),
        moment("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("round") as table:
        table.add_column(integer("fair_return_policy_id", nullable=True))
        table.add_column(json("fair_return", nullable=True))
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
