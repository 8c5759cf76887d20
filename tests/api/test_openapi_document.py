"""The OpenAPI document is one document: every process that builds it writes it the same, byte for byte, so clients
generated from it and parallel test workers collecting schemathesis' cases from it all see the same one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WRITE_DOCUMENT = """
import asyncio, sys
from litestar.testing import AsyncTestClient
from api.app import create_app
from tests.api_helpers import api_settings

async def write(database_url: str, target: str) -> None:
    app = create_app(api_settings(database_url), start_worker=False, migrate=False)
    async with AsyncTestClient(app=app) as client:
        answer = await client.get("/schema/openapi.json")
        answer.raise_for_status()
        with open(target, "wb") as document:
            document.write(answer.content)

asyncio.run(write(sys.argv[1], sys.argv[2]))
"""


def _document(tmp_path: Path, hash_seed: str) -> bytes:
    """The document as a fresh process under `hash_seed` answers it (sets and dicts of strings order by the seed)."""
    target = tmp_path / f"openapi-{hash_seed}.json"
    subprocess.run(
        [sys.executable, "-c", WRITE_DOCUMENT, f"sqlite+aiosqlite:///{tmp_path / 'beamtime.db'}", str(target)],
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
        cwd=Path(__file__).parents[2],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target.read_bytes()


def test_every_process_writes_the_same_document(tmp_path: Path) -> None:
    first, second = _document(tmp_path, "1"), _document(tmp_path, "2")
    assert b'"Location"' in first  # the 201s' response headers, whose order followed the seed
    assert first == second
