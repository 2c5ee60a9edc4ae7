"""`baidu_bypy`: the only module that imports bypy, and the fence around it.

Job: use bypy 1.8.9 for what it is good at, its OAuth authorization flow and token refresh, and
nothing else (never syncup, syncdown or compare: baidu-pcs.md §9). bypy is a CLI first, so this
module (process-wide, once) routes its printing into the debug log with tokens redacted, replaces
its prompt with the caller's (or a refusal: a daemon never blocks on stdin), points its home-dir
constants at PanSync's state dir, seeds its update-check stamp so its constructor makes no call to
GitHub, turns its `sys.exit` into `AuthError`, and hands it a requester bound to our endpoints with
TLS verification on. A ByPy instance is not reentrant (§5.4), so every use holds one lock.

Limit: typed wrappers only; token files and policy live in `pansync.auth`.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from msgspec import Struct

from pansync.errors import AuthError
from pansync.log import get_logger, redact_text
from pansync.remote.pcs import Endpoints

__all__ = ["BypySession", "RefreshOutcome", "open_bypy", "seed_settings"]

_log = get_logger("pansync.bypy")
_LOCK = threading.RLock()
"""Held around every use of bypy: its instances and module globals are not thread-safe (§5.4)."""
_prompt = threading.local()
_quiet = False
TOKEN_FILE = "bypy.json"
SETTING_FILE = "bypy.setting.json"


def _say(msg: object, *args: object, **kwargs: object) -> None:
    _log.debug("bypy", text=redact_text(str(msg))[:2000])


def _say_color(msg: object, *args: object, **kwargs: object) -> None:
    _say(msg)


def _no_progress(*args: object, **kwargs: object) -> None:
    return None


def _ask(msg: object, *args: object, **kwargs: object) -> str:
    fn: Callable[[str], str] | None = getattr(_prompt, "fn", None)
    if fn is None:
        raise AuthError("this computer is not authorized with Baidu yet: run `pansync auth`")
    return fn(str(msg))


def _silence_bypy() -> None:
    """Replace bypy's print and prompt functions (module globals) once per process."""
    global _quiet
    if _quiet:
        return
    from bypy import bypy as core
    from bypy import cached, printer, util

    core.pr = cached.pr = util.pr = _say
    core.prcolor = util.prcolor = printer.prcolor = _say_color
    core.ask = util.ask = _ask
    core.pprgr = util.pprgr = _no_progress
    _quiet = True


def _isolate(config_dir: Path) -> None:
    """bypy's `~/.bypy` constants (read by its migration step) → our dir, so $HOME is never touched."""
    import bypy.const as const

    cfg = str(config_dir)
    const.ConfigDir = cfg
    for attr, name in (
        ("TokenFilePath", TOKEN_FILE),
        ("SettingFilePath", SETTING_FILE),
        ("HashCachePath", "bypy.hashcache.json"),
        ("PicklePath", "bypy.pickle"),
        ("ProgressPath", "bypy.parts.json"),
        ("OldByPyCertsPath", "none.bypy.cacerts.pem"),
        ("OldTokenFilePath", "none.old.bypy.json"),
        ("OldPicklePath", "none.old.bypy.pickle"),
    ):
        setattr(const, attr, os.path.join(cfg, name))


def seed_settings(config_dir: Path) -> None:
    """Stamp bypy's last update check as now: otherwise its constructor fetches a file from GitHub."""
    path = config_dir / SETTING_FILE
    tmp = config_dir / f".{SETTING_FILE}.{os.getpid()}.{threading.get_ident()}"
    tmp.write_text(json.dumps({"lastUpdateCheck": int(time.time())}), encoding="utf-8")
    os.replace(tmp, path)


class _Requester:
    """bypy's requester interface, bound to our endpoints; certificates are verified (bypy turns it off)."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self.session = requests.Session()
        self.session.trust_env = not endpoints.is_loopback
        self.last_response: requests.Response | None = None

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.pop("verify", None)
        headers = {k: v for k, v in (kwargs.pop("headers", None) or {}).items() if v is not None}
        self.last_response = None
        resp = self.session.request(method, self.endpoints.rewrite(url), headers=headers, **kwargs)
        self.last_response = resp
        return resp

    def disable_warnings(self, debug: object) -> None:
        """bypy would silence urllib3 for the whole process; we keep the warnings."""

    def set_logging_level(self, level: object) -> None:
        """bypy would switch on http.client debugging globally; never."""


class RefreshOutcome(Struct, frozen=True):
    """What one refresh attempt gave: new tokens, or Baidu's refusal, or nothing (network)."""

    tokens: dict[str, Any] | None
    status: int | None = None
    error: str = ""
    description: str = ""


def _error_of(resp: requests.Response | None) -> tuple[int | None, str, str]:
    if resp is None:
        return None, "", ""
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    error = redact_text(str(body.get("error") or body.get("error_code") or ""))
    description = redact_text(str(body.get("error_description") or body.get("error_msg") or ""))
    return resp.status_code, error[:100], description[:200]


class BypySession:
    """One ByPy instance for one token file; every call holds the module lock."""

    def __init__(self, by: Any, requester: _Requester) -> None:
        self._by = by
        self._requester = requester

    def refresh(self, tokens: dict[str, Any]) -> RefreshOutcome:
        """bypy's refresh from `tokens` (its own copy may be stale: refresh tokens work once)."""
        with _LOCK:
            by = self._by
            by._json = dict(tokens)
            by._access_token = str(tokens.get("access_token", ""))
            try:
                rc = by._refresh_token()
            except SystemExit as exc:  # bypy exits on some refresh failures; never let it
                rc = exc.code if isinstance(exc.code, int) else -1
            if rc == 0:
                return RefreshOutcome(tokens=dict(by._json))
            status, error, description = _error_of(self._requester.last_response)
            return RefreshOutcome(tokens=None, status=status, error=error, description=description)


def open_bypy(
    config_dir: Path,
    endpoints: Endpoints,
    *,
    timeout_s: float = 60.0,
    prompt: Callable[[str], str] | None = None,
) -> BypySession:
    """Construct ByPy on `config_dir` quietly. Without a token file bypy runs its authorization flow,
    asking `prompt` for the code; with no prompt that is an `AuthError`, never a blocked stdin."""
    with _LOCK:
        _silence_bypy()
        _isolate(config_dir)
        seed_settings(config_dir)
        from bypy import ByPy

        requester = _Requester(endpoints)
        _prompt.fn = prompt
        try:
            by = ByPy(
                configdir=str(config_dir),
                requester=requester,
                retry=1,
                timeout=timeout_s,
                verbose=0,
                debug=False,
                quit_when_fail=False,
            )
        except SystemExit as exc:
            status, error, description = _error_of(requester.last_response)
            detail = f"{error} {description}".strip() or (f"HTTP {status}" if status else f"exit {exc.code}")
            raise AuthError(
                f"Baidu did not authorize this computer ({detail}); run `pansync auth` again"
            ) from None
        finally:
            _prompt.fn = None
        atexit.unregister(by.cleanup)
        return BypySession(by, requester)
