"""The shapes the migrations write again and again, frozen: each emits the DDL it emitted when the migrations
were written.

They stand apart from the live tables (`scheduler.db.tables`) on purpose: a migration must
build the same schema whatever the models become later. Columns are NOT NULL unless said;
string columns are SQLModel's `AutoString`, and indexes are named `ix_<table>_<column>`, as
autogenerate wrote them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


def integer(name: str, *, nullable: bool = False, server_default: str | None = None) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=nullable, server_default=server_default)


def text(name: str, length: int | None = None, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def flag(name: str, *, nullable: bool = False, server_default: sa.ColumnElement[bool] | None = None) -> sa.Column[bool]:
    return sa.Column(name, sa.Boolean(), nullable=nullable, server_default=server_default)


def number(name: str, *, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Float(), nullable=nullable)


def json(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.JSON(), nullable=nullable)


def moment(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    """A time with its zone (the live tables' `UTCDateTime` stores these)."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def references(column: str, table: str) -> sa.ForeignKeyConstraint:
    """`column` holds an id of `table`."""
    return sa.ForeignKeyConstraint([column], [f"{table}.id"])


def index(table: str, column: str, *, unique: bool = False) -> None:
    op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=unique)


def add_columns(table: str, *columns: sa.Column[Any]) -> None:
    """In one batch, so that SQLite copies the table once."""
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.add_column(column)


def drop_columns(table: str, *names: str) -> None:
    """In one batch, so that SQLite copies the table once."""
    with op.batch_alter_table(table) as batch:
        for name in names:
            batch.drop_column(name)
