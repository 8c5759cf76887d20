"""The dashboard: coordinators' round pages and proposers' status page, served by the API's app.

Register in `create_app`: `route_handlers=[..., *DASHBOARD_ROUTES]` and
`template_config=TEMPLATE_CONFIG`. No build step: templates, CSS and scripts
are plain files in this package.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from litestar.types import ControllerRouterHandler

from api.web.actions import DashboardActions
from api.web.pages import DashboardPages, LoginPages, RootRedirect

HERE = Path(__file__).resolve().parent


def _when(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%a %d %b %Y, %H:%M}"


def _zoned(moment: datetime | None) -> str:
    """With the zone's name or offset, for times not in the facility's own zone."""
    return "" if moment is None else f"{moment:%a %d %b %Y, %H:%M} {moment:%Z}"


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _filters(engine: JinjaTemplateEngine) -> None:
    environment = engine.engine
    environment.filters.update(when=_when, zoned=_zoned, number=_number, percent=_percent)
    environment.trim_blocks = environment.lstrip_blocks = True


TEMPLATE_CONFIG = TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=_filters)

DASHBOARD_ROUTES: list[ControllerRouterHandler] = [
    RootRedirect,
    LoginPages,
    DashboardPages,
    DashboardActions,
    create_static_files_router(path="/ui/static", directories=[HERE / "static"], include_in_schema=False),
]
