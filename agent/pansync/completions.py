"""Futures as they finish, for a loop that must keep handing out work.

`concurrent.futures.wait(..., FIRST_COMPLETED)` does the same, but it takes every future's lock one
by one in Python code: a Ctrl-C raised between two of them leaves the rest held for good. The worker
that finishes such a future then blocks on it, and so does the pool's shutdown on the way out, and
the interrupted command never exits. Here each future reports itself into a queue when it finishes,
and waiting is one call into C that an interrupt leaves as it found it.
"""

from __future__ import annotations

import queue
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

__all__ = ["Completions"]

T = TypeVar("T", bound="Future[Any]")


class Completions(Generic[T]):
    def __init__(self) -> None:
        self._done: queue.SimpleQueue[T] = queue.SimpleQueue()

    def watch(self, future: T) -> T:
        """Report `future` when it finishes (at once, if it has)."""
        future.add_done_callback(lambda _: self._done.put(future))
        return future

    def next(self, timeout: float | None = None) -> list[T]:
        """The futures finished since the last call, waiting up to `timeout` for one; [] if none."""
        try:
            finished = [self._done.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                finished.append(self._done.get_nowait())
            except queue.Empty:
                return finished
