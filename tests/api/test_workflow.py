"""A round's whole life through HTTP, on SQLite and PostgreSQL: from the first user to the proposer's calendar.

Admin creates the people; a coordinator sets up the facility and opens a round;
proposers submit; a reviewer grades; the coordinator ranks, solves (the app's own
worker runs the solver process), publishes; the proposer sees slots and
subscribes to them.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api_helpers import PASSWORD, Client, api_client, login, make_user

SOLVE_SECONDS = 30.0
ROUND_START = datetime(2027, 2, 1, 1, tzinfo=UTC)
ROUND_END = datetime(2027, 2, 15, 1, tzinfo=UTC)
PROPOSAL: dict[str, Any] = {
    "title": "Spin waves in a 2D magnet",
    "type": "standard",
    "pi": {"name": "K. Sokolova", "institution": "Kapitza Institute", "country": "RU"},
    "team": [{"name": "T. Mokoena", "institution": "University of the Witwatersrand", "country": "ZA"}],
    "requests": [
        {"label": "mx", "instruments": ["SKIF-MX"], "shifts": 6, "min_shifts": 3},
        {"label": "xafs", "instruments": ["SKIF-XAFS"], "shifts": 3, "equipment": ["cryo-9T"]},
    ],
    "links": [{"type": "all_or_nothing", "requests": ["mx", "xafs"]}],
}
SECOND_PROPOSAL: dict[str, Any] = {
    "title": "Catalyst oxidation states under operando conditions",
    "type": "standard",
    "pi": {"name": "R. Sharma", "institution": "Indian Institute of Science", "country": "IN"},
    "requests": [{"label": "a", "instruments": ["SKIF-XAFS", "SKIF-MX"], "shifts": 6}],
}
OTHER_TEAMS_PROPOSAL: dict[str, Any] = {
    "title": "Battery cathode ageing",
    "type": "industrial",
    "pi": {"name": "S. Orlov", "institution": "Cell Energy LLC", "country": "RU"},
    "requests": [{"label": "a", "instruments": ["SKIF-MX"], "shifts": 3}],
}


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def _until_finished(client: Client, url: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + SOLVE_SECONDS
    while time.monotonic() < deadline:
        run: dict[str, Any] = _ok(await client.get(url, headers=headers))
        if run["state"] not in ("queued", "running"):
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"the solve at {url} did not finish in {SOLVE_SECONDS:g} s")


async def test_a_round_from_its_first_user_to_the_proposers_calendar(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(sessions, "admin", "admin@example.org")
    async with api_client(database_url, start_worker=True, worker_poll_seconds=0.05) as client:
        admin = await login(client, "admin@example.org")

        # The admin sets up the facility and its people.
        skif = {"code": "SKIF", "name": "SKIF synchrotron", "country": "RU", "timezone": "Asia/Novosibirsk"}
        facility = _ok(await client.post("/facilities", json=skif, headers=admin), 201)
        people = {
            "coordinator": ("coordinator", ["SKIF"]),
            "reviewer": ("reviewer", []),
            "proposer": ("proposer", []),
            "other": ("proposer", []),
        }
        ids: dict[str, int] = {}
        headers: dict[str, dict[str, str]] = {}
        for key, (role, facilities) in people.items():
            user = {"email": f"{key}@example.org", "name": key.title(), "role": role, "password": PASSWORD}
            created = _ok(await client.post("/users", json=user | {"facilities": facilities}, headers=admin), 201)
            ids[key] = created["id"]
            headers[key] = await login(client, user["email"])
        coordinator, reviewer, proposer = headers["coordinator"], headers["reviewer"], headers["proposer"]

        # The coordinator: instruments, a window, equipment, a round open for proposals, its quotas.
        for instrument in (
            {"code": "SKIF-MX", "name": "Microfocus MX", "changeover_shifts": 1},
            {"code": "SKIF-XAFS", "name": "XAFS"},
        ):
            _ok(
                await client.post(f"/facilities/{facility['id']}/instruments", json=instrument, headers=coordinator),
                201,
            )
        window = {"start": "2027-02-03T08:00:00+07:00", "end": "2027-02-04T08:00:00+07:00", "kind": "maintenance"}
        _ok(await client.post(f"/facilities/{facility['id']}/windows", json=window, headers=coordinator), 201)
        cryo = {"code": "cryo-9T", "name": "9 T cryomagnet", "units": 1, "facility": facility["code"]}
        _ok(await client.post("/equipment", json=cryo, headers=coordinator), 201)
        round_ = _ok(
            await client.post(
                "/rounds",
                json={
                    "code": "2027-W",
                    "name": "Two weeks of 2027",
                    "start": "2027-02-01T08:00:00+07:00",
                    "end": "2027-02-15T08:00:00+07:00",
                    "facilities": ["SKIF"],
                    "equipment": ["cryo-9T"],
                    "scoring": {"grade_best": 1.0, "grade_worst": 5.0, "min_reviews": 1, "cutoff": 3.5},
                },
                headers=coordinator,
            ),
            201,
        )
        assert round_["phase"] == "open"
        round_url = f"/rounds/{round_['id']}"
        for quota in (
            {"code": "foreign-max", "category": {"foreign": True}, "max_share": 0.8},
            {"code": "industrial-max", "category": {"proposal_type": "industrial"}, "max_share": 0.5},
        ):
            _ok(await client.post(f"{round_url}/quotas", json=quota, headers=coordinator), 201)

        # Proposers submit; a request with a bad field is refused whole, naming the field.
        submitted = [
            _ok(await client.post(f"{round_url}/proposals", json=content, headers=proposer), 201)
            for content in (PROPOSAL, SECOND_PROPOSAL)
        ]
        others = _ok(
            await client.post(f"{round_url}/proposals", json=OTHER_TEAMS_PROPOSAL, headers=headers["other"]), 201
        )
        first, second = PROPOSAL["requests"]
        bad_fields = {"$.requests[1].shifts": {"shifts": 0}, "$.requests[1].instruments[0]": {"instruments": ["NOPE"]}}
        for path, bad in bad_fields.items():
            content = PROPOSAL | {"requests": [first, second | bad]}
            refused = await client.post(f"{round_url}/proposals", json=content, headers=proposer)
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert [error["path"] for error in refused.json()["errors"]] == [path]
        listed = _ok(await client.get("/proposals", params={"round_id": round_["id"]}, headers=coordinator))
        assert (len(listed["items"]), listed["total"]) == (3, 3)

        # Review: the coordinator assigns the reviewer, who grades; feasibility is recorded.
        _ok(await client.put(f"{round_url}/phase", json={"phase": "review"}, headers=coordinator))
        mine = [proposal["id"] for proposal in submitted]
        for proposal_id, grade in zip([*mine, others["id"]], (1.5, 2.5, 3.0), strict=True):
            assignment = {"user_id": ids["reviewer"]}
            _ok(await client.post(f"/proposals/{proposal_id}/reviewers", json=assignment, headers=coordinator), 201)
            _ok(await client.put(f"/proposals/{proposal_id}/review", json={"grade": grade}, headers=reviewer))
            feasible = {"technically_feasible": True}
            _ok(await client.put(f"/proposals/{proposal_id}/feasibility", json=feasible, headers=coordinator))
        _ok(await client.put(f"{round_url}/phase", json={"phase": "allocation"}, headers=coordinator))
        ranking = _ok(await client.get(f"{round_url}/ranking", headers=coordinator))["items"]
        assert [(row["rank"], row["proposal_id"], row["excluded_reason"]) for row in ranking] == [
            (1, mine[0], None),
            (2, mine[1], None),
            (3, others["id"], None),
        ]

        # Solve: 202 and Location at once; the app's worker runs the solver in a process of its own.
        started = await client.post(f"{round_url}/solves", json={"time_limit": 10, "workers": 1}, headers=coordinator)
        assert started.status_code == 202, started.text
        run = await _until_finished(client, started.headers["location"], coordinator)
        assert run["state"] == "done", run
        assert run["result"]["status"] in ("optimal", "feasible")
        draft = run["result"]["schedule_version_id"]

        # Publish the draft at the round's revision.
        versions = _ok(await client.get(f"{round_url}/schedules", headers=coordinator))
        assert [(version["id"], version["status"]) for version in versions["items"]] == [(draft, "draft")]
        published = _ok(
            await client.post(
                f"/schedules/{draft}/publish", json={"expected_revision": versions["revision"]}, headers=coordinator
            )
        )
        assert published["version"]["status"] == "published"
        allocations = (_ok(await client.get(f"/schedules/{draft}", headers=coordinator)))["allocations"]
        codes = {proposal["code"] for proposal in submitted}
        assert {allocation["proposal"] for allocation in allocations} == {*codes, others["code"]}

        # The proposer sees both proposals scheduled, with dates in the facility's time, and subscribes.
        statuses = _ok(await client.get("/me/proposals", headers=proposer))
        assert sorted((status["proposal"], status["status"]) for status in statuses) == sorted(
            (code, "scheduled") for code in codes
        )
        slots = [slot for status in statuses for slot in status["slots"]]
        assert sorted(slot["request"] for slot in slots) == sorted(
            request["code"] for proposal in submitted for request in proposal["requests"]
        )
        for slot in slots:
            assert slot["start"].endswith("+07:00") and slot["end"].endswith("+07:00")
            assert (
                ROUND_START <= datetime.fromisoformat(slot["start"]) < datetime.fromisoformat(slot["end"]) <= ROUND_END
            )

        address = (_ok(await client.post("/me/calendar-url", headers=proposer), 201))["url"]
        feed = await client.get(urlsplit(address).path)
        assert feed.status_code == 200
        events = Calendar.from_ical(feed.content).walk("VEVENT")
        in_feed = sorted((event.decoded("dtstart"), event.decoded("dtend")) for event in events)
        mine_published = sorted(
            (datetime.fromisoformat(a["start"]), datetime.fromisoformat(a["end"]))
            for a in allocations
            if a["proposal"] in codes
        )
        assert in_feed == mine_published
        assert len(in_feed) == len(slots) == 3
