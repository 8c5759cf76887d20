"""Round files and schedule files through the database and back, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import FOLDER
from scheduler.db.tables import (
    ChangeNotice,
    Facility,
    Proposal,
    Request,
    Round,
    ScheduleMeasurement,
    ScheduleVersion,
    SolveRun,
    User,
    Window,
)
from scheduler.roundfile.build import prepare
from scheduler.roundfile.checks import InputError, load_round
from scheduler.roundfile.contract import Allocation as AllocationEntry
from scheduler.roundfile.contract import PreviousAllocation, RoundFile, ScheduleFile
from scheduler.roundfile.measure import measure
from scheduler.roundfile.scoring import ProposalScore, score_round
from scheduler.roundfile.solving import exclusions, priorities, solve_round
from scheduler.rounds.exporter import export_round
from scheduler.rounds.importer import import_round
from scheduler.rounds.replacement import PublishedRoundError, Replacement, replace_round
from scheduler.schedules import export
from scheduler.schedules.export import export_schedule
from scheduler.schedules.notices import REPLACED
from scheduler.schedules.versions import PUBLISHED, save_version, version_schedule
from solver.greedy import greedy
from solver.problem import Settings

FIXTURES = FOLDER
EXAMPLE = FIXTURES / "example-round.json"

Sessions = async_sessionmaker[AsyncSession]


def _with_previous_schedule(round_file: RoundFile) -> RoundFile:
    """The round with a valid schedule in force (the greedy one), every other allocation pinned."""
    scores = score_round(round_file)
    prepared = prepare(round_file, priorities(scores), exclusions(scores))
    previous = [
        PreviousAllocation(
            request=prepared.request_ids[p.request],
            instrument=prepared.instrument_ids[p.instrument],
            start_shift=p.start,
            shifts=p.shifts,
            pinned=k % 2 == 0,
        )
        for k, p in enumerate(greedy(prepared.problem))
    ]
    document = round_file.model_copy(update={"previous_schedule": previous}).model_dump(mode="json")
    return load_round(document)


def _renamed(round_file: RoundFile, round_id: str) -> RoundFile:
    document = round_file.model_dump(mode="json")
    document["round"]["id"] = round_id
    return load_round(document)


async def _import(sessions: Sessions, round_file: RoundFile, **options: Any) -> int:
    async with sessions.begin() as session:
        return await import_round(session, round_file, **options)


async def _replace(sessions: Sessions, round_id: int, round_file: RoundFile, **options: Any) -> Replacement:
    async with sessions.begin() as session:
        return await replace_round(session, round_id, round_file, **options)


async def _export(sessions: Sessions, round_id: int) -> RoundFile:
    async with sessions() as session:
        return await export_round(session, round_id)


async def _count(sessions: Sessions, table: type[Any]) -> int:
    async with sessions() as session:
        return (await session.execute(select(func.count()).select_from(table))).scalar_one()


def _assert_same(exported: RoundFile, original: RoundFile) -> None:
    assert exported == original
    assert exported.model_dump(mode="json") == original.model_dump(mode="json")


@pytest.mark.parametrize(
    "path", [EXAMPLE, FIXTURES / "rounds" / "small.json", FIXTURES / "rounds" / "medium.json"], ids=lambda p: p.stem
)
async def test_a_round_file_comes_back_key_for_key(sessions: Sessions, path: Path) -> None:
    original = load_round(path)
    _assert_same(await _export(sessions, await _import(sessions, original)), original)


async def test_a_previous_schedule_comes_back_with_its_pins(sessions: Sessions) -> None:
    original = _with_previous_schedule(load_round(FIXTURES / "rounds" / "small.json"))
    assert original.previous_schedule
    assert {allocation.pinned for allocation in original.previous_schedule} == {True, False}
    _assert_same(await _export(sessions, await _import(sessions, original)), original)


async def test_the_imported_schedule_exports_on_the_grid_with_codes_and_pins(sessions: Sessions) -> None:
    round_file = _with_previous_schedule(load_round(FIXTURES / "rounds" / "small.json"))
    round_id = await _import(sessions, round_file)
    async with sessions() as session:
        version = (
            await session.execute(select(ScheduleVersion).where(ScheduleVersion.round_id == round_id))
        ).scalar_one()
        assert version.id is not None
        schedule = await export_schedule(session, version.id)

    assert (version.status, version.source) == ("published", "import")
    assert round_file.previous_schedule is not None
    assert [(a.request, a.instrument, a.start_shift, a.shifts, a.pinned) for a in schedule.allocations] == [
        (a.request, a.instrument, a.start_shift, a.shifts, a.pinned) for a in round_file.previous_schedule
    ]
    owner = {request.id: proposal.id for proposal in round_file.proposals for request in proposal.requests}
    shift = timedelta(hours=round_file.round.shift_hours)
    for allocation in schedule.allocations:
        assert allocation.proposal == owner[allocation.request]
        assert allocation.start == round_file.round.start + allocation.start_shift * shift
        assert allocation.end == allocation.start + allocation.shifts * shift
        assert allocation.start.utcoffset() == round_file.round.start.utcoffset()
    assert schedule.status == "feasible", schedule.notes
    listed = [a.request for a in schedule.allocations] + [u.request for u in schedule.unallocated]
    assert sorted(listed) == sorted(owner)
    assert schedule.objective == pytest.approx(sum(a.priority * a.shifts for a in schedule.allocations))


async def test_a_solved_version_exports_as_the_solve_reported_it(sessions: Sessions) -> None:
    round_file = load_round(EXAMPLE)
    _, solved = solve_round(round_file, Settings(time_limit=10, workers=1))
    assert solved.allocations and solved.unallocated
    round_id = await _import(sessions, round_file)
    async with sessions.begin() as session:
        version_id = await save_version(session, round_id, solved.allocations, source="solve", note="")
        output = solved.model_dump(mode="json")
        session.add(SolveRun(round_id=round_id, state="done", output=output, schedule_version_id=version_id))
    async with sessions() as session:
        assert await export_schedule(session, version_id) == solved


def test_measuring_a_solved_schedule_agrees_with_the_solve() -> None:
    round_file = load_round(EXAMPLE)
    _, solved = solve_round(round_file, Settings(time_limit=10, workers=1))
    measured = measure(
        round_file, score_round(round_file), [a.model_copy(update={"priority": 0.0}) for a in solved.allocations]
    )
    assert measured.status == "feasible", measured.notes
    assert measured.allocations == solved.allocations
    assert measured.objective == pytest.approx(solved.objective)
    assert {(u.request, u.reason) for u in measured.unallocated} == {(u.request, u.reason) for u in solved.unallocated}
    assert measured.quotas == solved.quotas


def _counting_measurements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The threads each measurement runs in, from now on; nothing measured before is kept."""
    threads: list[str] = []

    def measuring(
        round_file: RoundFile, scores: list[ProposalScore], allocations: list[AllocationEntry]
    ) -> ScheduleFile:
        threads.append(threading.current_thread().name)
        return measure(round_file, scores, allocations)

    monkeypatch.setattr(export, "measure", measuring)
    monkeypatch.setattr(export, "_measured", OrderedDict())
    return threads


async def _withdraw(sessions: Sessions, round_id: int, code: str) -> None:
    async with sessions.begin() as session:  # as the service withdraws: a flushed change moves the input revision
        await _withdrawn(session, round_id, code)


async def _withdrawn(session: AsyncSession, round_id: int, code: str) -> None:
    proposal = await session.scalar(select(Proposal).where(Proposal.round_id == round_id, Proposal.code == code))
    assert proposal is not None
    proposal.withdrawn = True
    await session.flush()


async def _exported(sessions: Sessions, version_id: int) -> ScheduleFile:
    async with sessions() as session:
        return await export_schedule(session, version_id)


async def _published(sessions: Sessions, round_id: int) -> int:
    async with sessions() as session:
        version_id = await session.scalar(
            select(ScheduleVersion.id).where(ScheduleVersion.round_id == round_id, ScheduleVersion.status == PUBLISHED)
        )
    assert version_id is not None
    return version_id


async def test_a_measured_version_is_measured_once_off_the_event_loop_until_the_round_changes(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    edited = _with_previous_schedule(load_round(FIXTURES / "rounds" / "small.json"))
    assert edited.previous_schedule is not None
    round_id = await _import(sessions, edited.model_copy(update={"previous_schedule": None}))
    async with sessions.begin() as session:  # a hand edit's draft: no solve made it, nothing measured it yet
        version_id = await save_version(session, round_id, edited.previous_schedule, source="edit", note="")
    threads = _counting_measurements(monkeypatch)

    first, again = await asyncio.gather(_exported(sessions, version_id), _exported(sessions, version_id))
    assert again is first
    assert first.status == "feasible"
    assert len(threads) == 1 and threads[0].startswith("measure")

    await _withdraw(sessions, round_id, first.allocations[0].proposal)
    changed = await _exported(sessions, version_id)
    assert len(threads) == 2
    assert changed.allocations[0].priority == 0.0  # its proposal is no longer in the round


@pytest.mark.parametrize("path", [EXAMPLE, FIXTURES / "rounds" / "small.json"], ids=lambda p: p.stem)
async def test_an_imported_schedule_is_measured_by_the_import_and_read_as_a_fresh_measurement(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch, path: Path
) -> None:
    threads = _counting_measurements(monkeypatch)
    round_id = await _import(sessions, _with_previous_schedule(load_round(path)))
    version_id = await _published(sessions, round_id)
    assert len(threads) == 1  # by the import
    async with sessions() as session:
        stored = await session.get(ScheduleMeasurement, version_id)
        round_file = (await export_round(session, round_id)).model_copy(update={"previous_schedule": None})
        placed = (await version_schedule(session, version_id)).allocations
    assert stored is not None

    fresh = measure(round_file, score_round(round_file), placed)
    assert fresh.unallocated and fresh.quotas and fresh.objective > 0
    distinct = {(c.request, c.priority) for item in fresh.unallocated for c in item.competitors or []}
    assert len(stored.schedule[export.COMPETITORS]) == len(distinct)  # each competitor stored once
    read = await _exported(sessions, version_id)
    assert read == fresh
    assert len(threads) == 1  # the first export read what the import measured
    named = [competitor for item in read.unallocated for competitor in item.competitors or []]
    assert len({id(c) for c in named}) == len({(c.request, c.priority) for c in named})  # one object each


async def test_a_stored_measurement_is_measured_again_when_the_round_changes(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_id = await _import(sessions, _with_previous_schedule(load_round(FIXTURES / "rounds" / "small.json")))
    version_id = await _published(sessions, round_id)
    threads = _counting_measurements(monkeypatch)
    measured = await _exported(sessions, version_id)
    assert threads == []

    await _withdraw(sessions, round_id, measured.allocations[0].proposal)
    changed = await _exported(sessions, version_id)
    assert len(threads) == 1
    assert changed != measured and changed.allocations[0].priority == 0.0


async def test_a_change_later_in_the_importing_transaction_is_not_read_from_the_stored_measurement(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transaction moved the input revision once, at the import: the withdrawal after it moves it no further."""
    round_file = _with_previous_schedule(load_round(FIXTURES / "rounds" / "small.json"))
    assert round_file.previous_schedule is not None
    withdrawn = round_file.previous_schedule[0].request
    async with sessions.begin() as session:
        round_id = await import_round(session, round_file)
        code = await session.scalar(
            select(Proposal.code)
            .join(Request, col(Request.proposal_id) == col(Proposal.id))
            .where(Request.round_id == round_id, Request.code == withdrawn)
        )
        assert code is not None
        await _withdrawn(session, round_id, code)
    version_id = await _published(sessions, round_id)
    threads = _counting_measurements(monkeypatch)

    changed = await _exported(sessions, version_id)
    assert len(threads) == 1
    assert next(a for a in changed.allocations if a.request == withdrawn).priority == 0.0


async def test_rounds_share_the_catalogue_without_duplicating_it(sessions: Sessions) -> None:
    first = load_round(EXAMPLE)
    second = _renamed(first, "2027-II-example")
    first_id = await _import(sessions, first)
    facilities, windows = await _count(sessions, Facility), await _count(sessions, Window)
    second_id = await _import(sessions, second)

    assert (await _count(sessions, Facility), await _count(sessions, Window)) == (facilities, windows)
    _assert_same(await _export(sessions, first_id), first)
    _assert_same(await _export(sessions, second_id), second)


async def test_importing_into_a_round_replaces_its_content(sessions: Sessions) -> None:
    round_id = await _import(sessions, load_round(FIXTURES / "rounds" / "small.json"))
    replacement = load_round(EXAMPLE)
    replaced = await _replace(sessions, round_id, replacement)

    _assert_same(await _export(sessions, round_id), replacement)
    assert replaced.superseded is None and replaced.versions == 0
    assert replaced.removed_proposals and replaced.kept_withdrawn == ()
    async with sessions() as session:
        stored = set((await session.execute(select(Proposal.code).where(Proposal.round_id == round_id))).scalars())
    assert stored == {proposal.id for proposal in replacement.proposals}


async def test_a_round_with_a_published_schedule_is_replaced_only_by_force_and_keeps_its_history(
    sessions: Sessions,
) -> None:
    original = _with_previous_schedule(load_round(FIXTURES / "rounds" / "small.json"))
    round_id = await _import(sessions, original)
    replacement = load_round(EXAMPLE)
    with pytest.raises(PublishedRoundError, match="published schedule version 1"):
        await _replace(sessions, round_id, replacement)
    _assert_same(await _export(sessions, round_id), original)

    replaced = await _replace(sessions, round_id, replacement, force=True)
    _assert_same(await _export(sessions, round_id), replacement)
    assert replaced.superseded == 1 and replaced.versions == 1 and replaced.lost_slots == ()
    assert original.previous_schedule is not None
    assert replaced.notices == len(original.previous_schedule)
    async with sessions() as session:
        versions = (await session.execute(select(ScheduleVersion).where(ScheduleVersion.round_id == round_id))).all()
        assert [version.status for (version,) in versions] == ["superseded"]
        kept = await version_schedule(session, versions[0][0].id)
        withdrawn = set(
            (
                await session.execute(
                    select(Proposal.code).where(Proposal.round_id == round_id, col(Proposal.withdrawn))
                )
            ).scalars()
        )
        kinds = set((await session.execute(select(ChangeNotice.kind))).scalars())
    # The superseded version reads as it was published, on the proposals kept for it (withdrawn).
    assert [(a.request, a.instrument, a.start_shift, a.shifts, a.pinned) for a in kept.allocations] == [
        (a.request, a.instrument, a.start_shift, a.shifts, a.pinned) for a in original.previous_schedule
    ]
    assert withdrawn == {a.proposal for a in kept.allocations} == set(replaced.kept_withdrawn)
    assert kinds == {"dropped"}


async def test_a_bad_import_into_a_round_changes_nothing(sessions: Sessions) -> None:
    original = _with_previous_schedule(load_round(EXAMPLE))
    round_id = await _import(sessions, original)
    other = load_round(FIXTURES / "rounds" / "small.json")
    facilities = await _count(sessions, Facility)

    # The file is valid on its own, but puts one of the example's instruments at another facility.
    moved = other.model_dump(mode="json")
    moved["facilities"][1]["instruments"].append(original.model_dump(mode="json")["facilities"][0]["instruments"][1])
    with pytest.raises(InputError) as error:
        await _replace(sessions, round_id, load_round(moved), force=True)
    assert [problem.path for problem in error.value.problems] == ["$.facilities[1].instruments[1].id"]

    # This one fails half-way, on writing proposals for a user that does not exist.
    with pytest.raises(IntegrityError):
        await _replace(sessions, round_id, other, force=True, owner_id=999_999)

    _assert_same(await _export(sessions, round_id), original)
    assert await _count(sessions, Facility) == facilities


async def test_clashes_with_stored_data_are_input_errors_with_paths(sessions: Sessions) -> None:
    round_file = load_round(EXAMPLE)
    await _import(sessions, round_file)
    document = round_file.model_dump(mode="json")
    # Valid on its own, but the catalogue has the first facility's second instrument at that facility.
    document["facilities"][1]["instruments"].append(document["facilities"][0]["instruments"].pop(1))
    document["proposals"][1]["reviews"].append(document["proposals"][1]["reviews"][0])
    with pytest.raises(InputError) as error:
        await _import(sessions, load_round(document))
    assert [problem.path for problem in error.value.problems] == [
        f"$.proposals[{1}].reviews[{len(document['proposals'][1]['reviews']) - 1}].reviewer",
        "$.round.id",
        f"$.facilities[1].instruments[{len(document['facilities'][1]['instruments']) - 1}].id",
    ]


async def test_a_replaced_round_keeps_its_proposals_owners(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        user = User(email="pi@example.org", name="PI", role="proposer", password_hash="-")
        session.add(user)
    round_file = load_round(EXAMPLE)
    round_id = await _import(sessions, round_file, owner_id=user.id)
    document = round_file.model_dump(mode="json")
    document["proposals"][0]["title"] = "A new title"
    await _replace(sessions, round_id, load_round(document))

    async with sessions() as session:
        owners = (await session.execute(select(Proposal.owner_id).where(Proposal.round_id == round_id))).scalars()
        assert set(owners) == {user.id}


async def test_a_round_that_is_no_valid_file_yet_exports_as_an_input_error(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        started = load_round(EXAMPLE).round
        empty = Round(code="2028-I", name="being set up", start=started.start, end=started.end)
        session.add(empty)
    assert empty.id is not None
    with pytest.raises(InputError) as error:
        await _export(sessions, empty.id)
    assert [problem.path for problem in error.value.problems] == ["$.facilities"]


async def test_a_round_lists_only_its_own_instruments_of_a_shared_facility(sessions: Sessions) -> None:
    first = load_round(EXAMPLE)
    document = _renamed(first, "2027-II-example").model_dump(mode="json")
    skif = document["facilities"][0]
    skif["instruments"] = [i for i in skif["instruments"] if i["id"] != "SKIF-1-1"]
    document["proposals"] = [p for p in document["proposals"] if p["id"] != "P-001"]
    for proposal in document["proposals"]:
        for request in proposal["requests"]:
            request["instruments"] = [i for i in request["instruments"] if i != "SKIF-1-1"]
    second = load_round(document)
    first_id, second_id = await _import(sessions, first), await _import(sessions, second)
    _assert_same(await _export(sessions, first_id), first)
    _assert_same(await _export(sessions, second_id), second)


async def test_a_round_with_change_notices_keeps_them_when_replaced(sessions: Sessions) -> None:
    original = _with_previous_schedule(load_round(FIXTURES / "rounds" / "small.json"))
    round_id = await _import(sessions, original)
    async with sessions.begin() as session:
        version = (
            await session.execute(select(ScheduleVersion).where(ScheduleVersion.round_id == round_id))
        ).scalar_one()
        proposal = (await session.execute(select(Proposal).where(Proposal.round_id == round_id))).scalars().first()
        assert version.id is not None and proposal is not None and proposal.id is not None
        session.add(
            ChangeNotice(proposal_id=proposal.id, request_code="x", schedule_version_id=version.id, kind="added")
        )
    replaced = await _replace(sessions, round_id, original, force=True)
    _assert_same(await _export(sessions, round_id), original)
    # The same schedule again: nothing changed for anyone, and the old notice follows its proposal's code.
    assert replaced.notices == 0 and replaced.superseded == 1 and replaced.versions == 2
    async with sessions() as session:
        notices = (
            await session.execute(
                select(Proposal.code, ChangeNotice.request_code)
                .join(Proposal, col(Proposal.id) == col(ChangeNotice.proposal_id))
                .where(Proposal.round_id == round_id)
            )
        ).all()
    assert [tuple(notice) for notice in notices] == [(proposal.code, "x")]


async def test_a_slot_whose_request_the_file_takes_from_a_kept_proposal_is_reported_and_cancelled(
    sessions: Sessions,
) -> None:
    original = _with_previous_schedule(load_round(EXAMPLE))
    assert original.previous_schedule is not None
    round_id = await _import(sessions, original)
    document = original.model_dump(mode="json")
    (p003,) = [proposal for proposal in document["proposals"] if proposal["id"] == "P-003"]
    p003["requests"] = [request for request in p003["requests"] if request["id"] != "P-003-b"]
    p003["links"] = []
    document["previous_schedule"] = [a for a in document["previous_schedule"] if a["request"] != "P-003-b"]
    assert len(document["previous_schedule"]) == len(original.previous_schedule) - 1

    replaced = await _replace(sessions, round_id, load_round(document), force=True)
    assert replaced.lost_slots == ("version 1: P-003-b",)
    assert replaced.removed_requests == ("P-003-b",) and replaced.removed_proposals == ()
    async with sessions() as session:
        first = await session.scalar(
            select(ScheduleVersion.id).where(ScheduleVersion.round_id == round_id, ScheduleVersion.number == 1)
        )
        assert first is not None
        kept = {a.request for a in (await version_schedule(session, first)).allocations}
        notices = (
            await session.execute(select(ChangeNotice.request_code, ChangeNotice.kind, ChangeNotice.reason))
        ).all()
    assert kept == {a.request for a in original.previous_schedule} - {"P-003-b"}
    assert [tuple(notice) for notice in notices] == [("P-003-b", "dropped", REPLACED)]
