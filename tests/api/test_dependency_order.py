"""A handler's dependencies are resolved in turn on the request's task (`api.dependency_order`), with Litestar's
answers unchanged: a dependency sees the ones it needs, and a dependency's error is the request's answer."""

from __future__ import annotations

import asyncio
from typing import Annotated

from litestar import get
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.params import QueryParameter
from litestar.status_codes import HTTP_409_CONFLICT
from litestar.testing import create_async_test_client

from api.dependency_order import resolve_dependencies_in_turn


async def _task_name() -> str:
    task = asyncio.current_task()
    assert task is not None
    return task.get_name()


def _provide_task_name() -> Provide:
    """A provider of its own for each key (Litestar keeps one key per provider)."""

    async def task_name() -> str:
        return await _task_name()

    return Provide(task_name)


async def _limit(limit: Annotated[int, QueryParameter(ge=1)] = 10) -> int:
    return limit


async def _refusing() -> int:
    raise HTTPException("held by another write", status_code=HTTP_409_CONFLICT)


async def _doubled(first: str, bounded: int) -> str:
    return f"{first}:{bounded * 2}"


DEPENDENCIES = {
    "first": _provide_task_name(),
    "second": _provide_task_name(),
    "third": _provide_task_name(),
    "bounded": Provide(_limit),
    "doubled": Provide(_doubled),
    "refusing": Provide(_refusing),
}


@get("/tasks", dependencies=DEPENDENCIES)
async def tasks(first: str, second: str, third: str, doubled: str) -> dict[str, str | list[str]]:
    return {"handler": await _task_name(), "dependencies": [first, second, third], "doubled": doubled}


@get("/refused", dependencies=DEPENDENCIES)
async def refused(first: str, refusing: int, bounded: int) -> int:
    return refusing + bounded


async def test_independent_dependencies_run_on_the_requests_task_and_sub_dependencies_see_theirs() -> None:
    resolve_dependencies_in_turn()
    async with create_async_test_client([tasks]) as client:
        answer = (await client.get("/tasks", params={"limit": 4})).json()
    assert answer["dependencies"] == [answer["handler"]] * 3
    assert answer["doubled"] == f"{answer['handler']}:8"


async def test_a_dependencys_error_is_the_answer() -> None:
    resolve_dependencies_in_turn()
    async with create_async_test_client([refused, tasks]) as client:
        conflict = await client.get("/refused")
        invalid = await client.get("/tasks", params={"limit": 0})
    assert conflict.status_code == HTTP_409_CONFLICT
    assert conflict.json()["detail"] == "held by another write"
    assert invalid.status_code == 400
    assert "limit" in invalid.text
