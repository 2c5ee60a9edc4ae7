"""Ending a finished command without the interpreter's teardown.

At exit CPython clears every module it imported and frees every object one at a time: ~9 ms for
the ~240 modules a sync imports, ~15 ms in all after a 10,000-file no-op and more after a
100,000-file one, for memory the kernel takes back at once. So a command that has finished does
itself what teardown would do that anyone can see (the exit handlers: the log's flush, coverage's
data; the standard streams' flush) and then leaves with `os._exit`, as Instagram's web workers
do. While a second thread runs, the ordinary exit is kept: it waits for non-daemon threads.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

__all__ = ["leave", "status_of"]

FLUSH_FAILED = 120
"""CPython's own status when the standard streams cannot be flushed at exit."""


def status_of(code: str | int | None) -> int:
    """The status `sys.exit(code)` would give, its message (if any) written as Python writes it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def leave(code: str | int | None) -> NoReturn:
    """Exit with `code` as `sys.exit` would, skipping the teardown when this is the only thread."""
    if threading.active_count() > 1:
        sys.exit(code)
    status = status_of(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a reader gone (closed pipe) or a stream closed
            status = status or FLUSH_FAILED
    os._exit(status)
