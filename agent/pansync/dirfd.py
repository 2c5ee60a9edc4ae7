"""Listing a folder through an open descriptor of it, so that each name in it is `lstat`ed by name.

`DirEntry.stat()` hands the kernel the entry's whole path, which it resolves again from the root
for every file; `os.stat(name, dir_fd=fd)` (`fstatat`) resolves one name. A bare walk of 100,000
files here: 0.45 → 0.40 s. Both walks use it: the local scan and the local-folder remote's listing.
Where the platform cannot stat by descriptor, the caller stats by path (`base`).
"""

from __future__ import annotations

import os

from msgspec import Struct

__all__ = ["Folder", "open_folder"]

_BY_FD = os.scandir in os.supports_fd and os.stat in os.supports_dir_fd
_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
"""Below the root: a folder swapped for a symbolic link after it was listed is not entered."""


class Folder(Struct, frozen=True):
    """An open folder: `os.stat(base + name, dir_fd=fd, follow_symlinks=False)` stats a name in it."""

    names: list[str]
    fd: int | None
    base: str
    """"" when `fd` is open; else the folder's path and a slash."""

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)


def open_folder(path: str, *, root: bool = False) -> Folder:
    """The names in the folder at `path`, in the file system's order, and the means to stat them.
    Raises `OSError` as `os.scandir(path)` would; the caller closes the folder. Only a `root` may be
    a symbolic link (a synced folder kept on another disk, say); a link below it is never entered."""
    if not _BY_FD:
        with os.scandir(path) as it:
            return Folder([item.name for item in it], None, path + "/")
    fd = os.open(path, _FLAGS if root else _FLAGS | _NOFOLLOW)
    try:
        with os.scandir(fd) as it:
            return Folder([item.name for item in it], fd, "")
    except BaseException:
        os.close(fd)
        raise
