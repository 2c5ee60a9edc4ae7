"""The `Remote` protocol: the few primitives the engine needs from any cloud or mounted folder.

Paths given to a remote are *remote-relative* POSIX paths (`a/b.txt`, no leading slash) in the
remote's own spelling; the backend maps them to its storage and refuses what it cannot hold. The
engine composes safe operations from these primitives (upload beside + check + move over; copy the
replaced version to trash first), so each backend stays small and every backend gets the same
safety. Listing is all-or-nothing: a backend raises `ListingError` rather than return a partial tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from msgspec import Struct

from pansync.model import RemoteEntry

__all__ = [
    "INTERNAL_PREFIX",
    "META_DIR",
    "Progress",
    "Remote",
    "RemoteCaps",
    "UploadResult",
    "is_internal_name",
]

META_DIR = ".pansync"
"""The remote's metadata folder: lock, shared index, client registry, trash."""

INTERNAL_PREFIX = ".pansync"
"""Every name PanSync creates inside a root or remote starts with this, and every scanner ignores it."""

Progress = Callable[[int], None]
"""Called with the number of payload bytes moved since the last call."""


def is_internal_name(name: str) -> bool:
    """True for PanSync's own files (markers, temp files, the metadata folder)."""
    return name.startswith(INTERNAL_PREFIX)


class RemoteCaps(Struct, frozen=True):
    """What names and sizes a backend can hold; the planner and scanner consult it."""

    case_sensitive: bool
    """False for Baidu: `a.txt` and `A.txt` are one file there."""
    max_name_bytes: int
    """Longest single component, in UTF-8 bytes."""
    max_path_chars: int
    """Longest remote-relative path, in characters, after name mapping."""
    max_file_size: int | None
    """Largest file the account can hold, or None when unbounded."""
    trusted_md5: bool
    """True when listings carry the true content MD5 (so no download is needed to compare)."""


class UploadResult(Struct, frozen=True):
    """What an upload produced: the new remote entry and the MD5 of the bytes actually sent."""

    entry: RemoteEntry
    md5: str
    payload_bytes: int
    """Bytes sent over the wire (0 for a rapid upload of content the cloud already had)."""


@runtime_checkable
class Remote(Protocol):
    """A cloud folder or a mounted folder, as the sync engine sees it."""

    @property
    def url(self) -> str:
        """The configured address, e.g. `file:///mnt/nas/pansync` or `baidu:/apps/bypy/docs`."""
        ...

    @property
    def caps(self) -> RemoteCaps: ...

    def check_name(self, rel_path: str) -> str | None:
        """Return why the remote cannot hold `rel_path` (after mapping), or None if it can."""
        ...

    def to_remote_name(self, rel_path: str) -> str:
        """Map a local relative path to the remote's spelling (identity unless names are encoded)."""
        ...

    def from_remote_name(self, remote_path: str) -> str:
        """Inverse of `to_remote_name`."""
        ...

    def exists(self) -> bool:
        """True when the remote root is reachable and present (an unmounted NAS answers False)."""
        ...

    def ensure_root(self) -> None:
        """Create the remote root (for a first sync)."""
        ...

    def list_tree(self, under: str = "") -> Iterator[RemoteEntry]:
        """Every file and directory below `under`, recursively, metadata folder excluded.

        Raises `ListingError` on any failure: callers must never mistake a failed listing for an
        empty folder. The iterator may be consumed lazily but is only valid when fully consumed.
        """
        ...

    def stat(self, rel_path: str) -> RemoteEntry | None: ...

    def checksum(self, rel_path: str) -> str:
        """True content MD5 of a remote file (may read the whole file: call only where needed)."""
        ...

    def mkdir(self, rel_path: str) -> RemoteEntry:
        """Create a directory and its parents; succeed if it already exists as a directory."""
        ...

    def upload(self, local_path: Path, rel_path: str, progress: Progress | None = None) -> UploadResult:
        """Upload to `rel_path`, which must not exist (callers upload to a temp name beside).

        Returns the MD5 of the bytes sent, so the caller can verify that the file did not change
        during the upload before moving it over the real name.
        """
        ...

    def flush(self) -> None:
        """Make every upload that returned so far durable: a barrier the executor passes before it
        records them as synced. A backend whose uploads are durable when they return does nothing."""
        ...

    def download(self, rel_path: str, dest: Path, progress: Progress | None = None, offset: int = 0) -> None:
        """Write the file's bytes from `offset` on into `dest` (appending when offset > 0)."""
        ...

    def move(self, src: str, dst: str, *, overwrite: bool = False) -> RemoteEntry:
        """Rename `src` to `dst`, creating parents; `overwrite` replaces a file at `dst` atomically."""
        ...

    def copy(self, src: str, dst: str) -> RemoteEntry:
        """Server-side copy (a hard link where that is safe); `dst` must not exist."""
        ...

    def delete(self, rel_path: str) -> None:
        """Remove a file or a whole directory for good (only for temp files and expired trash)."""
        ...

    # -- small metadata files under `.pansync/` (lock, index, registry) -----------------------------
    # Their paths are relative to the metadata folder: `.config/lock.txt`, `.index.dat`, ...

    def read_meta(self, rel_path: str) -> tuple[bytes, int] | None:
        """Content and server mtime (ns) of a metadata file, or None when it does not exist."""
        ...

    def write_meta(self, rel_path: str, data: bytes) -> None:
        """Write a metadata file atomically (readers see the old or the new content, never a mix)."""
        ...

    def create_meta_exclusive(self, rel_path: str, data: bytes) -> bool:
        """Create a metadata file only if absent, atomically; False when it already existed."""
        ...

    def delete_meta(self, rel_path: str) -> None:
        """Remove a metadata file; no error when it is already gone."""
        ...

    def list_meta(self, rel_dir: str) -> list[str]:
        """Names in a metadata folder (empty when the folder does not exist)."""
        ...

    def server_time_ns(self) -> int:
        """The server's clock now: lock staleness is judged by it, never by the client's."""
        ...
