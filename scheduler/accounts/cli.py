"""`beamtime user create`: the first admin (and any other user) from the command line.

It migrates the database first, so a fresh deployment is bootstrapped in one step:
`beamtime user create --email admin@example.org --name Admin --role admin`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from scheduler.accounts.schemas import ROLES, UserPublic
from scheduler.accounts.service import create_user
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.errors import Conflict
from scheduler.settings import get_settings

REFUSED = 2


def add_user_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = subparsers.add_parser("user", help="manage user accounts (DATABASE_URL)")
    actions = user.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create a user; asks for the password when --password is not given",
        description="Creates a user in the database of DATABASE_URL, migrating it first.",
    )
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument(
        "--facility",
        action="append",
        default=[],
        metavar="CODE",
        help="a facility the coordinator coordinates; repeat for several",
    )
    create.add_argument("--password", help="the password (visible in the shell's history: prefer the prompt)")
    create.set_defaults(run=_create)


def _create(args: argparse.Namespace) -> int:
    password = args.password if args.password is not None else _ask_password()
    if password is None:
        print("beamtime: the passwords differ; no user was created", file=sys.stderr)
        return REFUSED
    database_url = get_settings().database_url
    upgrade_database(database_url)
    try:
        user = asyncio.run(_store(database_url, args.email, args.name, args.role, password, args.facility))
    except Conflict as error:
        print(f"beamtime: {error}", file=sys.stderr)
        return REFUSED
    facilities = f" of {', '.join(user.facilities)}" if user.facilities else ""
    print(f"created user {user.id}: {user.email} ({user.role}{facilities})")
    return 0


def _ask_password() -> str | None:
    password = getpass.getpass("Password: ")
    return password if getpass.getpass("Password again: ") == password else None


async def _store(
    database_url: str, email: str, name: str, role: str, password: str, facilities: list[str]
) -> UserPublic:
    engine = create_engine(database_url)
    try:
        async with session_maker(engine).begin() as session:
            return await create_user(session, email, name, role, password, facilities)
    finally:
        await engine.dispose()
