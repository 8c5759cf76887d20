"""Logging, set up by every process as it starts: the API's app factory, `beamtime worker` and `beamtime scheduler`,
the command line.

One handler on the root logger writes to standard error, for structlog's events and the
standard library's records alike (uvicorn, Litestar, Alembic, SQLAlchemy): JSON lines in
production, a readable console in development (`Settings.log_format`). Exceptions are plain
formatted tracebacks: never rendered with local variables, which hold request headers,
tokens and passwords, and never by rich, whose frames with locals take tens of milliseconds
each to render. The path of a calendar feed is its only credential, so it is masked in every
line, the access log's included.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Literal, TextIO

import structlog
from structlog.typing import Processor

from scheduler.settings import LogSettings

LogFormat = Literal["json", "console"]
CALENDAR_SECRET = re.compile(r"(/calendar/)[^/\s\"'?#.]+")
MASKED_CALENDAR = r"\1[secret]"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]
"""What every line carries, whether structlog or the standard library made it."""


def mask_secrets(line: str) -> str:
    return CALENDAR_SECRET.sub(MASKED_CALENDAR, line)


class _StandardError(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time, so a replaced stream (a test's capture) never goes stale."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _stream: TextIO) -> None:
        """The handler's own stream is never kept."""


class _MaskingFormatter(structlog.stdlib.ProcessorFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))


def log_format(settings: LogSettings) -> LogFormat:
    if settings.log_format == "auto":
        return "console" if sys.stderr.isatty() else "json"
    return settings.log_format


def formatter(format_: LogFormat) -> logging.Formatter:
    """Renders a record as one JSON line, or as a coloured console line when `format_` is `console`."""
    renderer: list[Processor]
    if format_ == "json":
        renderer = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        renderer = [
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback)
        ]
    return _MaskingFormatter(
        foreign_pre_chain=SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )


def configure_logging(settings: LogSettings) -> None:
    """Idempotent: the handler it installed before is replaced, handlers of others (a test's capture) are kept.
    uvicorn's own handlers are taken off, so its lines, the access log's included, come through here too."""
    root = logging.getLogger()
    for handler in [handler for handler in root.handlers if isinstance(handler, _StandardError)]:
        root.removeHandler(handler)
    handler = _StandardError()
    handler.setFormatter(formatter(log_format(settings)))
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
