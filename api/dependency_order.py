"""A handler's dependencies resolved one after another, on the request's own task.

Litestar 2 resolves the dependencies of a handler that do not need each other (`db_session`,
`current_user`, `expected`, …) in an anyio task group: a task, a cancel scope and a context copy for
each, on every request (litestar-org/litestar#4563, open). Ours are each a few microseconds of work or
a wait for a write turn, none gains from running beside another, and the task group cost about 5 % of a write's
instructions (BENCHMARKS.md, "7 December, 17-19 UTC"). Litestar offers no setting for it,
so `resolve_dependencies_in_turn` replaces the one method that chooses. It names Litestar's private
`_kwargs` module: an upgrade that moves it fails at import, loudly, not silently slower; drop this
module once Litestar resolves a batch without a task group.
"""

from __future__ import annotations

from typing import Any

from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import resolve_dependency
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.connection import ASGIConnection


async def _in_turn(self: KwargsModel, connection: ASGIConnection[Any, Any, Any, Any], kwargs: dict[str, Any]) -> Any:
    """Litestar's order (a batch needs only earlier batches), each batch by name so every request resolves alike."""
    cleanup_group = DependencyCleanupGroup()
    for batch in self.dependency_batches:
        for dependency in sorted(batch, key=lambda each: each.key):
            await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


def resolve_dependencies_in_turn() -> None:
    """From now on, every handler of every app in this process resolves its dependencies in turn."""
    KwargsModel.resolve_dependencies = _in_turn  # type: ignore[method-assign]
