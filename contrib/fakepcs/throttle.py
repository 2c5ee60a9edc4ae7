"""A global bandwidth cap shared by all connections (GCRA token bucket).

One bucket per direction; every body chunk read or written asks its bucket for
permission, so N parallel transfers share the configured bytes/s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

BURST_SECONDS = 0.05


class Bucket:
    """Bytes-per-second limiter; a rate of 0 or less means unlimited."""

    def __init__(self, rate: Callable[[], int]) -> None:
        self.rate = rate
        self.lock = threading.Lock()
        self.tat = 0.0  # theoretical arrival time of the next byte

    def chunk_size(self) -> int:
        """A write size that keeps sleeps short at low rates."""
        r = self.rate()
        return 64 * 1024 if r <= 0 else max(1024, min(64 * 1024, r // 20))

    def consume(self, n: int) -> None:
        """Block until ``n`` more bytes fit under the cap."""
        r = self.rate()
        if r <= 0 or n <= 0:
            return
        with self.lock:
            now = time.monotonic()
            self.tat = max(self.tat, now) + n / r
            wait = self.tat - now - BURST_SECONDS
        if wait > 0:
            time.sleep(wait)
