"""The dashboard: coordinators' round pages and proposers' status page, served by the API's app.

Register in `create_app`: `route_handlers=[..., *DASHBOARD_ROUTES]` and
`template_config=TEMPLATE_CONFIG`. No build step: templates, CSS and scripts
are plain files in this package; the pages speak English and Russian (`api.web.i18n`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from jinja2 import Environment, FileSystemBytecodeCache
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from litestar.types import ControllerRouterHandler

from api.web import i18n
from api.web.actions import DashboardActions
from api.web.pages import DashboardPages, LoginPages, RootRedirect
from api.web.usage import UsagePages

HERE = Path(__file__).resolve().parent


COMPILING_SETTINGS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "autoescape",
    "optimized",
)
"""What of a Jinja2 environment, besides a template's source, its compiled code depends on (with its extensions)."""


def _set_up(engine: JinjaTemplateEngine) -> None:
    environment = engine.engine
    environment.trim_blocks = environment.lstrip_blocks = True
    i18n.install(environment)
    environment.bytecode_cache = _compiled_once(environment)


def _compiled_once(environment: Environment) -> FileSystemBytecodeCache:
    """Templates compiled once per machine, as Python's modules are: Jinja2's bytecode cache (a private folder in the
    temporary directory) keys a template by its file and source, so the file names the environment's settings too.
    Compiling the round page's templates took ~75 ms of a server's first view of a round."""
    settings = [getattr(environment, name) for name in COMPILING_SETTINGS] + sorted(environment.extensions)
    tag = hashlib.sha256(repr(settings).encode()).hexdigest()[:16]
    return FileSystemBytecodeCache(pattern=f"__beamtime_{tag}_%s.cache")


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
