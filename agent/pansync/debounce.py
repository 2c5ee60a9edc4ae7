"""`debounce`: decides when a burst of local events on one path has settled (DESIGN.md §4).

A path is *ready* when it has been quiet for `delay` seconds and two looks at it, `delay` apart,
saw the same fingerprint (kind, size, mtime). The first look is taken when an event arrives, the
second when the quiet time is up; if they differ (a writer that emits no events, such as an mmap
writer, or events the kernel dropped), the path waits another `delay`. Bursts coalesce: every
event on a pending path restarts its quiet time, so an editor's save (write a temp file, rename it
over the original) yields the original path once, plus the temp path, which by then is absent and
unknown to the synced tree and is dropped by `watch`.

A path that never settles (a growing log file) is handed over anyway after `max_wait`; the
executor's changed-during-upload check keeps a torn copy from being committed.

Limit: pure logic over (path, time) pairs. It never reads a clock or the disk itself: the time is
passed in and the fingerprint comes from the injected `stat`, so tests never sleep.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from msgspec import Struct

__all__ = ["Debouncer", "Fingerprint", "StatFn"]

Fingerprint = tuple[int, int, int] | None
"""(kind, size, mtime_ns) of a path, or None when it does not exist. Kind: 0 file, 1 dir, 2 other."""

StatFn = Callable[[str], Fingerprint]
"""Looks at one path; must not raise (an unreadable path is None)."""


class _Pending(Struct):
    first: float
    """When the burst began: `max_wait` counts from here."""
    last: float
    """When the path last changed, by an event or by a look that saw a new fingerprint."""
    seen: Fingerprint
    """What the latest look saw."""


class Debouncer:
    """Pending paths, each with its quiet time; `due` hands over the ones that have settled.

    Not thread-safe: its owner (`watch.FolderWatch`) serialises calls. Every operation costs
    O(changed paths), never O(pending paths): pending paths are kept in order of their last change
    (which only ever moves later), so `due` stops at the first one still in its quiet time.
    """

    def __init__(self, delay: float, stat: StatFn, *, max_wait: float | None = None) -> None:
        if delay < 0:
            raise ValueError("debounce delay must not be negative")
        self.delay = delay
        self.max_wait = max_wait if max_wait is not None else max(60.0, 30 * delay)
        self._stat = stat
        self._by_last: OrderedDict[str, _Pending] = OrderedDict()
        self._by_first: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_last)

    def __contains__(self, path: object) -> bool:
        return path in self._by_last

    def touch(self, path: str, now: float) -> None:
        """An event on `path` at `now`: take the first look and (re)start its quiet time."""
        entry = self._by_last.get(path)
        seen = self._stat(path)
        if entry is None:
            self._by_last[path] = _Pending(first=now, last=now, seen=seen)
            self._by_first[path] = None
            return
        entry.last = max(entry.last, now)
        entry.seen = seen
        self._by_last.move_to_end(path)

    def deadline(self) -> float | None:
        """The earliest time at which `due` may hand something over; None when nothing is pending."""
        if not self._by_last:
            return None
        oldest = next(iter(self._by_last.values()))
        first = self._by_last[next(iter(self._by_first))].first
        return min(oldest.last + self.delay, first + self.max_wait)

    def due(self, now: float) -> list[str]:
        """Paths settled at `now`, in the order they settled; they leave the debouncer."""
        ready: list[str] = []
        recheck: list[tuple[str, _Pending]] = []
        while self._by_last:
            path, entry = next(iter(self._by_last.items()))
            if entry.last + self.delay > now:
                break
            del self._by_last[path]
            seen = self._stat(path)
            if seen == entry.seen:
                del self._by_first[path]
                ready.append(path)
            else:  # still changing without telling us: another quiet period from this look
                entry.seen, entry.last = seen, now
                recheck.append((path, entry))
        for path, entry in recheck:
            self._by_last[path] = entry
        while self._by_first:
            path = next(iter(self._by_first))
            entry = self._by_last[path]
            if entry.first + self.max_wait > now:
                break
            del self._by_first[path]
            del self._by_last[path]
            ready.append(path)  # never settled: hand it over; the executor re-checks it
        return ready

    def forget(self, path: str) -> None:
        """Drop a pending path (its folder went away, or the agent is stopping)."""
        if self._by_last.pop(path, None) is not None:
            del self._by_first[path]
