"""A schedule version as a schedule file, with the figures of a solve.

A version made by a solve reports the run's own status, objective, bound, reasons
and quota shares. Any other version (imported, edited) is measured
(`scheduler.roundfile.measure`): that explains the whole round, a second or more on
a facility-size round, so it runs in a small pool of threads, never on the event
loop, and its result is kept per version, round revision and round content; one
export does not stall other requests.

An imported version (a round file's schedule in force) is measured when it is
stored, inside the import's transaction (`store_measurement`), and the measurement
is kept in the database with the round's inputs it was made at (`RoundInputs`, as
the kept rounds are keyed) and a digest of what was measured, each competitor written
once (`_stored_form`): the round's first view reads it instead of measuring. It is
read only while both still hold; after a change of the round's inputs the version is
measured again, as any other.

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
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.tables import Round, ScheduleMeasurement, ScheduleVersion, SolveRun
from scheduler.roundfile.checks import InputError
from scheduler.roundfile.contract import Allocation, Competitor, ScheduleFile
from scheduler.roundfile.measure import measure
from scheduler.rounds.exporter import export_round
from scheduler.rounds.kept import KeptRound, LeastRecent, RoundInputs, kept_round, seen_inputs
from scheduler.schedules.versions import version_schedule

MEASURING_THREADS = 2
"""At most this many measurements at once: the machine's other requests keep their cores."""
KEPT_MEASUREMENTS = 16
"""Measured schedules kept; a facility-size one is a few megabytes."""
KEPT_EXPORTS = 16
"""Exports kept, least recently read dropped first."""
COMPETITORS = "competitor_table"
"""A stored measurement's table of the distinct competitors its unallocated requests name (`_stored_form`)."""
STORED_FORM = b"measurement with a competitor table"
"""Part of a stored measurement's digest: one stored in an earlier form is not read, but measured again."""

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
    return _exported.keep(key, await _exported_now(session, version_id, version.revision, kept))


async def store_measurement(session: AsyncSession, version_id: int) -> None:
    """Measures the version and stores the measurement with the round's inputs as this transaction sees them, for
    exports to read (`export_schedule`) while they still hold: an imported round's schedule, so that its first view
    does not measure it. The transaction may have changed the round (an import did): the round is read fresh.
    Nothing is stored for a round whose scoring cannot be worked out."""
    round_id = await session.scalar(select(col(ScheduleVersion.round_id)).where(col(ScheduleVersion.id) == version_id))
    if round_id is None:
        raise LookupError(f"no schedule version {version_id}")
    inputs = await seen_inputs(session, round_id)  # before the export, as `kept_round` reads them
    try:
        kept = KeptRound(await export_round(session, round_id))
        placed = await _placed(session, version_id, kept)
        measured = await asyncio.wrap_future(_pool.submit(_measure, kept, placed))
    except InputError:
        return  # the round's scoring cannot be worked out: an export of the version says why, as without this
    digest = await asyncio.to_thread(_digest, kept, placed)
    schedule = await asyncio.to_thread(_stored_form, measured)
    session.add(
        ScheduleMeasurement(
            schedule_version_id=version_id, round_inputs=inputs.stored(), digest=digest, schedule=schedule
        )
    )
    await session.flush()


async def _exported_now(session: AsyncSession, version_id: int, revision: int, kept: KeptRound) -> ScheduleFile:
    """The version in the round without its set-aside proposals (`set_aside`), and without their allocations."""
    placed = await _placed(session, version_id, kept)
    solved = await _solve_output(session, version_id)
    if solved is not None:
        given = {allocation.request: allocation.priority for allocation in solved.allocations}
        if all(allocation.request in given for allocation in placed):
            priced = [a.model_copy(update={"priority": given[a.request]}) for a in placed]
            return solved.model_copy(update={"allocations": priced})
    digest = await asyncio.to_thread(_digest, kept, placed)
    stored = await _stored_measurement(session, version_id, kept.inputs, digest)
    if stored is not None:
        return stored
    return await _measure_once(version_id, revision, digest, kept, placed)


async def _placed(session: AsyncSession, version_id: int, kept: KeptRound) -> list[Allocation]:
    """The version's allocations but those of proposals set aside."""
    aside = await asyncio.to_thread(lambda: kept.schedulable)
    return [a for a in (await version_schedule(session, version_id)).allocations if a.proposal not in aside.reasons]


async def _solve_output(session: AsyncSession, version_id: int) -> ScheduleFile | None:
    output = await session.scalar(
        select(col(SolveRun.output))
        .where(col(SolveRun.schedule_version_id) == version_id, col(SolveRun.output).is_not(None))
        .order_by(col(SolveRun.id).desc())
    )
    return None if output is None else await asyncio.to_thread(_schedule_file, output)


async def _stored_measurement(
    session: AsyncSession, version_id: int, inputs: RoundInputs | None, digest: str
) -> ScheduleFile | None:
    """The version's stored measurement if it was made at `inputs` of the same content (`digest`); None for
    a version measured at other inputs, or never, or for a reader whose transaction changed the round."""
    if inputs is None:
        return None
    made = (
        await session.execute(
            select(col(ScheduleMeasurement.round_inputs), col(ScheduleMeasurement.digest)).where(
                col(ScheduleMeasurement.schedule_version_id) == version_id
            )
        )
    ).one_or_none()
    if made is None or made.round_inputs != inputs.stored() or made.digest != digest:
        return None
    schedule: dict[str, Any] = (
        await session.execute(
            select(col(ScheduleMeasurement.schedule)).where(col(ScheduleMeasurement.schedule_version_id) == version_id)
        )
    ).scalar_one()
    return await asyncio.to_thread(_measurement_file, schedule)


async def _measure_once(
    version_id: int, revision: int, digest: str, kept: KeptRound, placed: list[Allocation]
) -> ScheduleFile:
    """`measure` in the pool, once per (version, revision, content); concurrent asks for the same share one run.

    The content digest is part of the key because the revision moves only with
    publications and imports, while a withdrawal, a window or a pin changes the answer too.
    """
    key = (version_id, revision, digest)
    with _measured_lock:
        future = _measured.get(key)
        if future is None:
            future = _pool.submit(_measure, kept, placed)
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


def _schedule_file(stored: dict[str, Any]) -> ScheduleFile:
    """CPU-bound: a stored schedule file (a run's output, a measurement) read back, each competitor made once.

    A facility round's unallocated requests name ~130,000 competitors, but only as many distinct ones as there
    are allocations (~2,000): one shared, read-only object each instead of a model per mention.
    """
    made: dict[tuple[str, float], Competitor] = {}

    def competitor(named: dict[str, Any]) -> Competitor:
        key = (named["request"], named["priority"])
        found = made.get(key)
        if found is None:
            found = made[key] = Competitor.model_validate(named)
        return found

    unallocated = [
        {**item, "competitors": [competitor(named) for named in item["competitors"]]}
        if item.get("competitors")
        else item
        for item in stored["unallocated"]
    ]
    return ScheduleFile.model_validate({**stored, "unallocated": unallocated})


def _stored_form(measured: ScheduleFile) -> dict[str, Any]:
    """CPU-bound: a measurement as it is stored, each competitor written once.

    A facility round's unallocated requests name ~130,000 competitors, ~2,000 distinct ones: written in full they
    were 5.9 MB of 6.8 MB, and reading them back most of a cold round page's read of the measurement. Each
    unallocated request's `competitors` are indices into `COMPETITORS`, the distinct (request, priority) pairs.
    """
    stored = measured.model_dump(mode="json")
    index: dict[tuple[str, float], int] = {}
    for item in stored["unallocated"]:
        if item["competitors"] is not None:
            item["competitors"] = [
                index.setdefault((named["request"], named["priority"]), len(index)) for named in item["competitors"]
            ]
    return stored | {COMPETITORS: [list(pair) for pair in index]}


def _measurement_file(stored: dict[str, Any]) -> ScheduleFile:
    """CPU-bound: a stored measurement (`_stored_form`) read back, each competitor one shared, read-only object."""
    named = [Competitor(request=request, priority=priority) for request, priority in stored[COMPETITORS]]
    unallocated = [
        item if item["competitors"] is None else {**item, "competitors": [named[i] for i in item["competitors"]]}
        for item in stored["unallocated"]
    ]
    schedule = {key: value for key, value in stored.items() if key != COMPETITORS}
    return ScheduleFile.model_validate({**schedule, "unallocated": unallocated})


def _measure(kept: KeptRound, placed: list[Allocation]) -> ScheduleFile:
    """CPU-bound: the allocations measured in the schedulable round, with the kept round's scores."""
    return measure(kept.schedulable.round_file, kept.scores, placed)


def _digest(kept: KeptRound, placed: list[Allocation]) -> str:
    """CPU-bound: sha256 of the schedulable round and the allocations, what a measurement is a function of, and of
    the form a measurement is stored in (`STORED_FORM`)."""
    content = hashlib.sha256(STORED_FORM)
    content.update(kept.schedulable.round_file.model_dump_json().encode())
    for allocation in placed:
        content.update(allocation.model_dump_json().encode())
    return content.hexdigest()
