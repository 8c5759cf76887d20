"""The proposer's slot status over HTTP, on SQLite and PostgreSQL: who sees which proposal, and the times."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from fixtures import EXAMPLE_ROUND
from scheduler.db.tables import Facility, Proposal, ReviewAssignment
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation
from scheduler.rounds.importer import import_round
from tests.api_helpers import api_client, login, make_user

EXAMPLE = EXAMPLE_ROUND
PUBLISHED = [
    PreviousAllocation(request="P-001-a", instrument="SKIF-1-1", start_shift=9, shifts=9),
    PreviousAllocation(request="P-003-b", instrument="PIK-SANS", start_shift=13, shifts=9, pinned=True),
    PreviousAllocation(request="P-003-a", instrument="SKIF-1-4", start_shift=9, shifts=3),
]
"""Part of a schedule of the example round, whose shifts start at 05:00 UTC."""

Sessions = async_sessionmaker[AsyncSession]


async def _proposal_ids(sessions: Sessions, round_id: int) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(select(Proposal.code, Proposal.id).where(Proposal.round_id == round_id))
        return {code: proposal_id for code, proposal_id in rows if proposal_id is not None}


async def test_who_sees_a_proposals_slots(database_url: str, sessions: Sessions) -> None:
    round_file = load_round(EXAMPLE).model_copy(update={"previous_schedule": PUBLISHED})
    async with sessions.begin() as session:
        round_id = await import_round(session, round_file)
        session.add(Facility(code="ESRF", name="ESRF", country="FR", timezone="Europe/Paris"))
    ids = await _proposal_ids(sessions, round_id)
    owner = await make_user(sessions, "proposer", "pi@example.org")
    await make_user(sessions, "proposer", "other@example.org")
    await make_user(sessions, "coordinator", "pik@example.org", facility_codes=["PIK"])
    await make_user(sessions, "coordinator", "esrf@example.org", facility_codes=["ESRF"])
    await make_user(sessions, "admin", "admin@example.org")
    assigned = await make_user(sessions, "reviewer", "assigned@example.org")
    await make_user(sessions, "reviewer", "unassigned@example.org")
    async with sessions.begin() as session:
        await session.execute(update(Proposal).where(col(Proposal.id) == ids["P-003"]).values(owner_id=owner))
        session.add(ReviewAssignment(proposal_id=ids["P-003"], user_id=assigned))

    path = f"/proposals/{ids['P-003']}/slots"
    async with api_client(database_url) as client:
        response = await client.get(path, headers=await login(client, "pi@example.org"))
        assert response.status_code == 200, response.text
        assert response.json() == {
            "id": ids["P-003"],
            "proposal": "P-003",
            "title": round_file.proposals[2].title,
            "round_id": round_id,
            "round": "2027-I-example",
            "status": "scheduled",
            "slots": [
                {
                    "request": "P-003-a",
                    "instrument": "SKIF-1-4",
                    "instrument_name": "XAFS",
                    "facility": "SKIF",
                    "facility_name": "SKIF synchrotron",
                    "timezone": "Asia/Novosibirsk",
                    "start": "2027-02-04T12:00:00+07:00",
                    "end": "2027-02-05T12:00:00+07:00",
                    "shifts": 3,
                    "pinned": False,
                },
                {
                    "request": "P-003-b",
                    "instrument": "PIK-SANS",
                    "instrument_name": "Small-angle scattering",
                    "facility": "PIK",
                    "facility_name": "PIK neutron reactor",
                    "timezone": "Europe/Moscow",
                    "start": "2027-02-05T16:00:00+03:00",
                    "end": "2027-02-08T16:00:00+03:00",
                    "shifts": 9,
                    "pinned": True,
                },
            ],
        }
        mine = await client.get("/me/proposals", headers=await login(client, "pi@example.org"))
        assert mine.status_code == 200, mine.text
        (status,) = mine.json()
        assert status["slots"] == response.json()["slots"], "one slot object, in the facility's offset, on both"
        for email in ("pik@example.org", "admin@example.org", "assigned@example.org"):
            seen = await client.get(path, headers=await login(client, email))
            assert seen.status_code == 200, email
            assert seen.json() == response.json()
        for email in ("other@example.org", "esrf@example.org", "unassigned@example.org"):
            hidden = await client.get(path, headers=await login(client, email))
            assert hidden.status_code == 404, email
            assert hidden.headers["content-type"] == "application/problem+json"
        assert (await client.get(path)).status_code == 401

        admin = await login(client, "admin@example.org")
        unplaced = (await client.get(f"/proposals/{ids['P-005']}/slots", headers=admin)).json()
        assert (unplaced["status"], unplaced["slots"]) == ("unallocated", [])
        assert (await client.get("/proposals/999999/slots", headers=admin)).status_code == 404


async def test_no_published_schedule_means_no_slots(database_url: str, sessions: Sessions) -> None:
    async with sessions.begin() as session:
        round_id = await import_round(session, load_round(EXAMPLE))
    ids = await _proposal_ids(sessions, round_id)
    owner = await make_user(sessions, "proposer", "pi@example.org")
    async with sessions.begin() as session:
        await session.execute(update(Proposal).where(col(Proposal.id) == ids["P-001"]).values(owner_id=owner))

    async with api_client(database_url) as client:
        response = await client.get(f"/proposals/{ids['P-001']}/slots", headers=await login(client, "pi@example.org"))
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["slots"]) == ("submitted", [])
