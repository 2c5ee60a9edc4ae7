"""``FakePCS``: the emulator as an object — start, stop, inspect, misbehave.

Tests use it directly (``FakePCS(root).start()``) or through
:mod:`fakepcs.testing`; the CLI wraps the same class.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .admin import AdminRoutes
from .api import Api
from .blocks import BlockStore
from .config import Policy, update_dataclass
from .faults import Faults, FaultSettings
from .hashing import Hasher
from .httpio import PCSHTTPServer
from .recycle import RecycleBin
from .stats import Stats
from .store import Store
from .throttle import Bucket
from .tokens import Tokens
from .transfer import Links

DEFAULT_TOKEN = "fakepcs-access-token"
DEFAULT_REFRESH = "fakepcs-refresh-token"


class FakePCS:
    """An offline Baidu PCS on 127.0.0.1 backed by a real directory."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        refresh_token: str = DEFAULT_REFRESH,
        policy: Policy | dict[str, Any] | None = None,
        faults: FaultSettings | dict[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
        verbose: bool = False,
    ) -> None:
        self.root = os.path.realpath(os.fspath(root))
        os.makedirs(self.root, exist_ok=True)
        self.policy = policy if isinstance(policy, Policy) else Policy()
        if isinstance(policy, dict):
            update_dataclass(self.policy, policy)
        self.clock = clock
        self.verbose = verbose
        self.store = Store(self.root, self.policy, clock)
        self.recycle = RecycleBin(self.store)
        self.blocks = BlockStore(self.store)
        self.links = Links(clock)
        self.tokens = Tokens(token, refresh_token, ttl=self.policy.token_ttl, clock=clock)
        self.faults = Faults()
        if faults is not None:
            self.faults.configure(dataclasses.asdict(faults) if isinstance(faults, FaultSettings) else faults)
        self.counters = Stats()
        self.bucket_up = Bucket(lambda: self.faults.settings.bandwidth_up)
        self.bucket_down = Bucket(lambda: self.faults.settings.bandwidth_down)
        self.api = Api(self)
        self.admin_routes = AdminRoutes(self)
        self._rid = itertools.count(int(clock()) * 1_000_000 % 10**15 + 1)
        self.httpd = PCSHTTPServer((host, port), self)
        self._thread: threading.Thread | None = None
        self._stopped = False

    # --- lifecycle ------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self.httpd.server_address[1])

    @property
    def host(self) -> str:
        """The bound address."""
        return str(self.httpd.server_address[0])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8123`` (append ``/rest/2.0/pcs/...``)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakePCS:
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fakepcs:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (or Ctrl-C)."""
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving, cut open connections and close the sidecar. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
        self.httpd.close_all_connections()
        self.httpd.server_close()
        self.store.close()

    def __enter__(self) -> FakePCS:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def next_request_id(self) -> int:
        """A non-zero request_id (bypy needs it truthy for delete)."""
        return next(self._rid)

    # --- control --------------------------------------------------------
    def admin(self, name: str, **payload: Any) -> Any:
        """Same actions as ``/__admin/<name>``; keyword arguments make it a write."""
        return self.admin_routes.call(name, payload or None)

    def set_faults(self, **values: Any) -> None:
        """Merge fault settings (see :class:`fakepcs.faults.FaultSettings`)."""
        self.faults.configure(values)

    def fail_next(
        self,
        kind: str,
        count: int = 1,
        methods: list[str] | str | None = None,
        status: int | None = None,
        code: int | None = None,
    ) -> None:
        """Arm a one-shot fault for the next ``count`` matching requests."""
        self.faults.arm(kind, count, methods, status, code)

    def clear_faults(self) -> None:
        """Remove every fault and switch."""
        self.faults.clear()

    def set_policy(self, **values: Any) -> None:
        """Change behaviour settings (see :class:`fakepcs.config.Policy`)."""
        update_dataclass(self.policy, values)
        self.tokens.ttl = self.policy.token_ttl

    def expire_token(self) -> None:
        """The current access token answers 111 until the client refreshes."""
        self.tokens.expire()

    @property
    def token(self) -> str:
        """The access token currently accepted."""
        return self.tokens.access

    @property
    def refresh_token(self) -> str:
        """The refresh token currently accepted."""
        return self.tokens.refresh_token

    def expire_blocks(self) -> int:
        """Forget every uploaded tmpfile block (createsuperfile will get 31363)."""
        return self.blocks.expire()

    def stats(self) -> dict[str, Any]:
        """Counters: requests, bytes_in, bytes_out per method key, plus totals."""
        return self.counters.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters and the request log."""
        self.counters.reset()

    def requests(self, key: str | None = None) -> int:
        """Requests seen for one method key, or in total."""
        s = self.counters.snapshot()
        return int(s["total"]["requests"] if key is None else s["requests"].get(key, 0))

    def bytes_in(self) -> int:
        """Request payload bytes received so far."""
        return int(self.counters.snapshot()["total"]["bytes_in"])

    def bytes_out(self) -> int:
        """Response payload bytes sent so far."""
        return int(self.counters.snapshot()["total"]["bytes_out"])

    def request_log(self) -> list[dict[str, Any]]:
        """Recent requests (verb, route, key, params without token, status, error_code)."""
        return self.counters.entries()

    # --- content helpers ------------------------------------------------
    def put_file(self, path: str, data: bytes, ondup: str = "overwrite") -> dict[str, Any]:
        """Create a file directly (no HTTP, not counted); returns its list entry."""
        tmp = self.store.spool_path()
        h = Hasher()
        with open(tmp, "wb") as f:
            f.write(data)
        h.update(data)
        return self.store.commit_file(path, tmp, h.digests(), ondup=ondup).public()

    def mkdir(self, path: str) -> dict[str, Any]:
        """Create a directory directly."""
        return self.store.mkdir(path).public()

    def read_file(self, path: str) -> bytes:
        """Content of a cloud file."""
        e = self.store.require(path)
        with open(self.store.disk(e.path), "rb") as f:
            return f.read()

    def entry(self, path: str) -> dict[str, Any] | None:
        """Internal view of one entry, including the true ``content_md5``."""
        e = self.store.get(path)
        if e is None:
            return None
        d = e.public()
        d.update(content_md5=e.md5, slice_md5=e.slice_md5, crc32=e.crc32)
        return d

    def exists(self, path: str) -> bool:
        """Whether a cloud path exists (case-insensitively)."""
        return self.store.get(path) is not None

    def listdir(self, path: str) -> list[str]:
        """Child names of a directory, sorted."""
        return sorted(e.path.rsplit("/", 1)[-1] for e in self.store.children(path))

    def tree(self, path: str | None = None) -> list[str]:
        """All paths strictly below ``path`` (default: the app folder), sorted."""
        top = self.store.get(path or self.policy.app_dir)
        if top is None:
            return []
        return sorted(e.path for e in self.store.subtree(top.path) if e.fs_id != top.fs_id)

    def add_known_content(self, data: bytes) -> str:
        """Make content rapid-uploadable as if another user had it; returns its MD5."""
        tmp = self.store.spool_path()
        h = Hasher()
        with open(tmp, "wb") as f:
            f.write(data)
        h.update(data)
        try:
            self.blocks.add_known(tmp, h.digests())
        finally:
            os.unlink(tmp)
        return h.digests().md5

    def rescan(self) -> int:
        """Adopt changes made directly under root; returns how many entries changed."""
        return self.store.rescan()
