"""The dashboard: coordinators' round pages and proposers' status page, served by the API's app.

Register in `create_app`: `route_handlers=[..., *DASHBOARD_ROUTES]` and
`template_config=TEMPLATE_CONFIG`. No build step: templates, CSS and scripts
are plain files in this package; the pages speak English and Russian (`api.web.i18n`).
"""

from __future__ import annotations

from pathlib import Path

from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from litestar.types import ControllerRouterHandler

from api.web import i18n
from api.web.actions import DashboardActions
from api.web.pages import DashboardPages, LoginPages, RootRedirect
from api.web.usage import UsagePages

HERE = Path(__file__).resolve().parent


def _set_up(engine: JinjaTemplateEngine) -> None:
    environment = engine.engine
    environment.trim_blocks = environment.lstrip_blocks = True
    i18n.install(environment)


TEMPLATE_CONFIG = TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=_set_up)

DASHBOARD_ROUTES: list[ControllerRouterHandler] = [
    RootRedirect,
    LoginPages,
    DashboardPages,
    DashboardActions,
    UsagePages,
    i18n.LanguageSwitch,
    create_static_files_router(path="/ui/static", directories=[HERE / "static"], include_in_schema=False),
]
