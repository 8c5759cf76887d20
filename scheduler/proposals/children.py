"""A proposal's team, requests and links: its rows of their own, written and deleted as plain statements, and read
back in their order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, bindparam, delete, insert, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import col

from scheduler.db import tables
from scheduler.db.repository import record_entry
from scheduler.proposals.schemas import AfterLinkIn, AllOrNothingLinkIn, ProposalContent


@dataclass(frozen=True)
class Children:
    """A proposal's team, requests and links, in their order, as their rows' values by column name."""

    team: Sequence[Mapping[str, Any]]
    requests: Sequence[Mapping[str, Any]]
    links: Sequence[Mapping[str, Any]]


_REQUEST_FIELDS = {"instruments", "shifts", "min_shifts", "equipment", "earliest", "latest"}
"""A request's columns stored as the proposer sent them."""
_TEAM_ADDED = insert(tables.TeamMember).inline()
_REQUESTS_ADDED = insert(tables.Request).returning(col(tables.Request.id), sort_by_parameter_order=True)
_LINKS_ADDED = insert(tables.Link).inline()


async def write_children(
    session: AsyncSession, proposal: tables.Proposal, data: ProposalContent, entry: Mapping[str, Any]
) -> Children:
    """Requests are stored as `<proposal code>-<label>`, and links name them so; the write's audit entry
    (`scheduler.db.repository.entry`) with them.

    Written as plain INSERTs, not as ORM objects: building and flushing those cost a submission or a rewrite about a
    millisecond of CPU more. On PostgreSQL the entry, team, requests and links of a proposal of a few of each are one
    statement (`_all_at_once`); elsewhere, and for larger proposals, one statement each. The statements are unseen by
    the flush that counts a round's changes: the writer moves the proposal's round itself
    (`scheduler.proposals.offer.held_round`)."""
    proposal_id = proposal.id
    assert proposal_id is not None, "a proposal is stored before its children"

    def code(label: str) -> str:
        return f"{proposal.code}-{label}"

    team = [
        {
            "proposal_id": proposal_id,
            "position": position,
            "name": member.name,
            "institution": member.institution,
            "country": member.country,
            "email": member.email,
        }
        for position, member in enumerate(data.team)
    ]
    requests = [
        {
            "proposal_id": proposal_id,
            "round_id": proposal.round_id,
            "position": position,
            "code": code(request.id),
            **request.model_dump(include=_REQUEST_FIELDS),
            "unavailable": [interval.model_dump(mode="json") for interval in request.unavailable],
        }
        for position, request in enumerate(data.requests)
    ]
    links = [
        {
            "proposal_id": proposal_id,
            "position": position,
            "type": link.type,
            "requests": [code(label) for label in link.requests] if isinstance(link, AllOrNothingLinkIn) else None,
            "first": code(link.first) if isinstance(link, AfterLinkIn) else None,
            "then": code(link.then) if isinstance(link, AfterLinkIn) else None,
            "min_gap_shifts": link.min_gap_shifts if isinstance(link, AfterLinkIn) else 0,
            "max_gap_shifts": link.max_gap_shifts if isinstance(link, AfterLinkIn) else None,
        }
        for position, link in enumerate(data.links)
    ]
    connection = await session.connection()
    if connection.dialect.name == "postgresql" and max(len(team), len(requests), len(links)) <= _AT_ONCE_MOST:
        rows: dict[str, Sequence[Mapping[str, Any]]] = {
            "entry": [entry],
            "team": team,
            "request": requests,
            "link": links,
        }
        statement = _all_at_once(
            tuple((kind, len(of_kind), tuple(of_kind[0]) if of_kind else ()) for kind, of_kind in rows.items())
        )
        parameters = {
            _name(kind, number, column): value
            for kind, of_kind in rows.items()
            for number, row in enumerate(of_kind)
            for column, value in row.items()
        }
        placed = dict((await connection.execute(statement, parameters)).all())  # position → id
        ids: list[Any] = [placed[position] for position in range(len(requests))]
    else:
        await record_entry(session, entry)
        if team:
            await connection.execute(_TEAM_ADDED, team)
        ids = list((await connection.execute(_REQUESTS_ADDED, requests)).scalars())
        if links:
            await connection.execute(_LINKS_ADDED, links)
    requests = [request | {"id": request_id} for request, request_id in zip(requests, ids, strict=True)]
    return Children(team=team, requests=requests, links=links)


_TABLES: dict[str, Any] = {
    "entry": tables.AuditEntry,
    "team": tables.TeamMember,
    "request": tables.Request,
    "link": tables.Link,
}
"""The table of each kind of row `_all_at_once` writes."""


def _name(kind: str, number: int, column: str) -> str:
    return f"{kind}_{number}_{column}"


def _rows(kind: str, count: int, columns: tuple[str, ...]) -> Insert:
    """An INSERT of `count` rows of `kind` into its table's `columns`, whose values are parameters named by `_name`,
    typed as the columns. As `INSERT … SELECT …` rather than a many-rowed `VALUES`: SQLAlchemy caches no statement
    with one of those, and building one cost 3 ms of CPU at each run."""
    table = _TABLES[kind]
    typed = table.__table__.columns
    rows = [
        select(*(bindparam(_name(kind, number, name), type_=typed[name].type) for name in columns))
        for number in range(count)
    ]
    return insert(table).from_select(columns, rows[0] if count == 1 else union_all(*rows))


_AT_ONCE_MOST = 8
"""The most team members, requests or links `_all_at_once` takes. Its statement is built and compiled once per count
of each (4 ms of CPU for a proposal of two or three, 9 ms for eight of each, 105 ms for the largest allowed): the
counts of larger proposals, rare, are not worth a statement of their own, and a proposer sending every count in turn
could make a write cost the event loop at most about 10 ms more."""


@lru_cache(maxsize=64)
def _all_at_once(shape: tuple[tuple[str, int, tuple[str, ...]], ...]) -> ReturningInsert[int, int | None]:
    """The audit entry, team, requests and links as one statement, for PostgreSQL (its data-modifying WITH): one
    round trip, not four. `shape` gives, for each kind of row, their count (at most `_AT_ONCE_MOST`) and the columns
    `write_children` fills; the statement is built once for each (the shapes used last are kept). The requests' ids
    come back with their positions, PostgreSQL promising no order of the rows an INSERT returns."""
    inserts = {kind: _rows(kind, count, columns) for kind, count, columns in shape if count}
    others = [insert_.cte(kind) for kind, insert_ in inserts.items() if kind != "request"]
    return inserts["request"].returning(col(tables.Request.position), col(tables.Request.id)).add_cte(*others)


async def read_children(session: AsyncSession, proposal_id: int) -> Children:
    connection = await session.connection()
    team, requests, links = [
        [dict(row) for row in (await connection.execute(statement, {"proposal_id": proposal_id})).mappings()]
        for statement in _CHILDREN_READ
    ]
    return Children(team=team, requests=requests, links=links)


_CHILDREN_READ = tuple(
    select(table).where(col(table.proposal_id) == bindparam("proposal_id")).order_by(col(table.position))
    for table in (tables.TeamMember, tables.Request, tables.Link)
)
"""A proposal's team, requests and links in their order, as plain statements built once (building them took as
much CPU as running them)."""


_CHILDREN_DELETED = tuple(
    delete(table).where(col(table.proposal_id) == bindparam("proposal_id"))
    for table in (tables.TeamMember, tables.Link, tables.Request)
)
"""A rewritten proposal's team, links and requests, deleted as plain statements built once (SQLAlchemy's ORM would
first look for the rows among those the session holds, which a rewrite has not read)."""
_CHILDREN_DELETED_AT_ONCE = _CHILDREN_DELETED[-1].add_cte(
    *(statement.cte(f"deleted_{number}") for number, statement in enumerate(_CHILDREN_DELETED[:-1]))
)
"""The three as one statement, for PostgreSQL (its data-modifying WITH): one round trip, not three."""


async def delete_children(session: AsyncSession, proposal_id: int) -> None:
    """A rewritten proposal's team, requests and links."""
    connection = await session.connection()
    at_once = connection.dialect.name == "postgresql"
    for statement in (_CHILDREN_DELETED_AT_ONCE,) if at_once else _CHILDREN_DELETED:
        await connection.execute(statement, {"proposal_id": proposal_id})
