"""Work done in a forked child while this process does something else: a sync lists a local-folder
remote on the second core while it scans the local folder on the first (two threads would share
one GIL, and every stat would hand it over).

Only on Linux and only from a process with one thread: a fork copies the calling thread alone, so
a lock another thread held at that moment would stay held in the child for good. The result comes
back through a pipe as `marshal` frames (plain tuples, lists, strings and numbers). A child that
fails in any way raises `ChildFailed` at the end of its parts, and the caller does the work itself:
the child can make a sync faster, never different.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pansync import interrupts

__all__ = ["Ahead", "ChildFailed", "ahead", "can_fork"]

_HEADER = 8
"""Bytes of the length that precedes each part in the pipe."""


def can_fork() -> bool:
    return sys.platform.startswith("linux") and threading.active_count() == 1


class ChildFailed(Exception):
    """The child ended without sending all of its parts: what came before must be thrown away."""


class Ahead:
    """A child computing a sequence of parts; `parts()` yields them as they come."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid = pid
        self._pipe = open(fd, "rb")  # noqa: SIM115 -- closed by `parts` or `cancel`
        self._done = False
        self._sent_all = False

    @property
    def pid(self) -> int:
        return self._pid

    def parts(self) -> Iterator[Any]:
        """Each part the child sent, in order; `ChildFailed` at the end if it did not finish."""
        try:
            while header := self._pipe.read(_HEADER):
                data = self._pipe.read(int.from_bytes(header, "little"))
                try:
                    yield marshal.loads(data)
                except (EOFError, ValueError, TypeError) as exc:
                    raise ChildFailed("the child sent a broken part") from exc
            self._sent_all = True  # the child closed its end: it is on its way out, let it finish
        finally:
            self.cancel()
        if self._code != 0:
            raise ChildFailed(f"the child ended with {self._code}")

    def cancel(self) -> None:
        """Stop and reap the child (its parts are no longer wanted, or all were read)."""
        if self._done:
            return
        self._done = True
        self._pipe.close()
        if not self._sent_all:  # killing one that has closed the pipe would fail a finished listing
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
        _, status = os.waitpid(self._pid, 0)
        self._code = os.waitstatus_to_exitcode(status)


@contextlib.contextmanager
@interrupts.shielded  # a child forked is a child reaped: no Ctrl-C lands between the two
def ahead(work: Callable[[], Iterable[Any]]) -> Iterator[Ahead | None]:
    """Start `work` in a child now; None when this process may not fork (see the module's note).
    The child sends each part `work` yields as one `marshal` frame: the parent never holds more
    than one part beside what it has built from the others."""
    if not can_fork():
        yield None
        return
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code, whatever happens
        code = 1
        try:
            os.close(read_fd)
            code = _send(write_fd, work)
        finally:
            os._exit(code)
    os.close(write_fd)
    child = Ahead(pid, read_fd)
    try:
        interrupts.checkpoint()
        yield child
    finally:
        child.cancel()


def _send(write_fd: int, work: Callable[[], Iterable[Any]]) -> int:
    """The child's work: each part as a length-prefixed frame; its exit code."""
    with open(write_fd, "wb") as pipe:
        for part in work():
            data = marshal.dumps(part)
            pipe.write(len(data).to_bytes(_HEADER, "little"))
            pipe.write(data)
    return 0
