"""Calendar feed tokens kept as SHA-256 hashes: a copy of the database no longer opens anyone's feed.

Existing tokens are hashed in place, so the addresses calendar apps hold keep working.
A user without a feed has no hash (NULL) until they make one. Going back cannot
recover the tokens: every user gets a new one, and the old addresses stop working.
"""

import hashlib
import secrets
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from scheduler.db.migrations.shapes import index

revision: str = "0003"
down_revision: str | None = "0002"


def _sha256(token: str) -> str:
    """As `scheduler.schedules.calendar.token_hash` computes it, frozen here."""
    return hashlib.sha256(token.encode()).hexdigest()


def _rewrite(column: str, value: Callable[[str | None], str]) -> None:
    """Each user's `column` replaced by `value(old value)`."""
    user = sa.table("user", sa.column("id", sa.Integer()), sa.column(column, sa.String(64)))
    bind = op.get_bind()
    rows = bind.execute(sa.select(user.c.id, user.c[column])).all()
    if rows:
        bind.execute(
            user.update().where(user.c.id == sa.bindparam("user_id")).values({column: sa.bindparam("new_value")}),
            [{"user_id": user_id, "new_value": value(old)} for user_id, old in rows],
        )


def upgrade() -> None:
    _rewrite("calendar_token", lambda token: _sha256(token or secrets.token_urlsafe(32)))
    with op.batch_alter_table("user") as table:
        table.drop_index("ix_user_calendar_token")
        table.alter_column(
            "calendar_token", new_column_name="calendar_token_hash", existing_type=sa.String(64), nullable=True
        )
    index("user", "calendar_token_hash", unique=True)


def downgrade() -> None:
    _rewrite("calendar_token_hash", lambda _hash: secrets.token_urlsafe(32))
    with op.batch_alter_table("user") as table:
        table.drop_index(op.f("ix_user_calendar_token_hash"))
        table.alter_column(
            "calendar_token_hash", new_column_name="calendar_token", existing_type=sa.String(64), nullable=False
        )
    op.create_index("ix_user_calendar_token", "user", ["calendar_token"], unique=True)
