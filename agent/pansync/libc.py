"""System calls Python's `os` lacks (`syncfs`, `renameat2`), found in the C library on first use.

ctypes is imported only then: 20 ms of start-up that most commands never need. Linux only; None
elsewhere, and the callers fall back to what `os` offers.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

__all__ = ["last_errno", "libc_function"]


@functools.cache
def libc_function(name: str) -> Any | None:
    """The C library's `name` as a ctypes function that records `errno`, or None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return getattr(ctypes.CDLL(None, use_errno=True), name)
    except (AttributeError, OSError):
        return None


def last_errno() -> int:
    """`errno` as the last call through `libc_function` left it in this thread."""
    import ctypes

    return ctypes.get_errno()
