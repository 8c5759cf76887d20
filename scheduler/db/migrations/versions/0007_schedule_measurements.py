"""A version no solve made (an imported round's published schedule) is measured once, when it is stored, and the
measurement kept with the round's inputs it was made at, so a round page's first view reads it instead of scoring
and explaining the whole round (issue 12).

Nothing is measured on upgrade: a version without a stored measurement is measured when first read, as before.
"""

import sqlalchemy as sa
from alembic import op

from scheduler.db.migrations.shapes import integer, json, moment, references, text

revision: str = "0007"
down_revision: str | None = "0006"


def upgrade() -> None:
    op.create_table(
        "schedulemeasurement",
        integer("schedule_version_id"),
        json("round_inputs"),
        text("digest", 64),
        json("schedule"),
        moment("measured_at"),
        references("schedule_version_id", "scheduleversion"),
        sa.PrimaryKeyConstraint("schedule_version_id"),
    )


def downgrade() -> None:
    op.drop_table("schedulemeasurement")
