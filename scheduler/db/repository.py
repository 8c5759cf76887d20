"""One shape for the services that keep table rows: an advanced-alchemy repository service
plus the three things every domain write does here (a 404 that names the noun, a page with
its total, an audit entry in the caller's transaction).

Subclasses name their table (the type argument) and `noun` and override only real domain rules; the repository
class is made from `table`. The base is typed `[Any, Any]` because SQLModel tables do not
declare `__table__`/`__mapper__` statically, so mypy refuses them as advanced-alchemy's
`ModelProtocol`; `TableT` keeps this class's own methods typed.

The audit entry is written here, in the same transaction as the change itself, so a change and its
entry are committed or rolled back together: the log never claims a change that did not happen,
nor misses one. It lives beside the base (not in `accounts`) so that every domain, accounts'
own services included, can stand on this base without an import cycle.

A write checks its rules on rows it holds (`locked`, `lock_all`): on PostgreSQL they are read afresh and
locked (`SELECT … FOR UPDATE`; a round's row `FOR NO KEY UPDATE`) until the transaction ends, so a concurrent
write of them waits and then checks what this one left; SQLite has no row locks, and there the API's write
requests take turns (`api.database`). Locks are taken parent first (a round before its proposals), rows of one
table in id order, so two writes never wait for each other; proposal writes take their round's row last
(`scheduler.proposals.offer`), and the database's deadlock check and the API's retry settle the rare write that
takes a round first and then one of its proposals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, ClassVar, Generic, TypeVar, cast, get_args

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import OffsetPagination, SQLAlchemyAsyncRepositoryService
from pydantic import BaseModel
from sqlalchemy import Select, bindparam, func, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key
from sqlmodel import SQLModel

from scheduler.accounts.schemas import Claims
from scheduler.db.tables import AuditEntry, Round, now
from scheduler.errors import NotFound, PreconditionFailed, found
from scheduler.fields import Update

TableT = TypeVar("TableT", bound=SQLModel)
PublicT = TypeVar("PublicT", bound=BaseModel)

Expected = frozenset[int] | None
"""The versions a write is conditional on (HTTP's If-Match): the row must be at one of them; None for any."""


def require_version(row: SQLModel, expected: Expected) -> None:
    """PreconditionFailed unless the row is at an `expected` version. Called on the row the write holds, just before
    it writes: the row's UPDATE checks the same version in its WHERE (`Versioned`), so no change slips between."""
    version = getattr(row, "version")  # noqa: B009 (every Versioned table has it; SQLModel declares none)
    if expected is not None and version not in expected:
        shown = ", ".join(f'"{number}"' for number in sorted(expected)) or "no version"
        raise PreconditionFailed(
            f'{type(row).__name__.lower()} {row_id(row)} is at version "{version}", not {shown}: '
            "someone changed it since you read it; read it again"
        )


def bump_version(row: SQLModel) -> None:
    """Counts a change the row's own columns do not show (its children rewritten), so its ETag moves too."""
    setattr(row, "version", getattr(row, "version") + 1)  # noqa: B009, B010


def after_last(position: Any, *where: Any) -> Select[int]:
    """The position after the last `position` among the rows `where` selects (0 for none): never a count, which
    gives a position twice once a row is gone. Read under the rows' parent's lock."""
    return select(func.coalesce(func.max(position), -1) + 1).where(*where)


async def next_position(session: AsyncSession, position: Any, *where: Any) -> int:
    """`after_last`, read."""
    return (await session.execute(after_last(position, *where))).scalar_one()


RowT = TypeVar("RowT", bound=SQLModel)


async def locked(session: AsyncSession, table: type[RowT], item_id: int, noun: str) -> RowT:
    """The row as committed now, locked until the transaction ends; NotFound naming the noun when it is gone.

    On SQLite, which has no row locks (the API's write requests take turns instead), a row the session has read and
    not changed is the row as committed now: it is not read again.
    """
    if session.get_bind().dialect.name == "sqlite":
        held = session.sync_session.identity_map.get(identity_key(table, item_id))
        if held is not None and not inspect(held).expired_attributes and not session.is_modified(held):
            return held
    row: RowT | None = await session.scalar(_locking(table), {"ids": [item_id]})
    if row is None:
        raise NotFound(f"no {noun} {item_id}")
    return row


async def lock_all(session: AsyncSession, table: type[RowT], item_ids: Iterable[int]) -> list[RowT]:
    """Locks the rows that exist of `item_ids`, in id order, and refreshes those the caller holds; returns them, as
    committed now (the session keeps only rows someone holds: a later `get` of a row let go reads it again)."""
    return list((await session.execute(_locking(table), {"ids": sorted(set(item_ids))})).scalars())


@cache
def _locking(table: type[RowT]) -> Select[Any]:
    """The locking read of `table`'s rows `ids`, built once per table: building it cost a quarter of a millisecond of
    CPU, as much as running it (a write takes one to three).

    A round's row is locked `FOR NO KEY UPDATE`: every write of a round changes its columns, never its key, and so
    does not wait for, nor hold up, the proposals and requests being added to it meanwhile (their foreign keys
    share the row's key); those writes take the round's row at their end (`scheduler.proposals.offer`)."""
    key = cast(Any, table).id
    return (
        select(table)
        .where(key.in_(bindparam("ids", expanding=True)))
        .order_by(key)
        .with_for_update(key_share=table is Round)
        .execution_options(populate_existing=True)
    )


async def record(
    session: AsyncSession,
    user_id: int | None,
    action: str,
    entity: str,
    entity_id: int | str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Writes the entry in the caller's transaction, so it is kept exactly when the change is. `detail` must be JSON.

    A plain INSERT, not an ORM object: added to the session, an entry cost a write a tenth of its CPU (its flush's
    unit of work, and the id read back that nobody reads)."""
    await record_entry(session, entry(user_id, action, entity, entity_id, detail))


async def record_entry(session: AsyncSession, row: Mapping[str, Any]) -> None:
    """`record` of an entry's row made by `entry`."""
    await (await session.connection()).execute(_ENTRY_ADDED, row)


def entry(
    user_id: int | None, action: str, entity: str, entity_id: int | str, detail: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An audit entry's row as `record` writes it, for a write that stores it in a statement of its own making
    (`scheduler.proposals.children`)."""
    return {
        "at": now(),
        "user_id": user_id,
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id),
        "detail": detail or {},
    }


_ENTRY_ADDED = insert(AuditEntry).inline()
"""Inline: no id is read back (SQLAlchemy otherwise asks for it with RETURNING)."""


def _named_table(service: type) -> type[SQLModel] | None:
    """The table class among the first type arguments of the bases the service class itself declares, if any (a
    generic base such as the catalogue's names a type variable there, not a table)."""
    for base in service.__dict__.get("__orig_bases__", ()):
        arguments = get_args(base)
        if arguments and isinstance(arguments[0], type) and issubclass(arguments[0], SQLModel):
            return arguments[0]
    return None


class TableService(SQLAlchemyAsyncRepositoryService[Any, Any], Generic[TableT]):
    """Rows of `table`; `noun` names them in 404s and audit entries ("facility" → "facility.create")."""

    table: ClassVar[type[SQLModel]]
    noun: ClassVar[str]
    expected: Expected = None
    """The versions this request's change or delete of a row is conditional on (set by the API from If-Match)."""
    count_with_window_function = False
    """The total is counted apart from the page, so a page past the end still says how many there are."""

    def __init__(self, session: AsyncSession, **options: Any) -> None:
        """As advanced-alchemy's service, but its repository raises SQLAlchemy's errors as they are, not wrapped: a
        lost connection wrapped as an integrity error would be answered 409 instead of recovered from
        (`api.database`), and the API answers integrity errors (409) and bad values (422) itself (`api.problems`)."""
        super().__init__(session, **({"wrap_exceptions": False} | options))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass that names its table as its base's first type argument (`TableService[Facility]`) gets `table`
        and a repository of it from there, so the table is named once."""
        super().__init_subclass__(**kwargs)
        table = _named_table(cls)
        if table is not None:
            cls.table = table
            repository = {"model_type": table}
            cls.repository_type = type(f"{cls.__name__}Repository", (SQLAlchemyAsyncRepository,), repository)

    async def row(self, item_id: int) -> TableT:
        """The row, or NotFound naming the noun."""
        return cast(TableT, await found(self.repository.session, self.table, item_id, self.noun))

    async def locked_row(self, item_id: int) -> TableT:
        """The row as committed now, locked for this transaction's write (`locked`), or NotFound naming the noun."""
        return cast(TableT, await locked(self.repository.session, self.table, item_id, self.noun))

    async def page(self, page: LimitOffset, statement: Select[Any], schema: type[PublicT]) -> OffsetPagination[PublicT]:
        """One page of `statement`'s rows (filtered and ordered by the caller) and the total past the page."""
        rows, total = await self.get_many_and_count(page, statement=statement)
        return OffsetPagination(
            items=[schema.model_validate(row) for row in rows], limit=page.limit, offset=page.offset, total=total
        )

    async def add(self, actor: Claims, row: TableT, detail: dict[str, Any]) -> TableT:
        added: TableT = await self.create(row)
        await record(self.repository.session, actor.user_id, f"{self.noun}.create", self.noun, row_id(added), detail)
        return added

    async def change(
        self, actor: Claims, row: TableT, changes: dict[str, Any], detail: dict[str, Any], action: str = "update"
    ) -> TableT:
        """Sets `changes` on the row, on the version `expected`, and counts a change of version (what belongs to
        the row may have changed though its columns did not); `detail` is what the audit entry keeps (JSON)."""
        require_version(row, self.expected)
        for name, value in changes.items():
            setattr(row, name, value)
        bump_version(row)
        await record(self.repository.session, actor.user_id, f"{self.noun}.{action}", self.noun, row_id(row), detail)
        await self.repository.session.flush()
        return row

    async def patch(self, actor: Claims, row: TableT, data: Update) -> TableT:
        """A partial change as the caller sent it (`Update`), kept in the audit entry as sent."""
        return await self.change(actor, row, data.changes(), data.model_dump(mode="json", exclude_unset=True))

    async def remove(self, actor: Claims, row: TableT, detail: dict[str, Any]) -> None:
        """Deletes the row, on the version `expected`."""
        require_version(row, self.expected)
        identifier = row_id(row)
        await self.repository.session.delete(row)
        await record(self.repository.session, actor.user_id, f"{self.noun}.delete", self.noun, identifier, detail)
        await self.repository.session.flush()


def row_id(row: SQLModel) -> int:
    identifier = getattr(row, "id", None)
    assert isinstance(identifier, int), "flushed rows have ids"
    return identifier
