"""A round's export is kept between reads, on SQLite and PostgreSQL, only as long as it is what the database holds:
a transaction's own uncommitted change is read fresh and kept by no one, and only the last rounds read are kept.
A kept round is checked and scored once, for its ranking, the measurements of its versions and hand edits' checks."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import Proposal
from scheduler.roundfile import scoring
from scheduler.roundfile.checks import InputProblem, check_round, load_round
from scheduler.roundfile.contract import PreviousAllocation, RoundFile
from scheduler.roundfile.scoring import ProposalScore
from scheduler.roundfile.solving import ranked_with_set_aside, set_aside
from scheduler.rounds import kept as kept_module
from scheduler.rounds.importer import import_round
from scheduler.rounds.kept import KEPT_ROUNDS, KeptRound, kept_round
from scheduler.schedules.export import export_schedule
from scheduler.schedules.versions import save_version

Sessions = async_sessionmaker[AsyncSession]


async def _import(sessions: Sessions, code: str = "2027-I-example") -> int:
    example = load_round(EXAMPLE_ROUND)
    round_file = example.model_copy(update={"round": example.round.model_copy(update={"id": code})})
    async with sessions.begin() as session:
        return await import_round(session, round_file)


async def test_a_transaction_reads_its_own_change_fresh_and_keeps_nothing(sessions: Sessions) -> None:
    round_id = await _import(sessions)
    async with sessions() as session:
        kept = await kept_round(session, round_id)
    titles = {proposal.id: proposal.title for proposal in kept.round_file.proposals}

    async with sessions() as session, session.begin():
        proposal = await session.scalar(select(Proposal).where(col(Proposal.code) == "P-001"))
        assert proposal is not None
        proposal.title = "Renamed, never committed"
        changed = await kept_round(session, round_id)
        assert changed.inputs is None
        assert {p.id: p.title for p in changed.round_file.proposals}["P-001"] == "Renamed, never committed"
        await session.rollback()

    async with sessions() as session:
        assert await kept_round(session, round_id) is kept
    assert {proposal.id: proposal.title for proposal in kept.round_file.proposals} == titles


async def test_only_the_rounds_read_last_are_kept(sessions: Sessions) -> None:
    round_ids = [await _import(sessions, f"2027-kept-{number}") for number in range(KEPT_ROUNDS + 1)]
    async with sessions() as session:
        first = await kept_round(session, round_ids[0])
        for round_id in round_ids[1:]:
            assert (await kept_round(session, round_id)).inputs is not None
        again = await kept_round(session, round_ids[0])
    assert again is not first, f"{KEPT_ROUNDS} other rounds read since: the first was dropped"
    assert again.round_file == first.round_file


async def test_a_kept_round_is_checked_and_scored_once_for_its_ranking_and_its_versions_measurements(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_id = await _import(sessions)
    async with sessions.begin() as session:  # a hand edit's draft: measured when read
        version_id = await save_version(session, round_id, [], source="edit", note="")
    scored: list[RoundFile] = []
    score_round = scoring.score_round

    def counted(round_file: RoundFile) -> list[ProposalScore]:
        scored.append(round_file)
        return score_round(round_file)

    checked: list[RoundFile] = []

    def checked_once_more(round_file: RoundFile) -> list[InputProblem]:
        checked.append(round_file)
        return check_round(round_file)

    monkeypatch.setattr(kept_module, "score_round", counted)
    monkeypatch.setattr("scheduler.roundfile.solving.score_round", counted)
    monkeypatch.setattr("scheduler.roundfile.solving.check_round", checked_once_more)
    async with sessions() as session:
        kept = await kept_round(session, round_id)
        measured = await export_schedule(session, version_id)
        ranking = kept.ranking
    assert len(scored) == 1
    assert len(checked) == 1, "the proposals set aside with the previous schedule and without it: one check"
    assert measured.unallocated
    assert ranking == ranked_with_set_aside(kept.round_file)


def test_a_previous_allocation_that_breaks_a_rule_sets_its_proposal_aside_from_the_ranking_alone() -> None:
    """As two separate checks would: the ranking reads the round with its previous schedule, a version is measured
    in the round without it."""
    example = load_round(EXAMPLE_ROUND)
    wrong = PreviousAllocation(request="P-001-a", instrument="PIK-SANS", start_shift=0, shifts=6)
    round_file = example.model_copy(update={"previous_schedule": [wrong]})
    kept = KeptRound(round_file)

    aside = {s.proposal: s.excluded_detail for s in kept.ranking if (s.excluded_detail or "").startswith("set aside")}
    assert aside == {
        "P-001": "set aside: $.previous_schedule[0].instrument: instrument 'PIK-SANS' is not one of "
        "request 'P-001-a''s instruments"
    }
    assert kept.ranking == ranked_with_set_aside(round_file)
    assert kept.schedulable == set_aside(round_file.model_copy(update={"previous_schedule": None}))
    assert kept.schedulable.reasons == {}
