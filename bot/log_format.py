"""How the long-running commands log: one JSON object a line, naming the release being worked on.

The engine marks the release it acts on with :func:`working_on` (a context variable, so each
thread and each scheduled job has its own); :class:`ReleaseFilter` copies it into every record
as ``release``, so every line logged meanwhile — by the engine, a strategy, the notifier —
carries it. :func:`configure_logging` installs the handler ``canarybot serve`` and ``work`` use.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

from pythonjsonlogger.core import LogData
from pythonjsonlogger.json import JsonFormatter

from bot.settings import LogFormat

_release: ContextVar[str | None] = ContextVar("canarybot_release", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def working_on(release_id: str) -> Iterator[None]:
    """Within the block, every line logged in this context names `release_id`."""
    token = _release.set(release_id)
    try:
        yield
    finally:
        _release.reset(token)


def current_release() -> str | None:
    """The release this context works on, if any."""
    return _release.get()


class ReleaseFilter(logging.Filter):
    """Sets ``record.release`` to the release being worked on (None outside one); drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate `record`."""
        if getattr(record, "release", None) is None:
            record.release = _release.get()
        return True


class _JsonLines(JsonFormatter):
    """python-json-logger's formatter, without a ``release`` key on lines outside a release."""

    def process_log_record(self, log_data: LogData) -> LogData:
        """Drop a ``release`` of None."""
        if log_data.get("release") is None:
            log_data.pop("release", None)
        return log_data


def formatter(fmt: LogFormat) -> logging.Formatter:
    """The formatter for `fmt`: JSON keys time (ISO 8601, UTC), level, logger, message."""
    if fmt is LogFormat.TEXT:
        return logging.Formatter(TEXT_FORMAT)
    return _JsonLines(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
        json_ensure_ascii=False,
    )


def configure_logging(
    fmt: LogFormat, *, level: int = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Log INFO and up to `stream` (stderr) in `fmt`, every record annotated with its release.

    The handler is added to the root logger and returned.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    # On the handler, not a logger: a handler's filters see the records of every logger.
    handler.addFilter(ReleaseFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
