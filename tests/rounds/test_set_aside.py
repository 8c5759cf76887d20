"""A solve never fails because of one proposal, over HTTP on SQLite and PostgreSQL: a stored proposal that breaks
the round file's rules (old data, a rule added later) is set aside with its reason in the ranking and the solve's
output while the rest is ranked and scheduled; coordinators may declare a proposal inadmissible, which the
proposer sees and which takes it out of the solve."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import Proposal, Request, SolveRun
from scheduler.jobs import Worker, run_output
from scheduler.nightly.decide import decide_night
from scheduler.roundfile.checks import load_round
from scheduler.settings import Settings
from tests.api_helpers import Client, api_client, login, make_user
from tests.nightly.nightly_helpers import add_rapid_access, import_published
from tests.web.test_dashboard import page, payload, sign_in

EXAMPLE = EXAMPLE_ROUND
Sessions = async_sessionmaker[AsyncSession]
PUBLISHED = [
    ("P-001-a", "SKIF-1-1", 9, 9),
    ("P-004-a", "SKIF-1-4", 0, 6),
    ("P-003-a", "SKIF-1-4", 9, 3),
    ("P-002-a", "SKIF-1-4", 12, 6),
    ("P-006-a", "PIK-SANS", 0, 12),
    ("P-003-b", "PIK-SANS", 13, 9),
]
"""An optimal schedule of the example round, published with it for the nightly repair."""
SET_ASIDE = (
    "set aside: P-001.requests[0].instruments[0]: unknown instrument 'SKIF-GONE'; "
    "P-001.requests[0].min_shifts: min_shifts 43 is more than the round's 42 shifts"
)


async def _round(client: Client, sessions: Sessions, *, owner: int | None = None) -> tuple[int, dict[str, str]]:
    """The example round imported by an admin; P-005 (asking for PIK-SANS) owned by `owner`."""
    await make_user(sessions, "admin", "admin@example.org")
    admin = await login(client, "admin@example.org")
    imported = await client.post("/rounds/import", json=json.loads(EXAMPLE.read_text()), headers=admin)
    assert imported.status_code == 201, imported.text
    if owner is not None:
        async with sessions.begin() as session:
            await session.execute(update(Proposal).where(col(Proposal.code) == "P-005").values(owner_id=owner))
    return imported.json()["id"], admin


async def _break_p001(sessions: Sessions) -> None:
    """Old data: a request of P-001 (ranked first) for an instrument gone, of 43 shifts at least in a round of 42."""
    async with sessions.begin() as session:
        await session.execute(
            update(Request)
            .where(col(Request.code) == "P-001-a")
            .values(instruments=["SKIF-GONE"], shifts=43, min_shifts=43)
        )


async def _ranking(client: Client, round_id: int, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = await client.get(f"/rounds/{round_id}/ranking", headers=headers)
    assert response.status_code == 200, response.text
    return {row["proposal"]: row for row in response.json()["items"]}


async def test_the_ranking_sets_an_invalid_proposal_aside_and_ranks_the_rest(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url) as client:
        round_id, admin = await _round(client, sessions)
        before = await _ranking(client, round_id, admin)
        await _break_p001(sessions)

        ranking = await _ranking(client, round_id, admin)

        assert set(ranking) == {f"P-00{n}" for n in range(1, 7)}
        aside = ranking["P-001"]
        assert (aside["excluded_reason"], aside["excluded_detail"], aside["priority"]) == (
            "not_feasible",
            SET_ASIDE,
            None,
        )
        assert aside["rank"] == 6
        for code in ("P-002", "P-003", "P-004", "P-005", "P-006"):
            assert ranking[code]["priority"] == before[code]["priority"]
        await sign_in(client, "admin@example.org")
        assert SET_ASIDE in json.dumps(payload(await page(client, f"/ui/rounds/{round_id}")), ensure_ascii=False)


async def test_a_solve_gives_an_invalid_proposal_no_time_and_says_why_and_its_draft_publishes(
    database_url: str, sessions: Sessions
) -> None:
    async with api_client(database_url, start_worker=True, worker_poll_seconds=0.05) as client:
        round_id, admin = await _round(client, sessions)
        await _break_p001(sessions)

        started = await client.post(f"/rounds/{round_id}/solves", json={"time_limit": 5, "workers": 1}, headers=admin)
        assert started.status_code == 202, started.text
        run = await _finished(client, started.headers["location"], admin)

        assert run["state"] == "done", run
        output = (await client.get(f"{started.headers['location']}/output", headers=admin)).json()
        entries = {(u["proposal"], u["request"], u["reason"], u["detail"]) for u in output["unallocated"]}
        assert ("P-001", "P-001-a", "not_feasible", SET_ASIDE) in entries
        assert "P-001" not in {allocation["proposal"] for allocation in output["allocations"]}
        assert {allocation["proposal"] for allocation in output["allocations"]} >= {"P-002", "P-006"}

        version_id = run["result"]["schedule_version_id"]
        revision = (await client.get(f"/rounds/{round_id}/schedules", headers=admin)).json()["revision"]
        published = await client.post(
            f"/schedules/{version_id}/publish", json={"expected_revision": revision}, headers=admin
        )
        assert published.status_code == 200, published.text
        exported = await client.get(f"/schedules/{version_id}/export", headers=admin)
        assert exported.status_code == 200, exported.text
        assert exported.json()["allocations"]


async def test_coordinators_declare_a_proposal_inadmissible_and_the_proposer_sees_why(
    database_url: str, sessions: Sessions
) -> None:
    reason = "the sample is not allowed at the reactor"
    async with api_client(database_url) as client:
        owner = await make_user(sessions, "proposer", "pi@example.org")
        round_id, admin = await _round(client, sessions, owner=owner)
        await make_user(sessions, "coordinator", "pik@example.org", facility_codes=["PIK"])
        await make_user(sessions, "coordinator", "skif@example.org", facility_codes=["SKIF"])
        pik, skif = await login(client, "pik@example.org"), await login(client, "skif@example.org")
        proposer = await login(client, "pi@example.org")
        async with sessions.begin() as session:
            proposal_id = await session.scalar(select(col(Proposal.id)).where(col(Proposal.code) == "P-005"))
        url = f"/proposals/{proposal_id}/admissibility"

        assert (
            await client.put(url, json={"admissible": False, "reason": reason}, headers=proposer)
        ).status_code == 403
        assert (await client.put(url, json={"admissible": False, "reason": reason}, headers=skif)).status_code == 403
        missing = await client.put(url, json={"admissible": False}, headers=pik)
        assert missing.status_code == 422, missing.text
        assert [error["path"] for error in missing.json()["errors"]] == ["$.reason"]

        declared = await client.put(url, json={"admissible": False, "reason": reason}, headers=pik)

        assert declared.status_code == 200, declared.text
        assert declared.json()["inadmissible_reason"] == reason
        assert (await client.get(f"/proposals/{proposal_id}", headers=proposer)).json()["inadmissible_reason"] == reason
        mine = (await client.get("/me/proposals", headers=proposer)).json()
        assert [(item["proposal"], item["reason"], item["detail"]) for item in mine] == [
            ("P-005", "not_feasible", f"inadmissible: {reason}")
        ]
        row = (await _ranking(client, round_id, admin))["P-005"]
        assert (row["excluded_reason"], row["excluded_detail"]) == ("not_feasible", f"inadmissible: {reason}")
        exported = (await client.get(f"/rounds/{round_id}/export", headers=admin)).json()
        assert next(p for p in exported["proposals"] if p["id"] == "P-005")["technically_feasible"] is False
        audit = await client.get("/audit", params={"entity": "proposal", "entity_id": str(proposal_id)}, headers=admin)
        assert next((entry["action"], entry["detail"]) for entry in audit.json()["items"]) == (
            "proposal.admissibility",
            {"before": None, "after": reason, "reason": reason},
        )

        again = await client.put(url, json={"admissible": True, "reason": "allowed after all"}, headers=pik)
        assert again.json()["inadmissible_reason"] is None
        row = (await _ranking(client, round_id, admin))["P-005"]
        assert (row["excluded_reason"], row["excluded_detail"]) == (
            "below_cutoff",
            "score 3.8 worse than the cut-off 3.5",
        )


async def test_a_nightly_repair_sets_an_invalid_proposal_aside(sessions: Sessions) -> None:
    """The published example round, then old data breaks P-002: the night's repair runs and gives it no time.
    (A rapid-access proposal takes up its shifts, as in the nightly tests: the example's hard quotas need it.)"""
    round_id = await import_published(sessions, load_round(EXAMPLE), PUBLISHED)
    async with sessions.begin() as session:
        start = datetime(2027, 2, 1, 5, tzinfo=UTC)
        await add_rapid_access(session, round_id, "RA-1", "SKIF-1-4", 3, start, priority=20.0)
        await session.execute(update(Request).where(col(Request.code) == "P-002-a").values(instruments=["SKIF-GONE"]))
    night = date(2027, 2, 2)
    due = datetime(2027, 2, 2, 2, 1, tzinfo=ZoneInfo("Asia/Novosibirsk")).astimezone(UTC)
    nightly = Settings(worker_poll_seconds=0.05, solve_time_limit=2.0, solve_workers=1)

    decision = await decide_night(sessions, round_id, night, due, nightly)
    assert decision is not None and decision.state == "queued", decision
    assert await Worker(sessions, nightly).drain(asyncio.Event()) == [decision.run_id]

    async with sessions() as session:
        run = await session.get(SolveRun, decision.run_id)
        assert run is not None and run.state == "done", run and run.error
        output = await run_output(session, decision.run_id)
    assert output is not None
    (aside,) = [entry for entry in output["unallocated"] if entry["proposal"] == "P-002"]
    assert (aside["reason"], aside["detail"]) == (
        "not_feasible",
        "set aside: P-002.requests[0].instruments[0]: unknown instrument 'SKIF-GONE'; "
        "$.previous_schedule[3].instrument: instrument 'SKIF-1-4' is not one of request 'P-002-a''s instruments",
    )
    assert output["status"] in ("optimal", "feasible")
    assert {allocation["request"] for allocation in output["allocations"]} >= {"P-001-a", "P-006-a"}


async def _finished(client: Client, url: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = (await client.get(url, headers=headers)).json()
        if body["state"] not in ("queued", "running"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never finished")
