"""The log's outputs, built on the first record: structlog's renderers behind stdlib handlers.

Job: configure structlog and make the console and file handlers that `pansync.log` asked for,
both redacting tokens from the rendered line. Imported only when something is logged (importing
structlog costs ~0.14 s; see `pansync.log`).
"""

from __future__ import annotations

import logging
import os
import sys
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import IO, Any

import structlog
from msgspec import Struct
from structlog.typing import Processor

from pansync.log import LOG_FILE_NAME, redact, redact_text
from pansync.paths import ensure_private_dir

__all__ = ["Outputs", "build_handlers", "structlog_logger"]

_FILE_MAX_BYTES = 5 * 1024 * 1024
_FILE_BACKUPS = 5


class Outputs(Struct, frozen=True):
    """What `configure_logging` asked for; the handlers are made from it on the first record."""

    console: IO[str] | None
    console_level: int
    log_dir: Path | None
    file_level: int


class _RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """Also redacts the rendered line, which catches tokens inside tracebacks and object reprs."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class _PrivateRotatingFileHandler(RotatingFileHandler):
    """Creates each log file with mode 0600: logs name private paths and files.

    Renders each record once: stdlib's `shouldRollover` formats a record to measure it and `emit`
    formats it again (the processors, the redaction, the JSON), both under the handler's lock."""

    _last: tuple[logging.LogRecord, str] | None = None

    def _open(self) -> TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)

    def format(self, record: logging.LogRecord) -> str:
        last = self._last
        if last is not None and last[0] is record:
            return last[1]
        line = super().format(record)
        self._last = (record, line)
        return line


def _shared_processors() -> list[Processor]:
    """Run on every event, ours and stdlib's, before it is rendered for either output."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        redact,
    ]


def structlog_logger(name: str, values: dict[str, Any]) -> structlog.stdlib.BoundLogger:
    """The structlog logger behind a `pansync.log.Logger`."""
    if not structlog.is_configured():
        _configure_structlog()
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **values)
    return logger


def _configure_structlog() -> None:
    """Our events go through stdlib logging, so one set of handlers renders ours and libraries'."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def _formatter(renderer: Processor, *, format_exceptions: bool) -> logging.Formatter:
    processors: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if format_exceptions:
        processors.append(structlog.processors.format_exc_info)
    return _RedactingFormatter(
        processors=[*processors, redact, renderer], foreign_pre_chain=_shared_processors()
    )


def build_handlers(outputs: Outputs) -> list[logging.Handler]:
    """The console handler (if asked for) and the rotated JSON-lines file (if a folder is set)."""
    if not structlog.is_configured():
        _configure_structlog()
    handlers: list[logging.Handler] = []
    if outputs.console is not None:
        out = outputs.console
        colors = out.isatty() and "NO_COLOR" not in os.environ
        # Plain tracebacks: rich's boxes can wrap a token across lines, past the redaction.
        pretty = structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=structlog.dev.plain_traceback
        )
        console_handler = logging.StreamHandler(out)
        console_handler.setLevel(outputs.console_level)
        console_handler.setFormatter(_formatter(pretty, format_exceptions=False))
        handlers.append(console_handler)
    if outputs.log_dir is not None:
        path = outputs.log_dir / LOG_FILE_NAME
        try:
            ensure_private_dir(outputs.log_dir)
            file_handler = _PrivateRotatingFileHandler(
                path, maxBytes=_FILE_MAX_BYTES, backupCount=_FILE_BACKUPS, encoding="utf-8"
            )
        except OSError as exc:  # the work goes on; the console (and stderr) still speak
            print(f"pansync: cannot write the log file {path}: {exc.strerror or exc}", file=sys.stderr)
            return handlers
        file_handler.setLevel(outputs.file_level)
        as_json = structlog.processors.JSONRenderer(ensure_ascii=False)
        file_handler.setFormatter(_formatter(as_json, format_exceptions=True))
        handlers.append(file_handler)
    return handlers
