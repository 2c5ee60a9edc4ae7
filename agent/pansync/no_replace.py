"""Moving a file onto a name only while nothing is there: a file that appeared meanwhile (another
client's upload, the user's new file) is never clobbered.

Linux has `renameat2(RENAME_NOREPLACE)` (ext4, XFS, Btrfs, tmpfs), which Python's `os` lacks: one
call, and the file system checks and renames in one step. Elsewhere, or where a file system refuses
the flag (some network mounts), a hard link and an unlink give the same guarantee in two calls, and
two journal updates of the file's link count: in a 100,000-file first sync, one call per file less.
"""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Callable

from pansync.libc import last_errno, libc_function

__all__ = ["rename_no_replace"]

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_REFUSED = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)
"""What a kernel or file system without the flag answers: from then on, link and unlink."""

_fallback = False


@functools.cache
def _renameat2() -> Callable[[str, str], int] | None:
    """`renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE)` returning 0 or an errno, or None
    where there is no such call."""
    call = libc_function("renameat2")
    if call is None:
        return None

    def renameat2(source: str, target: str) -> int:
        if call(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return 0
        return last_errno()

    return renameat2


def rename_no_replace(source: os.PathLike[str] | str, target: os.PathLike[str] | str) -> None:
    """Move `source` to `target`; `FileExistsError` when `target` exists, which stays as it was.

    A file, or on Linux a folder too (the fallback's hard link refuses folders: `PermissionError`)."""
    global _fallback
    call = None if _fallback else _renameat2()
    if call is not None:
        code = call(os.fspath(source), os.fspath(target))
        if code == 0:
            return
        if code not in _REFUSED:
            raise OSError(code, os.strerror(code), os.fspath(source), None, os.fspath(target))
        _fallback = True
    os.link(source, target, follow_symlinks=False)
    os.unlink(source)
