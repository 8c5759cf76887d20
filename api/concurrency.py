"""Optimistic concurrency for people, in HTTP's words: versions as ETags, writes conditional on them
(If-Match), and creation that happens once per client key (Idempotency-Key).

A thing people edit carries a version (`scheduler.db.tables.Versioned`), answered as `ETag: "<version>"`.
A write that sends `If-Match` is made only on one of the versions it names, else 412 (the check is the
domain's, on the row the write holds: `scheduler.db.repository.require_version`); one without it is made
on whatever is current, as before. A creating POST with an `Idempotency-Key` is answered, for the same key
and the same request, with the first answer again (status, body, `Location`) and creates nothing more;
the same key with another request is a conflict (409): the key names that other creation.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from litestar import Request, Response
from litestar.datastructures import ResponseHeader
from litestar.params import HeaderParameter
from litestar.serialization import encode_json, get_serializer
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.accounts.schemas import Claims
from scheduler.db.repository import Expected
from scheduler.db.tables import IdempotencyKey
from scheduler.errors import Conflict

IF_MATCH = "If-Match"
IDEMPOTENCY_KEY = "Idempotency-Key"
IDEMPOTENCY_TTL = timedelta(hours=24)
"""How long a key answers again; after that it may name a new request."""

IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name=IF_MATCH,
        required=False,
        max_length=1024,
        description='Make the change only if the thing is still at this version: its `ETag` (`"3"`), several '
        "separated by commas, or `*`. A stale version, a weak or malformed tag answers 412 and changes nothing; "
        "without the header the change is made on the current version.",
    ),
]
IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name=IDEMPOTENCY_KEY,
        required=False,
        min_length=1,
        max_length=128,
        description="A key the client makes for this creation (a UUID). The same key with the same request "
        "within 24 h answers the first answer again and creates nothing; with another request it is a 409.",
    ),
]
ETAG = ResponseHeader(
    name="ETag",
    description='The version of the thing answered (`"3"`): send it as `If-Match` to change it only as you saw it.',
    documentation_only=True,
)
"""Documents the `ETag` the handler sets itself (`tagged`)."""

_ENTITY_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*')


def etag(version: int) -> str:
    return f'"{version}"'


def tagged(thing: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response[Any]:
    """`thing` (a schema with its `version`) with its ETag."""
    return Response(thing, status_code=status_code, headers={**(headers or {}), "ETag": etag(thing.version)})


def expected_versions(if_match: str | None) -> Expected:
    """The versions an `If-Match` names; None (any) without the header or for `*`. Weak tags and tags that are
    no version match nothing (RFC 9110 compares If-Match strongly), so the write answers 412."""
    if if_match is None or if_match.strip() == "*":
        return None
    versions: set[int] = set()
    for part in if_match.split(","):
        matched = _ENTITY_TAG.fullmatch(part)
        if matched and matched.group(1) is None and matched.group(2).isdecimal():
            versions.add(int(matched.group(2)))
    return frozenset(versions)


Create = Callable[[], Awaitable[Response[Any]]]


async def created_once(
    session: AsyncSession, actor: Claims, key: str | None, request: Request[Any, Any, Any], create: Create
) -> Response[Any]:
    """`create()`'s answer, once per `key`: a repeat of the same request (method, path, body) by the same account
    answers what the first one did and creates nothing; another request under the key is a Conflict.

    The key is claimed in the creation's own transaction, before it creates: a concurrent duplicate waits on the
    key's unique row and, once the first commits, answers its answer (if the first fails, nothing was kept and
    the duplicate creates)."""
    if key is None:
        return await create()
    digest = _digest(request.method, request.url.path, await request.body())
    claim = await _claim(session, actor.user_id, key, digest)
    if isinstance(claim, Response):
        return claim
    response = await create()
    claim.status_code = response.status_code or request.route_handler.status_code
    claim.body = json.loads(
        encode_json(response.content, get_serializer(request.route_handler.resolve_type_encoders()))
    )
    claim.location = response.headers.get("Location")
    await session.flush()
    return response


async def _claim(session: AsyncSession, user_id: int, key: str, digest: str) -> IdempotencyKey | Response[Any]:
    """The key's new row, or the answer it gave already."""
    expired = datetime.now(UTC) - IDEMPOTENCY_TTL
    await session.execute(
        delete(IdempotencyKey).where(col(IdempotencyKey.user_id) == user_id, col(IdempotencyKey.created_at) < expired)
    )
    given = await _given(session, user_id, key)
    if given is not None:
        return _again(given, digest)
    claim = IdempotencyKey(user_id=user_id, key=key, request=digest, status_code=0)
    try:
        async with session.begin_nested():
            session.add(claim)
    except IntegrityError:
        given = await _given(session, user_id, key)
        if given is None:  # the other request's creation failed, and took its claim with it
            raise
        return _again(given, digest)
    return claim


async def _given(session: AsyncSession, user_id: int, key: str) -> IdempotencyKey | None:
    return await session.scalar(
        select(IdempotencyKey)
        .where(col(IdempotencyKey.user_id) == user_id, col(IdempotencyKey.key) == key)
        .execution_options(populate_existing=True)
    )


def _again(given: IdempotencyKey, digest: str) -> Response[Any]:
    if given.request != digest:
        raise Conflict(
            f"the {IDEMPOTENCY_KEY} was used for another request (method, path or body) in the last 24 h: "
            "make a new key for a new creation"
        )
    headers = {"Idempotent-Replayed": "true"}
    if given.location is not None:
        headers["Location"] = given.location
    version = given.body.get("version") if isinstance(given.body, dict) else None
    if isinstance(version, int):
        headers["ETag"] = etag(version)
    return Response(given.body, status_code=given.status_code, headers=headers)


def _digest(method: str, path: str, body: bytes) -> str:
    hashed = hashlib.sha256(f"{method.upper()} {path}\n".encode())
    hashed.update(body)
    return hashed.hexdigest()
