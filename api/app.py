"""The Litestar application: `create_app()` for servers and tests.

`uvicorn --factory api.app:create_app` serves it with the settings from the
environment (`scheduler.settings`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    ScalarRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.pydantic import PydanticInitPlugin

from api.auth import bearer_auth, sign_in_rate_limit
from api.controllers.accounts import AuthController, MeController, UserController, UserFactsController
from api.controllers.audit import AuditController
from api.controllers.calendar import CalendarController
from api.controllers.catalogue import EquipmentController, FacilityController, InstrumentController, WindowController
from api.controllers.fair_return import FairReturnPolicyController
from api.controllers.nightly import NightlyController
from api.controllers.proposals import ProposalController
from api.controllers.reports import ReportController
from api.controllers.rounds import QuotaController, RoundController
from api.controllers.schedules import ScheduleController
from api.controllers.slots import SlotController
from api.controllers.solves import SolveController
from api.database import DATABASE_ERRORS, database_plugin
from api.dependency_order import resolve_dependencies_in_turn
from api.limits import DEFAULT_BODY, FORM_BODY, body_too_large, public_rate_limit
from api.openapi import document_contract
from api.params import DEPENDENCIES
from api.problems import LOGGED_ERRORS, PROBLEM_DETAILS, BodyValidation
from api.web import DASHBOARD_ROUTES, TEMPLATE_CONFIG
from api.web.session import dashboard_auth, dashboard_csrf
from scheduler.accounts.identity import Identities
from scheduler.cli import settle_collector
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.logs import configure_logging
from scheduler.runtime import background_work
from scheduler.settings import Settings, get_settings


def create_app(
    settings: Settings | None = None, *, start_worker: bool | None = None, migrate: bool | None = None
) -> Litestar:
    """`start_worker` runs queued solves in this process (default: `settings.run_worker_in_api`);
    `migrate` brings the database to the newest schema at start-up (default: `settings.migrate_on_start`;
    tests that built it already pass False). Logging is `scheduler.logs`', not Litestar's."""
    settings = settings or get_settings()
    configure_logging(settings)
    resolve_dependencies_in_turn()
    run_solves = settings.run_worker_in_api if start_worker is None else start_worker
    migrate = settings.migrate_on_start if migrate is None else migrate
    engine = create_engine(settings.database_url)
    sessions = session_maker(engine)

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        if migrate:
            await asyncio.to_thread(upgrade_database, settings.database_url)
        # The long-lived objects of start-up (OR-Tools, SciPy, models) leave the collector's view, so a full
        # collection no longer pauses every request in flight (p99 158 -> 48 ms, BENCHMARKS.md); and the collector
        # runs less often, as in `beamtime solve`: a round page's first view makes ~330,000 objects, few in cycles,
        # which Python's 700 had it walk again and again (1.1-1.3 of a facility round's 2.5 s at load 2.5).
        settle_collector()
        try:
            yield
        finally:
            await engine.dispose()  # again after the plugin's: the worker and nightly jobs stop after it

    @asynccontextmanager
    async def background(app: Litestar) -> AsyncIterator[None]:
        async with background_work(
            app.state.sessions, settings, solves=run_solves, nightly=settings.run_nightly_in_api
        ):
            yield

    return Litestar(
        route_handlers=[
            AuthController,
            MeController,
            UserController,
            UserFactsController,
            FacilityController,
            InstrumentController,
            WindowController,
            EquipmentController,
            RoundController,
            QuotaController,
            FairReturnPolicyController,
            ProposalController,
            SolveController,
            ScheduleController,
            CalendarController,
            AuditController,
            NightlyController,
            SlotController,
            ReportController,
            Router(
                path="/",
                route_handlers=DASHBOARD_ROUTES,
                middleware=[dashboard_auth(settings).middleware],
                request_max_body_size=FORM_BODY,
            ),
        ],
        dependencies=DEPENDENCIES,
        middleware=[
            sign_in_rate_limit(settings).middleware,
            public_rate_limit(settings).middleware,
            bearer_auth(settings).middleware,
        ],
        request_max_body_size=DEFAULT_BODY,
        csrf_config=dashboard_csrf(settings),
        lifespan=[
            database,
            background,
        ],
        on_startup=[document_contract],
        state=State(
            {
                "settings": settings,
                "engine": engine,
                "sessions": sessions,
                "identities": Identities(sessions, settings.account_cache_seconds),
            }
        ),
        plugins=[
            PydanticInitPlugin(),
            BodyValidation(),
            PROBLEM_DETAILS,
            database_plugin(engine, sessions, settings.write_transactions_at_once),
        ],
        exception_handlers={**LOGGED_ERRORS, **DATABASE_ERRORS, RequestEntityTooLarge: body_too_large},
        template_config=TEMPLATE_CONFIG,
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="beamtime",
            version="1",
            description="Allocation rounds, proposals, reviews, solves and schedules of mega-science facilities.",
            path="/schema",
            render_plugins=_documentation_pages(settings),
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
        ),
        debug=False,
    )


def _documentation_pages(settings: Settings) -> list[OpenAPIRenderPlugin]:
    """The OpenAPI document at /schema (JSON; YAML at /schema/openapi.yaml); the interactive pages load their
    scripts from a public CDN, so they are served only where a developer turns them on."""
    pages: list[OpenAPIRenderPlugin] = [JsonRenderPlugin(), YamlRenderPlugin()]
    if settings.api_docs_pages:
        pages = [ScalarRenderPlugin(), SwaggerRenderPlugin(), *pages]
    return pages
