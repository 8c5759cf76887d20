"""Refusals of the domain layer, which the API turns into problem details (404, 403, 409, 412, else 422).

They carry no HTTP: the scheduler package must not know how it is served. What a client needs beyond the message
(the round's revision now, each rule broken, the facilities still to sign off) travels as the refusal's `members`,
plain JSON the API adds to the answer as they are.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession


class DomainError(Exception):
    """A request the domain refuses; the message and the `members` are safe to show to the caller."""

    def __init__(self, message: str, **members: Any) -> None:
        super().__init__(message)
        self.members = members


class NotFound(DomainError):  # noqa: N818 (named for the answer the caller gets)
    """The thing does not exist, or the caller may not know that it does."""


class Forbidden(DomainError):  # noqa: N818 (named for the answer the caller gets)
    """The caller can see the thing but their role may not do this to it."""


class Conflict(DomainError):  # noqa: N818 (named for the answer the caller gets)
    """The request is well formed but the current state forbids it (a closed call, a taken code)."""


class PreconditionFailed(DomainError):  # noqa: N818 (named for the answer the caller gets)
    """The write was conditional on a version of the thing (If-Match) that is no longer the current one."""


Row = TypeVar("Row")


async def found(session: AsyncSession, table: type[Row], key: int, what: str) -> Row:
    """The row with primary key `key`, or NotFound naming it."""
    row = await session.get(table, key)
    if row is None:
        raise NotFound(f"no {what} {key}")
    return row
