"""The Litestar application: `create_app()` for servers and tests.

`uvicorn --factory api.app:create_app` serves it with the settings from the
environment (`scheduler.settings`).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.pydantic import PydanticInitPlugin

from api.auth import provide_current_user
from api.controllers.accounts import AuthController, MeController, UserController
from api.controllers.audit import AuditController
from api.controllers.catalog import EquipmentController, FacilityController, InstrumentController, WindowController
from api.controllers.nightly import ChangeLogController, NightlyController
from api.controllers.proposals import ProposalController
from api.controllers.rounds import QuotaController, RoundController
from api.controllers.schedules import CalendarController, ScheduleController
from api.controllers.slots import SlotController
from api.controllers.solves import SolveController
from api.database import provide_db_session
from api.params import PAGE
from api.problems import EXCEPTION_HANDLERS, BodyValidation
from api.web import DASHBOARD_ROUTES, TEMPLATE_CONFIG
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.jobs.worker import run_worker
from scheduler.nightly.service import start_nightly
from scheduler.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, start_worker: bool | None = None, migrate: bool = True) -> Litestar:
    """`start_worker` runs queued solves in this process (default: `settings.run_worker_in_api`);
    `migrate` brings the database to the newest schema at start-up (tests that built it already pass False)."""
    settings = settings or get_settings()
    run_solves = settings.run_worker_in_api if start_worker is None else start_worker

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        if migrate:
            await asyncio.to_thread(upgrade_database, settings.database_url)
        engine = create_engine(settings.database_url)
        app.state.engine = engine
        app.state.sessions = session_maker(engine)
        # The long-lived objects of start-up (OR-Tools, SciPy, models) leave the collector's view, so a full
        # collection no longer pauses every request in flight (p99 158 -> 48 ms, BENCHMARKS.md).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await engine.dispose()

    @asynccontextmanager
    async def nightly_jobs(app: Litestar) -> AsyncIterator[None]:
        nightly = await start_nightly(app.state.sessions, settings)
        try:
            yield
        finally:
            await nightly.stop()

    @asynccontextmanager
    async def solve_worker(app: Litestar) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(run_worker(app.state.sessions, settings, stop))
        try:
            yield
        finally:
            stop.set()
            await task

    return Litestar(
        route_handlers=[
            AuthController,
            MeController,
            UserController,
            FacilityController,
            InstrumentController,
            WindowController,
            EquipmentController,
            RoundController,
            QuotaController,
            ProposalController,
            SolveController,
            ScheduleController,
            CalendarController,
            AuditController,
            NightlyController,
            ChangeLogController,
            SlotController,
            *DASHBOARD_ROUTES,
        ],
        dependencies={
            "db_session": Provide(provide_db_session),
            "current_user": Provide(provide_current_user),
            **PAGE,
        },
        lifespan=[
            database,
            *([solve_worker] if run_solves else []),
            *([nightly_jobs] if settings.run_nightly_in_api else []),
        ],
        state=State({"settings": settings}),
        plugins=[PydanticInitPlugin(), BodyValidation()],
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=TEMPLATE_CONFIG,
        openapi_config=OpenAPIConfig(
            title="beamtime",
            version="1",
            description="Allocation rounds, proposals, reviews, solves and schedules of mega-science facilities.",
            path="/schema",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
        ),
        debug=False,
    )
