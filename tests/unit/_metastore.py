"""An in-memory metadata store with a hand-driven server clock, for the lock/index/registry tests.

It implements the six metadata primitives of `Remote` with the same semantics (atomic replace,
atomic create-if-absent, server mtime = server time at the write) and adds two seams the real
backends cannot offer: `advance()` moves the server clock, and `before` runs a callback before each
operation so a test can slip a competing client's move into the exact gap it wants to probe.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["MemoryMetaStore"]


class MemoryMetaStore:
    """Metadata files in a dict; the server clock only moves when the test says so (or `tick_ns`)."""

    url = "memory://test"

    def __init__(self, now_ns: int = 1_700_000_000 * 10**9, *, tick_ns: int = 0) -> None:
        self.now_ns = now_ns
        self.tick_ns = tick_ns
        self.files: dict[str, tuple[bytes, int]] = {}
        self.ops: list[tuple[str, str]] = []
        self.before: Callable[[str, str], None] | None = None
        self._in_hook = False

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1e9)

    def _op(self, op: str, path: str) -> None:
        self.ops.append((op, path))
        self.now_ns += self.tick_ns
        if self.before is not None and not self._in_hook:
            self._in_hook = True  # the hook may act on the store itself: no recursion
            try:
                self.before(op, path)
            finally:
                self._in_hook = False

    def read_meta(self, rel_path: str) -> tuple[bytes, int] | None:
        self._op("read", rel_path)
        return self.files.get(rel_path)

    def write_meta(self, rel_path: str, data: bytes) -> None:
        self._op("write", rel_path)
        self.files[rel_path] = (bytes(data), self.now_ns)

    def create_meta_exclusive(self, rel_path: str, data: bytes) -> bool:
        self._op("create", rel_path)
        if rel_path in self.files:
            return False
        self.files[rel_path] = (bytes(data), self.now_ns)
        return True

    def delete_meta(self, rel_path: str) -> None:
        self._op("delete", rel_path)
        self.files.pop(rel_path, None)

    def list_meta(self, rel_dir: str) -> list[str]:
        self._op("list", rel_dir)
        prefix = f"{rel_dir}/" if rel_dir else ""
        return sorted({p[len(prefix) :].split("/")[0] for p in self.files if p.startswith(prefix)})

    def server_time_ns(self) -> int:
        self._op("time", "")
        return self.now_ns
