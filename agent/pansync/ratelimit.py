"""`transfer.upload_limit` / `transfer.download_limit`: one token bucket per direction, shared by
every transfer in flight, so the limit holds for the sum of them whatever the backend.

Transfers report each chunk they move (the progress callback); the bucket makes the caller wait
until the chunk fits the rate. Limit: paces bytes; knows nothing of files or remotes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """Allow `rate` bytes per second on average, with bursts up to one second's worth."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("a rate limit must be positive")
        self.rate = float(rate)
        self.capacity = self.rate
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def consume(self, nbytes: int) -> None:
        """Take `nbytes`; wait first if they exceed what the rate allows now. Waiting runs into
        debt rather than queueing, so concurrent callers share the rate fairly."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= nbytes
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
