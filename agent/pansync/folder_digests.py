"""Per-folder digests of listings found to match the synced tree: how a no-op sync of a large folder
skips loading, comparing and planning 100,000 entries.

A folder's digest is a BLAKE2b of what a walk saw in it: each entry's name, mode, size, mtime and
identity (a subfolder's by name, mode and identity alone: its mtime moves with what is inside it,
which its own digest covers). A digest is kept only for a *clean* folder: one in which the last
whole sync found every entry unchanged against its synced record, no synced entry missing and
nothing skipped. While the synced table is the one it was then (its stamp, see `synced_snapshot`)
and the rules and places that shape a walk are the same (`fingerprint`), a folder listed with the
same digest is clean again, without a record read; when every folder of both sides is, and each
side holds as many entries as the synced table, the three trees agree: the sync has nothing to do.

A sync that writes records keeps the digests of the folders it did not write in and restamps them
(`drop_written`); a folder it wrote in is compared entry by entry next time. Limit: stores and
compares digests; the walks decide what is clean. One checked frame beside the state database,
written whole; a file that is missing, damaged or of another state is no digests at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
from collections.abc import Iterable
from pathlib import Path
from stat import S_ISDIR

from msgspec import Struct, field

from pansync.names import parent_key
from pansync.synced_snapshot import Damaged, Stamp, read_frame, replacing, write_frame

__all__ = [
    "DigestRow",
    "Digests",
    "digest_listing",
    "digest_of",
    "drop_written",
    "fingerprint",
    "load",
    "save",
]

_TAG = "pansync-folder-digests/1"

DigestRow = tuple[str, int, int, int, int]
"""(name, mode, size, mtime_ns, identity) of one entry; 0 for a folder's size and mtime."""


class Digests(Struct):
    """The clean folders of each side by their keys (a remote folder's key is its cloud path, kept
    only where the two are one), and the count of entries in the synced table they go with."""

    count: int = 0
    local: dict[str, bytes] = field(default_factory=dict)
    remote: dict[str, bytes] = field(default_factory=dict)


def digest_listing(entries: Iterable[tuple[str, os.stat_result]]) -> bytes:
    """The digest of one folder's entries as a walk saw them: (name, lstat), in listing order."""
    return digest_of(
        [
            (name, st.st_mode, 0, 0, st.st_ino)
            if S_ISDIR(st.st_mode)
            else (name, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)
            for name, st in entries
        ]
    )


def digest_of(rows: list[DigestRow]) -> bytes:
    """The digest of one folder's rows, in listing order (the same listing gives the same order).

    `marshal` version 2 writes no back-references, so equal rows always give equal bytes."""
    return hashlib.blake2b(marshal.dumps(rows, 2), digest_size=16).digest()


def fingerprint(*parts: str) -> str:
    """A short digest of `parts` (`clean_folders.walk_shape` says which)."""
    return hashlib.blake2b("\0".join(parts).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def drop_written(folders: dict[str, bytes], written: Iterable[str]) -> None:
    """Forget the folders whose entries' records were written (and the written folders themselves:
    a folder renamed or deleted is not the one its digest saw)."""
    for key in written:
        folders.pop(key, None)
        folders.pop(parent_key(key), None)


def path_beside(database: Path) -> Path:
    return database.with_name(database.stem + ".digests")


def load(path: Path, stamp: Stamp, print_: str) -> Digests | None:
    """The digests stored at `path` if they go with the synced table at `stamp` and the walk's
    fingerprint `print_`; else None."""
    try:
        with open(path, "rb") as source:
            value = read_frame(source)
    except (OSError, Damaged):
        return None
    if (
        type(value) is not tuple
        or len(value) != 7
        or value[:4] != (_TAG, stamp[0], stamp[1], print_)
        or type(value[4]) is not int
        or type(value[5]) is not dict
        or type(value[6]) is not dict
    ):
        return None
    return Digests(value[4], value[5], value[6])


def save(path: Path, stamp: Stamp, print_: str, digests: Digests) -> None:
    """Store `digests` for the synced table at `stamp`; OSError when the file cannot be written."""
    with replacing(path) as out:
        write_frame(out, (_TAG, stamp[0], stamp[1], print_, digests.count, digests.local, digests.remote))


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
