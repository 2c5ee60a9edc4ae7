"""Logging set-up: structlog on top of stdlib logging, a console for people, JSON lines for later.

Job: route every log call (ours through structlog, libraries' through stdlib logging) to a console
renderer (colourful on a TTY, plain `key=value` otherwise) and to a rotated JSON-lines file, with
access tokens and other secrets replaced by `***` in both. Limit: configures output only; what to
log is each room's business. Several processes appending to one log file is fine; rotation by two
of them at the same moment may lose a few lines (a stdlib limitation).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import IO, Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from pansync.paths import ensure_private_dir

__all__ = [
    "LOG_FILE_NAME",
    "configure_logging",
    "get_logger",
    "redact",
    "redact_text",
]

LOG_FILE_NAME = "pansync.log"
_FILE_MAX_BYTES = 5 * 1024 * 1024
_FILE_BACKUPS = 5
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

# -- redaction -------------------------------------------------------------------------------------

_MASK = "***"
_SECRET_KEY = re.compile(
    r"(?:^|[_\-.])(?:token|password|passwd|secret|api_key|apikey|authorization|cookie)$"
    r"|^(?:bdstoken|bduss|stoken)$",
    re.IGNORECASE,
)
_SECRET_NAMES = r"access_token|refresh_token|client_secret|bdstoken|password"
_SECRET_PATTERNS = (
    # access_token=abc in a URL query or a form body
    (re.compile(rf"(?i)\b({_SECRET_NAMES})=([^&\s\"'#<>]+)"), rf"\1={_MASK}"),
    # "access_token": "abc" in JSON, 'access_token': 'abc' in a Python repr
    (
        re.compile(rf"(?i)([\"']({_SECRET_NAMES})[\"']\s*:\s*[\"'])([^\"']*)([\"'])"),
        rf"\1{_MASK}\4",
    ),
    # Authorization: Bearer abc
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\1{_MASK}"),
)


def redact_text(text: str) -> str:
    """`text` with token values in URLs, JSON, reprs and bearer headers replaced by `***`."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: object, value: object) -> object:
    if isinstance(key, str) and value is not None and _SECRET_KEY.search(key):
        return _MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {inner: _redact_value(inner, item) for inner, item in value.items()}
    if type(value) in (list, tuple):
        assert isinstance(value, list | tuple)
        return type(value)(_redact_value(None, item) for item in value)
    return value


def redact(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secret-named keys (at any depth) and tokens inside text values."""
    for key, value in event_dict.items():
        if not key.startswith("_"):  # ProcessorFormatter's `_record` and friends stay intact
            event_dict[key] = _redact_value(key, value)
    return event_dict


class _RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """Also redacts the rendered line, which catches tokens inside tracebacks and object reprs."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class _PrivateRotatingFileHandler(RotatingFileHandler):
    """Creates each log file with mode 0600: logs name private paths and files."""

    def _open(self) -> TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


# -- configuration ---------------------------------------------------------------------------------


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


def _configure_structlog() -> None:
    # Not cached, so loggers made at import time follow a later configure_logging call.
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


def _console_level(verbosity: int) -> int:
    return logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG


def configure_logging(
    *,
    verbosity: int,
    log_dir: Path | None,
    console: bool,
    level: str = "info",
    stream: IO[str] | None = None,
) -> None:
    """Send logs to the console (if `console`) and to `<log_dir>/pansync.log` (if `log_dir`).

    `verbosity` sets the console: 0 warnings and errors, 1 (`-v`) info, 2 (`-vv`) debug; `level`
    sets the file. `stream` defaults to stderr. Calling again replaces the previous set-up.
    """
    try:
        file_level = _LEVELS[level.strip().lower()]
    except KeyError:
        known = ", ".join(_LEVELS)
        raise ValueError(f"unknown log level {level!r}; expected one of {known}") from None
    _configure_structlog()
    root = logging.getLogger()
    for old in [handler for handler in root.handlers if getattr(handler, "_pansync", False)]:
        root.removeHandler(old)
        old.close()
    handlers: list[logging.Handler] = []
    if console:
        out = stream if stream is not None else sys.stderr
        colors = out.isatty() and "NO_COLOR" not in os.environ
        # Plain tracebacks: rich's boxes can wrap a token across lines, past the redaction.
        pretty = structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=structlog.dev.plain_traceback
        )
        console_handler = logging.StreamHandler(out)
        console_handler.setLevel(_console_level(verbosity))
        console_handler.setFormatter(_formatter(pretty, format_exceptions=False))
        handlers.append(console_handler)
    if log_dir is not None:
        ensure_private_dir(log_dir)
        file_handler = _PrivateRotatingFileHandler(
            log_dir / LOG_FILE_NAME,
            maxBytes=_FILE_MAX_BYTES,
            backupCount=_FILE_BACKUPS,
            encoding="utf-8",
        )
        file_handler.setLevel(file_level)
        as_json = structlog.processors.JSONRenderer(ensure_ascii=False)
        file_handler.setFormatter(_formatter(as_json, format_exceptions=True))
        handlers.append(file_handler)
    for handler in handlers:
        handler._pansync = True  # type: ignore[attr-defined]  # marks ours for the next call
        root.addHandler(handler)
    root.setLevel(min((handler.level for handler in handlers), default=logging.WARNING))
    # watchdog logs every inotify event at debug level; -vv is for PanSync's own decisions.
    logging.getLogger("watchdog").setLevel(max(root.level, logging.INFO))


def get_logger(name: str, **initial_values: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger named `name` (use `__name__`), bound to `initial_values`.

    Before `configure_logging` runs, events still pass through redaction and go to stdlib logging,
    which prints only warnings and errors.
    """
    if not structlog.is_configured():
        _configure_structlog()
    return structlog.stdlib.get_logger(name, **initial_values)
