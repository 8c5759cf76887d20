"""Every setting of the service, from environment variables, with defaults that need no set-up."""

from __future__ import annotations

import os
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from scheduler.fields import MAX_LINKS_PER_PROPOSAL, MAX_REQUESTS_PER_PROPOSAL, MAX_TEAM

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
"""The service's own folder: the signing secret and the SQLite database (password hashes). This account only."""
PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_data_dir() -> Path:
    """DATA_DIR, created if need be, and brought to 0700 with every file in it 0600 (a folder made by an
    older version, or by a umask of 022, is readable by every account on the machine)."""
    DATA_DIR.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
    DATA_DIR.chmod(PRIVATE_DIRECTORY)
    for path in DATA_DIR.iterdir():
        if path.is_file() and not path.is_symlink():
            path.chmod(PRIVATE_FILE)
    return DATA_DIR


def private_sqlite_database(url: str) -> None:
    """Before SQLite opens the file of `url`: its folder exists (0700 when made here; DATA_DIR always) and the
    file is 0600, created empty if missing. SQLite gives its WAL and shared-memory files the database's mode."""
    address = make_url(url)
    if address.get_backend_name() != "sqlite" or not address.database or address.database == ":memory:":
        return
    database = Path(address.database)
    if database.parent.resolve() == DATA_DIR.resolve():
        private_data_dir()
    else:
        database.parent.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
    os.close(os.open(database, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    for path in (database, *(database.with_name(database.name + suffix) for suffix in SQLITE_COMPANIONS)):
        if path.exists():
            path.chmod(PRIVATE_FILE)


def _local_secret() -> str:
    """A random secret kept beside the embedded database, so tokens survive restarts and no secret
    lives in the source. Deployments with several machines set BEAMTIME_JWT_SECRET instead."""
    path = private_data_dir() / "jwt-secret"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        for _ in range(100):  # another process may have created it and not yet written it
            if secret := path.read_text().strip():
                return secret
            time.sleep(0.01)
        raise RuntimeError(f"{path} is empty; delete it to make a new secret") from None
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


class LogSettings(BaseSettings):
    """What logging needs, readable on its own: the command line's file commands log without a secret or a database."""

    model_config = SettingsConfigDict(env_prefix="BEAMTIME_", extra="ignore")

    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="Log lines as JSON (production) or for a person reading a terminal; `auto` is the console "
        "when standard error is a terminal, JSON otherwise.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(LogSettings):
    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DATA_DIR / 'beamtime.db'}",
        validation_alias="DATABASE_URL",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///… (default) or postgresql+asyncpg://…",
    )
    jwt_secret: str = Field(
        default_factory=_local_secret,
        min_length=32,
        description="Signs access tokens; by default a random secret kept in data/jwt-secret.",
    )
    jwt_minutes: int = Field(default=60, ge=1, description="Lifetime of an access token; signing in again renews it.")
    account_cache_seconds: float = Field(
        default=5.0,
        ge=0.0,
        description="How long a process trusts what it read of an account (active, role, facilities).",
    )
    login_attempts_per_minute: int = Field(
        default=30, ge=1, description="Sign-in attempts (API and dashboard together) per client address and minute."
    )
    public_requests_per_minute: int = Field(
        default=600,
        ge=1,
        description="Requests per client address and minute to what anyone may ask without a token: calendar "
        "feeds, the API's description, the login page.",
    )
    login_failures_per_account: int = Field(
        default=10, ge=1, description="Failed sign-ins on one e-mail address that lock it until the window has passed."
    )
    login_failure_window_minutes: float = Field(
        default=15.0, gt=0.0, description="How far back failed sign-ins count towards an account's lock."
    )
    solve_time_limit: float = Field(default=60.0, gt=0.0, description="A solve's time limit when none is asked for.")
    solve_workers: int = Field(default=2, ge=1, description="A solve's CP-SAT workers when none are asked for.")
    solve_max_time_limit: float = Field(
        default=3600.0, gt=0.0, description="The longest time limit one may ask of a solve, in seconds."
    )
    solve_max_workers: int = Field(default=8, ge=1, description="The most CP-SAT workers one may ask of a solve.")
    solve_runs_per_user: int = Field(
        default=3, ge=1, description="Solves one user may have queued or running at once, over every round."
    )
    proposal_max_requests: int = Field(
        default=50,
        ge=1,
        le=MAX_REQUESTS_PER_PROPOSAL,
        description="The most requests one proposal may hold, up to the round file's bound.",
    )
    proposal_max_links: int = Field(
        default=50, ge=0, le=MAX_LINKS_PER_PROPOSAL, description="The most links one proposal may hold."
    )
    proposal_max_team: int = Field(
        default=30, ge=0, le=MAX_TEAM, description="The most team members (besides the PI) one proposal may name."
    )
    open_proposals_per_account: int = Field(
        default=20, ge=1, description="The most proposals, not withdrawn, one account may have in one round."
    )
    write_transactions_at_once: int = Field(
        default=4,
        ge=1,
        description="PostgreSQL: the most write requests one server process runs at once; the rest wait in "
        "arrival order (SQLite: always one).",
    )
    run_worker_in_api: bool = Field(
        default=True, description="Run queued solves inside the API process (the SQLite default)."
    )
    run_nightly_in_api: bool = Field(
        default=True, description="Run the nightly repairs' scheduler inside the API process (the SQLite default)."
    )
    worker_poll_seconds: float = 1.0
    stale_run_seconds: float = Field(
        default=120.0,
        description="A running solve whose worker has not reported for this long is queued again, once; "
        "after that it is marked failed.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where users reach the service: calendar addresses point here, and cookies are Secure "
        "(`__Host-` names) unless it is plain HTTP on localhost.",
    )
    api_docs_pages: bool = Field(
        default=False,
        description="Serve the interactive API documentation pages (/schema/swagger, /schema/scalar), which load "
        "scripts from a public CDN: for development. The OpenAPI document itself is always at /schema/openapi.json.",
    )
    migrate_on_start: bool = Field(
        default=True,
        description="Bring the database to the newest schema as each process starts (under an advisory lock on "
        "PostgreSQL); false when deployments run `beamtime migrate` as a step of their own.",
    )

    @model_validator(mode="after")
    def _defaults_within_caps(self) -> Settings:
        if self.solve_time_limit > self.solve_max_time_limit:
            raise ValueError("solve_time_limit is above solve_max_time_limit")
        if self.solve_workers > self.solve_max_workers:
            raise ValueError("solve_workers is above solve_max_workers")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
