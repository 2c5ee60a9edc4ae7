"""The shared value types of the three trees: small, frozen, and free of I/O.

Every tree is a mapping from a *key* to an entry. A key is the path relative to the sync root, with
`/` separators and every component in Unicode NFC, so that `é` typed on macOS (NFD) and on Linux
(NFC) is one path. Each side keeps its own on-disk spelling in `name`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, final

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Any:  # only the type checker reads it
        return lambda decorator: decorator


__all__ = [
    "Kind",
    "LocalEntry",
    "LocalTree",
    "RemoteEntry",
    "RemoteTree",
    "SyncedEntry",
    "SyncedTree",
]


_T = TypeVar("_T")


@dataclass_transform(frozen_default=True)
def _entry(cls: type[_T]) -> type[_T]:
    """A frozen dataclass to the type checker (mypy rejects any assignment to a field), a plain one
    with slots at run time, hashable by its fields all the same. A frozen dataclass's `__init__`
    sets each field through `object.__setattr__`: 1.9 µs an entry against 0.5 µs, and a sync of
    100,000 files builds several hundred thousand entries."""
    return dataclass(slots=True, unsafe_hash=True)(cls)


class Kind(enum.Enum):
    """What a path is. Symlinks and special files never enter a tree: the scanners skip them."""

    FILE = "file"
    DIR = "dir"


@final
@_entry
class LocalEntry:
    """One path on the local disk, as the scanner saw it.

    `md5` is the content hash for files: carried over from the synced record when the fast path
    (size, mtime_ns, inode) says the file is unchanged, freshly computed otherwise. Directories have
    `md5 = ""` and `size = 0`.
    """

    name: str
    kind: Kind
    size: int
    mtime_ns: int
    inode: int
    md5: str


@final
@_entry
class RemoteEntry:
    """One path on the remote, as its backend listed it.

    `remote_id` identifies the object across renames (a local-folder remote's inode, Baidu's fs_id).
    `md5` is the true content MD5 where known (carried from the synced record or the shared index
    when the listing fingerprint is unchanged, computed or trusted otherwise); "" for directories.
    """

    name: str
    kind: Kind
    size: int
    mtime_ns: int
    remote_id: str
    md5: str


@final
@_entry
class SyncedEntry:
    """The last state both sides agreed on for one key: the base of the three-way merge."""

    kind: Kind
    size: int
    md5: str
    local_name: str
    local_mtime_ns: int
    local_inode: int
    remote_name: str
    remote_id: str
    remote_mtime_ns: int


LocalTree = Mapping[str, LocalEntry]
RemoteTree = Mapping[str, RemoteEntry]
SyncedTree = Mapping[str, SyncedEntry]
