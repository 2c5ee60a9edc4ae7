"""Transfer progress for people: rich bars on a terminal, plain lines in a log or a pipe.

`rich.progress` is imported only when there is a terminal to draw on: a sync in a pipe or under a
service manager does not pay for it at start-up."""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from pansync.output import is_terminal, rich_console
from pansync.transfer_sink import TransferSink
from pansync.units import format_size

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

__all__ = ["PlainSink", "RichSink", "make_sink"]


class RichSink(TransferSink):
    """One bar per transfer in flight; bars vanish when done so the screen stays short."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self._progress = Progress(
            TextColumn("{task.fields[arrow]} {task.description}", justify="left"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()
        self._started = False

    def __enter__(self) -> RichSink:
        return self  # the display (and its refresh thread) starts with the first transfer

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._started:
            self._progress.stop()

    def start(self, key: str, direction: str, size: int) -> None:
        """Show a transfer; the first one starts the display. Until then the process has one thread
        and may fork its remote listing (`pansync.forked`)."""
        arrow = "↑" if direction == "up" else "↓"
        with self._lock:
            if not self._started:
                self._progress.start()
                self._started = True
            self._tasks[key] = self._progress.add_task(key, total=size or None, arrow=arrow)

    def advance(self, key: str, nbytes: int) -> None:
        task = self._tasks.get(key)
        if task is not None:
            self._progress.advance(task, nbytes)

    def finish(self, key: str) -> None:
        with self._lock:
            task = self._tasks.pop(key, None)
        if task is not None:
            self._progress.remove_task(task)


class PlainSink(TransferSink):
    """A line when a transfer of a large file starts: readable in logs, no control characters."""

    LARGE = 8 * 1024 * 1024

    def __enter__(self) -> PlainSink:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self, key: str, direction: str, size: int) -> None:
        if size >= self.LARGE:
            verb = "uploading" if direction == "up" else "downloading"
            print(f"{verb} {key} ({format_size(size)})", file=sys.stderr, flush=True)


def make_sink() -> RichSink | PlainSink:
    """Bars when stderr is a terminal, plain lines otherwise."""
    if is_terminal(stderr=True):
        return RichSink(rich_console(stderr=True))
    return PlainSink()
