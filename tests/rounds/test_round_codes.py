"""A round's facilities and equipment are lists of codes, each of an existing row and each given once: over HTTP on
SQLite and PostgreSQL, unknown and repeated codes are refused together, each named at its index."""

from __future__ import annotations

import json

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fixtures import EXAMPLE_ROUND
from tests.api_helpers import api_client, login, make_user


def errors(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return [(error["path"], error["message"]) for error in response.json()["errors"]]


async def test_unknown_and_repeated_codes_of_a_round_are_named_together(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with api_client(database_url) as client:
        await make_user(sessions, "admin", "admin@example.org")
        admin = await login(client, "admin@example.org")
        imported = await client.post("/rounds/import", json=json.loads(EXAMPLE_ROUND.read_text()), headers=admin)
        assert imported.status_code == 201, imported.text
        url = f"/rounds/{imported.json()['id']}"

        facilities = await client.patch(url, json={"facilities": ["SKIF", "NOPE", "SKIF"]}, headers=admin)
        equipment = await client.patch(url, json={"equipment": ["cryomagnet-9T", "cryomagnet-9T"]}, headers=admin)
        unknown = await client.patch(url, json={"equipment": ["no-such-item"]}, headers=admin)
        kept = await client.get(url, headers=admin)

    assert errors(facilities) == [
        ("$.facilities[1]", "no facility with code 'NOPE'"),
        ("$.facilities[2]", "'SKIF' is listed twice"),
    ]
    assert errors(equipment) == [("$.equipment[1]", "'cryomagnet-9T' is listed twice")]
    assert errors(unknown) == [("$.equipment[0]", "no equipment with code 'no-such-item'")]
    assert (kept.json()["facilities"], kept.json()["equipment"]) == (["SKIF", "PIK"], ["cryomagnet-9T"])
