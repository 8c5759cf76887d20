"""Every setting of the service, from environment variables, with defaults that need no set-up."""

from __future__ import annotations

import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def _local_secret() -> str:
    """A random secret kept beside the embedded database, so tokens survive restarts and no secret
    lives in the source. Deployments with several machines set BEAMTIME_JWT_SECRET instead."""
    path = DATA_DIR / "jwt-secret"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(100):  # another process may have created it and not yet written it
            if secret := path.read_text().strip():
                return secret
            time.sleep(0.01)
        raise RuntimeError(f"{path} is empty; delete it to make a new secret") from None
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BEAMTIME_", extra="ignore")

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
    login_failures_per_account: int = Field(
        default=10, ge=1, description="Failed sign-ins on one e-mail address that lock it until the window has passed."
    )
    login_failure_window_minutes: float = Field(
        default=15.0, gt=0.0, description="How far back failed sign-ins count towards an account's lock."
    )
    solve_time_limit: float = 60.0
    solve_workers: int = 2
    run_worker_in_api: bool = Field(
        default=True, description="Run queued solves inside the API process (the SQLite default)."
    )
    run_nightly_in_api: bool = Field(
        default=True, description="Run the nightly repairs' scheduler inside the API process (the SQLite default)."
    )
    worker_poll_seconds: float = 1.0
    stale_run_seconds: float = Field(
        default=120.0, description="A running solve whose worker has not reported for this long is marked failed."
    )
    public_url: str = "http://127.0.0.1:8000"


@lru_cache
def get_settings() -> Settings:
    return Settings()
