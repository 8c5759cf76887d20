"""A schedule version as a schedule file, with the figures of a solve.

A version made by a solve reports the run's own status, objective, bound, reasons
and quota shares. Any other version (imported, edited) is measured
(`scheduler.roundfile.measure`): that scores and explains the whole round, a second
or more on a facility-size round, so it runs in a small pool of threads, never on
the event loop, and its result is kept per version, round revision and round
content; one export does not stall other requests.

Every export is kept per version and the round's inputs (`scheduler.rounds.kept`): a
version's allocations never change once written, nor does the solve output beside
it, so while the round's inputs stay the same the next export is free. Like a kept
round, a kept export is the full view, withheld per reader (`withhold`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from threading import Lock

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.tables import Round, ScheduleVersion, SolveRun
from scheduler.roundfile.contract import Allocation, RoundFile, ScheduleFile
from scheduler.roundfile.measure import measure
from scheduler.roundfile.solving import SetAside
from scheduler.rounds.kept import LeastRecent, RoundInputs, kept_round
from scheduler.schedules.versions import version_schedule

MEASURING_THREADS = 2
"""At most this many measurements at once: the machine's other requests keep their cores."""
KEPT_MEASUREMENTS = 16
"""Measured schedules kept; a facility-size one is a few megabytes."""
KEPT_EXPORTS = 16
"""Exports kept, least recently read dropped first."""

_pool = ThreadPoolExecutor(max_workers=MEASURING_THREADS, thread_name_prefix="measure")
_measured: OrderedDict[tuple[int, int, str], Future[ScheduleFile]] = OrderedDict()
_measured_lock = Lock()
_exported: LeastRecent[tuple[RoundInputs, int], ScheduleFile] = LeastRecent(KEPT_EXPORTS)


async def export_schedule(session: AsyncSession, version_id: int) -> ScheduleFile:
    """The version as a schedule file: the solve's figures when a solve made it, measured ones otherwise.

    LookupError when there is no such version; InputError when the round is no valid file.
    """
    version = (
        await session.execute(
            select(col(ScheduleVersion.round_id), col(Round.revision))
            .join(Round, col(Round.id) == col(ScheduleVersion.round_id))
            .where(col(ScheduleVersion.id) == version_id)
        )
    ).one_or_none()
    if version is None:
        raise LookupError(f"no schedule version {version_id}")
    kept = await kept_round(session, version.round_id)
    key = None if kept.inputs is None else (kept.inputs, version_id)
    found = _exported.get(key)
    if found is not None:
        return found
    return _exported.keep(key, await _exported_now(session, version_id, version.revision, kept.schedulable))


async def _exported_now(session: AsyncSession, version_id: int, revision: int, aside: SetAside) -> ScheduleFile:
    """The version in the round without its set-aside proposals (`set_aside`), and without their allocations."""
    round_file = aside.round_file
    placed = [a for a in (await version_schedule(session, version_id)).allocations if a.proposal not in aside.reasons]
    solved = await _solve_output(session, version_id)
    if solved is not None:
        given = {allocation.request: allocation.priority for allocation in solved.allocations}
        if all(allocation.request in given for allocation in placed):
            priced = [a.model_copy(update={"priority": given[a.request]}) for a in placed]
            return solved.model_copy(update={"allocations": priced})
    return await _measure_once(version_id, revision, round_file, placed)


async def _solve_output(session: AsyncSession, version_id: int) -> ScheduleFile | None:
    output = await session.scalar(
        select(col(SolveRun.output))
        .where(col(SolveRun.schedule_version_id) == version_id, col(SolveRun.output).is_not(None))
        .order_by(col(SolveRun.id).desc())
    )
    return None if output is None else ScheduleFile.model_validate(output)


async def _measure_once(
    version_id: int, revision: int, round_file: RoundFile, placed: list[Allocation]
) -> ScheduleFile:
    """`measure` in the pool, once per (version, revision, content); concurrent asks for the same share one run.

    The content digest is part of the key because the revision moves only with
    publications and imports, while a withdrawal, a window or a pin changes the answer too.
    """
    digest = await asyncio.to_thread(_digest, round_file, placed)
    key = (version_id, revision, digest)
    with _measured_lock:
        future = _measured.get(key)
        if future is None:
            future = _pool.submit(measure, round_file, placed)
            _measured[key] = future
            while len(_measured) > KEPT_MEASUREMENTS:
                _measured.popitem(last=False)
        else:
            _measured.move_to_end(key)
    try:
        # Shielded: a caller that goes away must not cancel the measurement others wait for.
        return await asyncio.shield(asyncio.wrap_future(future))
    except Exception:
        with _measured_lock:
            if _measured.get(key) is future and future.done():
                del _measured[key]
        raise


def _digest(round_file: RoundFile, placed: list[Allocation]) -> str:
    content = hashlib.sha256(round_file.model_dump_json().encode())
    for allocation in placed:
        content.update(allocation.model_dump_json().encode())
    return content.hexdigest()
