"""Request and payload-byte counters plus a short request log, for tests."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any


class Stats:
    """Thread-safe counters keyed by method (``list``, ``upload.tmpfile``, ``cdn``...)."""

    def __init__(self, log_size: int = 2000) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.bytes_in: Counter[str] = Counter()
        self.bytes_out: Counter[str] = Counter()
        self.log: deque[dict[str, Any]] = deque(maxlen=log_size)

    def count_request(self, key: str) -> None:
        """One more request of this kind."""
        with self.lock:
            self.requests[key] += 1

    def add_in(self, key: str, n: int) -> None:
        """Request-body bytes received."""
        if n:
            with self.lock:
                self.bytes_in[key] += n

    def add_out(self, key: str, n: int) -> None:
        """Response-body bytes sent."""
        if n:
            with self.lock:
                self.bytes_out[key] += n

    def record(self, item: dict[str, Any]) -> None:
        """Append to the request log."""
        with self.lock:
            self.log.append(item)

    def snapshot(self) -> dict[str, Any]:
        """All counters with totals."""
        with self.lock:
            return {
                "requests": dict(self.requests),
                "bytes_in": dict(self.bytes_in),
                "bytes_out": dict(self.bytes_out),
                "total": {
                    "requests": sum(self.requests.values()),
                    "bytes_in": sum(self.bytes_in.values()),
                    "bytes_out": sum(self.bytes_out.values()),
                },
            }

    def entries(self) -> list[dict[str, Any]]:
        """The request log, oldest first."""
        with self.lock:
            return list(self.log)

    def reset(self) -> None:
        """Zero everything."""
        with self.lock:
            self.requests.clear()
            self.bytes_in.clear()
            self.bytes_out.clear()
            self.log.clear()
