"""Concurrent writes of one row without If-Match wait for each other and all succeed, on SQLite and PostgreSQL.

A write that read its row unlocked and then found its version moved by another was refused (409) though nobody
asked for a condition; the writes below read their rows locked, so each checks and changes the row the one
before it left, and the stored row is what the last of them sent.
"""

from __future__ import annotations

from functools import partial

from tests.api.test_races import Server, server, together  # noqa: F401 (the `server` fixture)

WRITERS = 6


async def test_judges_marking_one_proposal_at_once_all_succeed(server: Server) -> None:  # noqa: F811
    round_id = await server.example_round()
    proposals = (await server.ok("GET", "/proposals", params={"round_id": round_id}))["items"]
    path = f"/proposals/{proposals[0]['id']}/feasibility"
    version = (await server.ok("GET", f"/proposals/{proposals[0]['id']}"))["version"]
    marks = [{"technically_feasible": number % 2 == 0} for number in range(WRITERS)]

    answers = await together(*(partial(server.client.put, path, json=mark, headers=server.admin) for mark in marks))

    assert [answer.status_code for answer in answers] == [200] * WRITERS, [answer.text for answer in answers]
    # A mark that repeats the verdict changes nothing, so the version moves only with the verdict.
    last = max((answer.json() for answer in answers), key=lambda answered: answered["version"])
    stored = await server.ok("GET", f"/proposals/{proposals[0]['id']}")
    assert (stored["version"], stored["technically_feasible"]) == (last["version"], last["technically_feasible"])
    assert last["version"] > version


async def test_coordinators_replacing_one_quota_at_once_all_succeed(server: Server) -> None:  # noqa: F811
    round_id = await server.example_round()
    quota = next(q for q in (await server.ok("GET", f"/rounds/{round_id}/quotas"))["items"] if q["max_share"])
    fields = ("code", "scope", "category", "attribution", "soft", "penalty", "min_share")
    shares = [round(0.3 + number / 20, 2) for number in range(WRITERS)]
    bodies = [{key: quota[key] for key in fields} | {"max_share": share} for share in shares]
    path = f"/quotas/{quota['id']}"

    answers = await together(*(partial(server.client.put, path, json=body, headers=server.admin) for body in bodies))

    assert [answer.status_code for answer in answers] == [200] * WRITERS, [answer.text for answer in answers]
    versions = sorted(answer.json()["version"] for answer in answers)
    assert versions == list(range(quota["version"] + 1, quota["version"] + WRITERS + 1)), "one after another"
    last = next(answer.json() for answer in answers if answer.json()["version"] == versions[-1])
    assert (await server.ok("GET", path))["max_share"] == last["max_share"]
