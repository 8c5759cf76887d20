"""Every setting of the service, from environment variables, with defaults that need no set-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BEAMTIME_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DATA_DIR / 'beamtime.db'}",
        validation_alias="DATABASE_URL",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///… (default) or postgresql+asyncpg://…",
    )
    jwt_secret: str = Field(default="change-me-in-production", min_length=16)
    jwt_minutes: int = 12 * 60
    solve_time_limit: float = 60.0
    solve_workers: int = 2
    run_worker_in_api: bool = Field(
        default=True, description="Run queued solves inside the API process (the SQLite default)."
    )
    worker_poll_seconds: float = 1.0
    stale_run_seconds: float = Field(
        default=120.0, description="A running solve whose worker has not reported for this long is marked failed."
    )
    public_url: str = "http://127.0.0.1:8000"


@lru_cache
def get_settings() -> Settings:
    return Settings()
