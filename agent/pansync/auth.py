"""`auth`: this computer's Baidu authorization: where its tokens live and how they are renewed.

Tokens live in bypy's own format (`bypy.json`) in `<state_dir>/bypy/` (folder 0700, file 0600), so
bypy's authorization flow and refresh work on them unchanged. Each computer authorizes on its own:
Baidu's refresh tokens work once, so two computers sharing a token file would lock each other out.
Within one machine, every `BaiduRemote` on one state dir shares one `TokenManager`, and processes
renew under a file lock and adopt a token another process renewed, instead of burning it.

Limit: renews only when the service refuses a token (bypy's behaviour, `expires_in` is ignored);
a refused renewal is an `AuthError` that says "run `pansync auth` again", never a retry loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from pansync.errors import AuthError
from pansync.log import get_logger
from pansync.remote.baidu_bypy import TOKEN_FILE, BypySession, open_bypy, seed_settings
from pansync.remote.pcs import Endpoints, PcsTransient

__all__ = ["TokenManager", "bypy_dir", "load_tokens", "run_auth_flow", "store_tokens", "token_path"]

_log = get_logger(__name__)
_REFUSALS = ("invalid_grant", "invalid_client", "unauthorized_client", "expired_token", "access_denied")
_RE_AUTH = "run `pansync auth` again"


def bypy_dir(state_dir: Path) -> Path:
    """bypy's config dir inside PanSync's state dir."""
    return state_dir / "bypy"


def token_path(state_dir: Path) -> Path:
    return bypy_dir(state_dir) / TOKEN_FILE


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # ours alone: tighten even if it existed
    return path


def _write_private(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def store_tokens(state_dir: Path, access_token: str, refresh_token: str) -> Path:
    """Store tokens obtained elsewhere (a headless server, a test server) where bypy reads them."""
    folder = _private_dir(bypy_dir(state_dir))
    path = folder / TOKEN_FILE
    _write_private(
        path,
        {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_in": 2592000,
            "scope": "basic netdisk",
        },
    )
    seed_settings(folder)
    return path


def load_tokens(state_dir: Path) -> dict[str, Any] | None:
    """The stored token JSON, or None when this computer has not been authorized."""
    try:
        data = json.loads(token_path(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("access_token"):
        return None
    return data


@contextlib.contextmanager
def _file_lock(folder: Path) -> Iterator[None]:
    """Serialize renewals across processes sharing this state dir."""
    fd = os.open(folder / ".refresh.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class TokenManager:
    """The access token of one state dir, renewed through bypy when the service refuses it."""

    _shared: ClassVar[dict[Path, TokenManager]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, state_dir: Path, endpoints: Endpoints, *, timeout_s: float = 60.0) -> None:
        self.state_dir = state_dir
        self.endpoints = endpoints
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._tokens: dict[str, Any] | None = None
        self._bypy: BypySession | None = None
        self.refreshes = 0

    @classmethod
    def shared(cls, state_dir: Path, endpoints: Endpoints, *, timeout_s: float = 60.0) -> TokenManager:
        """One manager per token file in this process, so no two copies burn one refresh token."""
        key = token_path(state_dir).resolve()
        with cls._shared_lock:
            found = cls._shared.get(key)
            if found is None or found.endpoints != endpoints:
                found = cls._shared[key] = cls(state_dir, endpoints, timeout_s=timeout_s)
            return found

    def current(self) -> str:
        with self._lock:
            if self._tokens is None:
                self._tokens = load_tokens(self.state_dir)
            if self._tokens is None:
                raise AuthError("this computer is not authorized with Baidu yet: run `pansync auth`")
            return str(self._tokens["access_token"])

    def refresh(self, stale: str) -> None:
        """Renew the token that `stale` was, unless another thread or process already has."""
        with self._lock:
            if self._tokens is not None and self._tokens.get("access_token") != stale:
                return
            folder = _private_dir(bypy_dir(self.state_dir))
            with _file_lock(folder):
                on_disk = load_tokens(self.state_dir)
                if on_disk is None:
                    raise AuthError("this computer is not authorized with Baidu yet: run `pansync auth`")
                if on_disk.get("access_token") != stale:
                    self._tokens = on_disk  # renewed elsewhere, or `pansync auth` ran meanwhile
                    return
                outcome = self._session().refresh(on_disk)
                if outcome.tokens is None:
                    self._refused(outcome.status, outcome.error, outcome.description)
                assert outcome.tokens is not None
                merged = {**on_disk, **outcome.tokens}
                _write_private(token_path(self.state_dir), merged)
                self._tokens = merged
                self.refreshes += 1
                _log.info("baidu.token_renewed")

    def _session(self) -> BypySession:
        if self._bypy is None:
            self._bypy = open_bypy(bypy_dir(self.state_dir), self.endpoints, timeout_s=self.timeout_s)
        return self._bypy

    @staticmethod
    def _refused(status: int | None, error: str, description: str) -> None:
        text = f"{error}: {description}" if description else error
        lowered = f"{error} {description}".lower()
        if error in _REFUSALS or "refresh token" in lowered or "security" in lowered:
            raise AuthError(
                f"Baidu refused to renew this computer's authorization ({text}). Refresh tokens work "
                f"once and belong to one computer; {_RE_AUTH}"
            )
        if "31034" in lowered or "frequen" in lowered or status == 429:
            raise PcsTransient(f"renewing the Baidu authorization was rate-limited ({text})", ambiguous=False)
        if status is not None and 400 <= status < 500:
            raise AuthError(f"Baidu refused to renew the authorization (HTTP {status} {text}); {_RE_AUTH}")
        raise PcsTransient(
            f"renewing the Baidu authorization failed ({text or 'no answer'})", ambiguous=False
        )


def run_auth_flow(
    state_dir: Path,
    *,
    prompt: Callable[[str], str],
    endpoint: str | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Authorize this computer through bypy's OAuth flow; returns the token file.

    `prompt` gets bypy's instructions (the URL to open) and returns the authorization code the
    user pasted. The new tokens replace the stored ones only once Baidu has issued them.
    """
    folder = _private_dir(bypy_dir(state_dir))
    scratch = _private_dir(folder / f".auth-{uuid.uuid4().hex[:12]}")
    tries = 0

    def ask(message: str) -> str:
        nonlocal tries
        tries += 1
        if tries > 3:
            raise AuthError("no valid authorization code was entered (it has at least 16 characters)")
        return prompt(message)

    try:
        session = open_bypy(scratch, Endpoints.resolve(endpoint), timeout_s=timeout_s, prompt=ask)
        del session
        fresh = json.loads((scratch / TOKEN_FILE).read_text(encoding="utf-8"))
        if not isinstance(fresh, dict) or not fresh.get("access_token"):
            raise AuthError(f"Baidu's answer held no access token; {_RE_AUTH}")
        _write_private(folder / TOKEN_FILE, fresh)
        seed_settings(folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    with TokenManager._shared_lock:
        TokenManager._shared.pop(token_path(state_dir).resolve(), None)
    return folder / TOKEN_FILE
