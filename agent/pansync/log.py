"""Logging set-up: structlog on top of stdlib logging, a console for people, JSON lines for later.

Job: route every log call (ours through structlog, libraries' through stdlib logging) to a console
renderer (colourful on a TTY, plain `key=value` otherwise) and to a rotated JSON-lines file, with
access tokens and other secrets replaced by `***` in both. Limit: configures output only; what to
log is each room's business. Several processes appending to one log file is fine; rotation by two
of them at the same moment may lose a few lines (a stdlib limitation).

structlog is imported on the first event that some output takes, not before: importing it costs
~0.1 s (it pulls in asyncio, rich and pygments), a third of a whole no-op sync of 10,000 files,
and a command that has nothing to log should not pay it; a command that logs imports it without
rich (`_import_handlers`), which halves that. Until then `get_logger` hands out
`Logger`s that check the level through stdlib logging, and `configure_logging` installs one
stand-in handler that builds the real ones from the first record that reaches it.
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
import threading
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pansync.paths import ensure_private_dir

if TYPE_CHECKING:
    import structlog
    from structlog.typing import EventDict, WrappedLogger

__all__ = [
    "LOG_FILE_NAME",
    "Logger",
    "configure_logging",
    "get_logger",
    "redact",
    "redact_text",
]

LOG_FILE_NAME = "pansync.log"
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


# -- loggers ---------------------------------------------------------------------------------------


class Logger:
    """A structlog logger that exists only once an event passes its level.

    The level check is stdlib's (`isEnabledFor`), the same `filter_by_level` makes inside structlog,
    so a filtered event costs one call and imports nothing.
    """

    __slots__ = ("_name", "_real", "_std", "_values")

    def __init__(self, name: str, values: dict[str, Any]) -> None:
        self._name = name
        self._values = values
        self._std = logging.getLogger(name)
        self._real: structlog.stdlib.BoundLogger | None = None

    def bind(self, **values: Any) -> Logger:
        return Logger(self._name, {**self._values, **values})

    def debug(self, event: str, **values: Any) -> None:
        self._log(logging.DEBUG, "debug", event, values)

    def info(self, event: str, **values: Any) -> None:
        self._log(logging.INFO, "info", event, values)

    def warning(self, event: str, **values: Any) -> None:
        self._log(logging.WARNING, "warning", event, values)

    def error(self, event: str, **values: Any) -> None:
        self._log(logging.ERROR, "error", event, values)

    def exception(self, event: str, **values: Any) -> None:
        """An error with the traceback of the exception being handled."""
        self._log(logging.ERROR, "exception", event, values)

    def _log(self, level: int, method: str, event: str, values: dict[str, Any]) -> None:
        if self._std.isEnabledFor(level):
            getattr(self._structlog(), method)(event, **values)

    def _structlog(self) -> structlog.stdlib.BoundLogger:
        if self._real is None:
            _import_handlers()
            from pansync import log_handlers

            self._real = log_handlers.structlog_logger(self._name, self._values)
        return self._real


_UNUSED_BY_STRUCTLOG = ("rich",)
"""What structlog imports when it finds it but PanSync never has it use: rich, for its pretty
tracebacks (our renderers get `plain_traceback` and `format_exc_info`). With pygments, half of
structlog's import time."""


_LOADED_ON_USE = ("asyncio",)
"""What structlog imports at its top but touches only inside its async methods, which PanSync never
calls: asyncio, 10 ms of structlog's import here. (`importlib.util.LazyLoader` cannot defer it: an
`import` statement reads the lazy module's `__spec__`, which loads it.)"""


class _OnFirstUse(types.ModuleType):
    """Stands in for a module while structlog imports it: the names that took it import the real
    module on their first attribute access, and get it from then on."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.__name__), attr)


def _import_handlers() -> None:
    """Import `pansync.log_handlers`, and so structlog, on first use.

    In a process with one thread (a command, not the agent) nothing can import the modules of
    `_UNUSED_BY_STRUCTLOG` while structlog is imported, so they are hidden from it (a `None` entry
    in `sys.modules` is Python's way to make an import fail) and shown again after; structlog then
    takes the fallbacks it has for their absence. Those of `_LOADED_ON_USE` load when first used.
    Elsewhere, or when they are imported already, structlog imports as it would."""
    if "pansync.log_handlers" in sys.modules:
        return
    alone = threading.active_count() == 1
    hide = [name for name in _UNUSED_BY_STRUCTLOG if alone and name not in sys.modules]
    stand_ins = {name: _OnFirstUse(name) for name in _LOADED_ON_USE if alone and name not in sys.modules}
    for name in hide:
        sys.modules[name] = None  # type: ignore[assignment]
    sys.modules.update(stand_ins)
    try:
        import pansync.log_handlers  # noqa: F401 -- the import is the point
    finally:
        for name in hide:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


def get_logger(name: str, **initial_values: Any) -> Logger:
    """A logger named `name` (use `__name__`), bound to `initial_values`.

    Before `configure_logging` runs, events still pass through redaction and go to stdlib logging,
    which prints only warnings and errors.
    """
    return Logger(name, initial_values)


# -- configuration ---------------------------------------------------------------------------------


class _FirstRecord(logging.Handler):
    """Stands in for PanSync's handlers until a record reaches it, then puts the real ones in its
    place (importing structlog) and hands them that record."""

    def __init__(self, build: Callable[[], list[logging.Handler]], level: int) -> None:
        super().__init__(level)
        self._build = build
        self._built: list[logging.Handler] | None = None
        self._building = threading.Lock()

    def handle(self, record: logging.LogRecord) -> bool:  # no formatting here: the real ones do it
        if record.levelno < self.level:
            return False
        with self._building:
            if self._built is None:
                try:
                    built = self._build()
                except Exception:  # a log line must never break the work it describes
                    self.handleError(record)
                    return False
                self._built = built
                _replace_ours(built)
        for handler in self._built:
            if record.levelno >= handler.level:
                handler.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


def _replace_ours(handlers: list[logging.Handler]) -> None:
    """Make `handlers` PanSync's only handlers on the root logger (closing the ones they replace)."""
    root = logging.getLogger()
    old = [handler for handler in root.handlers if getattr(handler, "_pansync", False)]
    for handler in handlers:
        handler._pansync = True  # type: ignore[attr-defined]  # marks ours for the next call
    # A new list, not an edit in place: `_FirstRecord` calls this from inside stdlib's loop over
    # the old one, which must go on unchanged (an edit would skip or repeat a handler).
    root.handlers = [handler for handler in root.handlers if handler not in old] + handlers
    for handler in old:
        if not isinstance(handler, _FirstRecord):
            handler.close()


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
    sets the file. `stream` defaults to stderr. Calling again replaces the previous set-up. The
    log folder is made now, the handlers on the first record.
    """
    try:
        file_level = _LEVELS[level.strip().lower()]
    except KeyError:
        known = ", ".join(_LEVELS)
        raise ValueError(f"unknown log level {level!r}; expected one of {known}") from None
    if log_dir is not None:
        ensure_private_dir(log_dir)
    console_level = _console_level(verbosity)
    levels = ([console_level] if console else []) + ([file_level] if log_dir is not None else [])

    def build() -> list[logging.Handler]:
        _import_handlers()
        from pansync import log_handlers

        out = (stream if stream is not None else sys.stderr) if console else None
        return log_handlers.build_handlers(log_handlers.Outputs(out, console_level, log_dir, file_level))

    lowest = min(levels, default=logging.WARNING)
    _replace_ours([_FirstRecord(build, lowest)] if levels else [])
    root = logging.getLogger()
    root.setLevel(lowest)
    # watchdog logs every inotify event at debug level; -vv is for PanSync's own decisions.
    logging.getLogger("watchdog").setLevel(max(root.level, logging.INFO))
