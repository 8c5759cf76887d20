"""`beamtime serve`: the API on the configured database (SQLite under data/ unless DATABASE_URL says otherwise).

The app migrates its database as it starts, so a fresh checkout serves in one
step; `--demo` first fills an empty database with a solved and published round
(scheduler.demo) and prints how to sign in and query it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys

import uvicorn

from scheduler.demo import ACCOUNTS, DEMO_TIME_LIMIT, PROPOSER, Demo, DemoError, set_up_demo
from scheduler.settings import get_settings

REFUSED = 2
APP_FACTORY = "api.app:create_app"
"""Named, not imported: imports point from api to scheduler, never back. The app migrates at start-up."""
_ANY_ADDRESS = ("0.0.0.0", "::", "")


def add_serve_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the API (DATABASE_URL; SQLite under data/ by default); --demo for a ready-made round",
        description="Migrates the database and serves the API with uvicorn; OpenAPI at /schema. "
        "Queued solves run in this process unless BEAMTIME_RUN_WORKER_IN_API=false (then run `beamtime worker`).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="on an empty database: import the bundled medium round, create an account per role, "
        "solve and publish it; a database with the demo already is served as it is",
    )
    serve.add_argument(
        "--demo-time-limit",
        type=float,
        default=DEMO_TIME_LIMIT,
        metavar="S",
        help=f"seconds the demo's solve searches (default {DEMO_TIME_LIMIT:g})",
    )
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    # Calendar addresses point at this server unless BEAMTIME_PUBLIC_URL says where it is reached.
    os.environ.setdefault("BEAMTIME_PUBLIC_URL", _address(args.host, args.port))
    settings = get_settings()
    demo = None
    if args.demo:
        print(
            "Setting up the demo (import, accounts, one solve, publish; the next round, solved under fair return)...",
            flush=True,
        )
        try:
            demo = asyncio.run(set_up_demo(settings, time_limit=args.demo_time_limit))
        except DemoError as error:
            print(f"beamtime: {error}", file=sys.stderr)
            return REFUSED
    print(_banner(settings.public_url, demo), flush=True)
    uvicorn.run(APP_FACTORY, factory=True, host=args.host, port=args.port)
    return 0


def _address(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in _ANY_ADDRESS else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _banner(url: str, demo: Demo | None) -> str:
    """Where the API is and, for the demo, who can sign in and how to ask for the proposer's slots."""
    lines = [f"beamtime API: {url}", f"  OpenAPI:  {url}/schema  (JSON: {url}/schema/openapi.json)"]
    if demo is None:
        return "\n".join(lines)
    login = shlex.quote(f'{{"email": "{PROPOSER.email}", "password": "{PROPOSER.password}"}}')
    lines += [
        f"  Demo round {demo.round_code} (id {demo.round_id}), published schedule version {demo.schedule_version_id}",
        f"  Its next round (id {demo.second_round_id}) under a fair-return policy repays the CIS partners' deficit: "
        f"{url}/solves/{demo.second_solve_id}/output (fair_return) as a coordinator",
        "  Demo logins (fixed passwords: for a machine of your own only):",
        *(f"    {account.role:<12} {account.email:<26} {account.password}" for account in ACCOUNTS),
        f"  The proposer's proposals: {', '.join(demo.proposer_proposals)}. Their status and slots:",
        f"    TOKEN=$(curl -s -X POST {url}/auth/login -H 'Content-Type: application/json' -d {login} \\",
        "      | python3 -c 'import json, sys; print(json.load(sys.stdin)[\"access_token\"])')",
        f'    curl -s {url}/me/proposals -H "Authorization: Bearer $TOKEN"',
    ]
    return "\n".join(lines)
