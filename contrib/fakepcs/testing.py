"""Helpers for tests in any folder: start a server, build a redirected bypy.

Usage from another test folder::

    sys.path.insert(0, "<repo>/contrib")
    from fakepcs.testing import fakepcs_fixture, make_bypy
    fakepcs = fakepcs_fixture()          # a pytest fixture named "fakepcs"

    def test_x(fakepcs, tmp_path):
        by = make_bypy(fakepcs, tmp_path / "bypycfg")
        assert by.mkdir("d") == 0

bypy is imported lazily, so this module needs neither bypy nor pytest until a
function that uses them is called.
"""

from __future__ import annotations

import atexit
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from .config import Policy
from .faults import FaultSettings
from .server import DEFAULT_REFRESH, DEFAULT_TOKEN, FakePCS


def start_server(
    root: str | os.PathLike[str],
    *,
    token: str = DEFAULT_TOKEN,
    refresh_token: str = DEFAULT_REFRESH,
    faults: FaultSettings | dict[str, Any] | None = None,
    policy: Policy | dict[str, Any] | None = None,
    **kwargs: Any,
) -> FakePCS:
    """Start a server on a free port in a background thread; call ``.stop()`` after."""
    return FakePCS(
        root, token=token, refresh_token=refresh_token, faults=faults, policy=policy, **kwargs
    ).start()


@contextmanager
def running_server(root: str | os.PathLike[str], **kwargs: Any) -> Iterator[FakePCS]:
    """``with running_server(tmp) as srv:`` — stopped on exit, even on failure."""
    srv = start_server(root, **kwargs)
    try:
        yield srv
    finally:
        srv.stop()


def fakepcs_fixture(name: str = "fakepcs", **kwargs: Any) -> Callable[..., Any]:
    """A pytest fixture (function scope) yielding a started server in ``tmp_path/cloud``."""
    import pytest

    @pytest.fixture(name=name)
    def _fixture(tmp_path: Any) -> Iterator[FakePCS]:
        with running_server(tmp_path / "cloud", **kwargs) as srv:
            yield srv

    return _fixture


def pcs_url(server: FakePCS, what: str = "file") -> str:
    """``<base>/rest/2.0/pcs/<what>`` for direct HTTP tests."""
    return f"{server.url}/rest/2.0/pcs/{what}"


def bypy_requester(server: FakePCS) -> type:
    """A bypy requester class that sends every URL to ``server`` (§6.1 recipe A).

    It keeps path and query and swaps scheme and host, so pcs, c.pcs, d.pcs and
    openapi traffic all arrive here; proxies from the environment are ignored.
    """
    from bypy.requester import RequestsRequester

    base = server.url

    class FakePCSRequester(RequestsRequester):  # type: ignore[misc]
        @classmethod
        def request(cls, method: str, url: str, **kwargs: Any) -> Any:
            parts = urlsplit(url)
            target = base + parts.path + (("?" + parts.query) if parts.query else "")
            kwargs.setdefault("proxies", {"http": None, "https": None})
            return super().request(method, target, **kwargs)

    return FakePCSRequester


def seed_bypy_config(server: FakePCS, config_dir: str | os.PathLike[str]) -> str:
    """Write bypy.json (current tokens) and bypy.setting.json (no update check)."""
    cfg = os.fspath(config_dir)
    os.makedirs(cfg, exist_ok=True)
    tokens = {
        "access_token": server.token,
        "refresh_token": server.refresh_token,
        "expires_in": 2592000,
        "scope": "basic netdisk",
        "session_key": "",
        "session_secret": "",
    }
    with open(os.path.join(cfg, "bypy.json"), "w", encoding="utf-8") as f:
        json.dump(tokens, f)
    with open(os.path.join(cfg, "bypy.setting.json"), "w", encoding="utf-8") as f:
        json.dump({"lastUpdateCheck": int(time.time())}, f)
    return cfg


def _isolate_bypy_home(cfg: str) -> None:
    """Point bypy's ~/.bypy constants at ``cfg`` so nothing touches the real home.

    These are module globals read at call time (migratesettings), so patching
    them after import works; they stay patched for the rest of the process.
    """
    import bypy.const as const

    const.ConfigDir = cfg
    for attr, name in (
        ("TokenFilePath", "bypy.json"),
        ("SettingFilePath", "bypy.setting.json"),
        ("HashCachePath", "bypy.hashcache.json"),
        ("PicklePath", "bypy.pickle"),
        ("ProgressPath", "bypy.parts.json"),
        ("OldByPyCertsPath", "bypy.cacerts.pem"),
        ("OldTokenFilePath", "old.bypy.json"),
        ("OldPicklePath", "old.bypy.pickle"),
    ):
        setattr(const, attr, os.path.join(cfg, name))
    const.RetryDelayInSec = 0  # §6.1 "test speed"; read at call time


def make_bypy(server: FakePCS, config_dir: str | os.PathLike[str], **bypy_kwargs: Any) -> Any:
    """A ``bypy.ByPy`` talking to ``server`` only.

    Seeds the config dir, isolates bypy's home-dir constants, zeroes its retry
    delay, injects :func:`bypy_requester`, and unregisters the atexit hook so
    instances don't pile up. Defaults: ``retry=3``, ``timeout=60``; any ByPy
    keyword can be overridden.
    """
    cfg = seed_bypy_config(server, config_dir)
    _isolate_bypy_home(cfg)
    from bypy import ByPy

    kwargs: dict[str, Any] = {"retry": 3, "timeout": 60}
    kwargs.update(bypy_kwargs)
    by = ByPy(configdir=cfg, requester=bypy_requester(server), **kwargs)
    atexit.unregister(by.cleanup)
    return by
