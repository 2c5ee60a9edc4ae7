"""`throttle`: how many requests a backend may have in flight, lowered by the service's own signals.

Job: one shared gate for every request a backend sends. It starts at the configured concurrency;
a rate-limit answer (Baidu's 31034) halves it for a cool-down period, after which it grows back by
one per quiet period (additive increase, multiplicative decrease, as TCP does). Limit: counts
requests, not bytes; bandwidth caps belong elsewhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Throttle"]


class Throttle:
    """A resizable semaphore: `slot()` waits while `in_flight >= limit`."""

    def __init__(
        self, limit: int, *, cooldown_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_limit = max(1, limit)
        self.limit = self.max_limit
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._calm_at = 0.0
        self._in_flight = 0
        self._cond = threading.Condition()
        self.penalties = 0
        """How often the service asked us to slow down (for tests and status)."""

    def _recover(self) -> None:
        now = self._clock()
        if self.limit < self.max_limit and now >= self._calm_at:
            self.limit += 1
            self._calm_at = now + self.cooldown_s / 2
            self._cond.notify_all()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the `limit` request slots for the duration of the block."""
        with self._cond:
            while True:
                self._recover()
                if self._in_flight < self.limit:
                    break
                self._cond.wait(timeout=max(0.05, min(1.0, self._calm_at - self._clock())))
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify()

    def penalize(self) -> None:
        """The service said "too many requests": halve the limit and stay low for a while."""
        with self._cond:
            self.penalties += 1
            self.limit = max(1, self.limit // 2)
            self._calm_at = self._clock() + self.cooldown_s
