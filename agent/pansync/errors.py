"""The one error root of PanSync, and its two families.

Factored out so every room can raise without import loops; imports nothing heavy. Every error has a
`title` (what went wrong, in a few words) and a `message` (where, and what the user can do next); the
CLI prints them as one line: `title: message`.

- `ItemError` and its children concern one path: that item is skipped and reported, the rest of the
  sync goes on.
- Every other `PanSyncError` stops one folder's sync (or the command) and touches nothing.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "FolderError",
    "IndexCorrupt",
    "ItemError",
    "ListingError",
    "LockCorrupt",
    "LockHeld",
    "LockLost",
    "MassDeleteRefused",
    "NameNotSupported",
    "PanSyncError",
    "RemoteError",
    "RootMissing",
    "TransientRemoteError",
    "UnsafePath",
]


class PanSyncError(Exception):
    """Root of every error PanSync raises on purpose."""

    title = "PanSync error"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return f"{self.title}: {self.message}"


# -- errors that stop a folder or a command ---------------------------------------------------------


class ConfigError(PanSyncError):
    """The configuration file is unreadable or invalid; the message names the key and the line."""

    title = "Configuration error"


class FolderError(PanSyncError):
    """A folder cannot be synced now for a reason that is not one of the more specific ones."""

    title = "Folder error"


class RootMissing(FolderError):
    """A sync root looks unmounted, emptied or replaced: nothing is deleted anywhere."""

    title = "Sync root missing"


class ListingError(FolderError):
    """A side could not be listed completely; a partial listing is never taken as 'empty'."""

    title = "Listing failed"


class MassDeleteRefused(FolderError):
    """More deletions in one batch than `sync.max_delete` allows."""

    title = "Mass delete refused"


class LockHeld(FolderError):
    """Another client holds the folder's lock."""

    title = "Lock held"


class LockLost(FolderError):
    """This client's lease expired or was taken over; it must not commit."""

    title = "Lock lost"


class LockCorrupt(FolderError):
    """The lock file cannot be read; it is treated as held until it expires."""

    title = "Lock file unreadable"


class IndexCorrupt(FolderError):
    """The shared index cannot be decoded; it is rebuilt from a listing, nothing is deleted."""

    title = "Shared index unreadable"


class RemoteError(FolderError):
    """The remote refused an operation for a reason that retrying will not fix."""

    title = "Remote error"


class TransientRemoteError(RemoteError):
    """The remote failed in a way worth retrying (timeouts, 5xx, rate limits)."""

    title = "Remote temporarily unavailable"


class AuthError(RemoteError):
    """The remote refused our credentials; the user must authorize again."""

    title = "Authorization needed"


# -- errors about one item ----------------------------------------------------------------------------


class ItemError(PanSyncError):
    """One path could not be synced now; it is skipped and reported, the rest goes on."""

    title = "Item skipped"

    def __init__(self, rel_path: str, message: str, *, title: str | None = None) -> None:
        super().__init__(message, title=title)
        self.rel_path = rel_path

    def __str__(self) -> str:
        return f"{self.title}: {self.rel_path}: {self.message}"


class NameNotSupported(ItemError):
    """A name the remote can neither hold nor map (or the local disk cannot hold)."""

    title = "Name not supported"


class UnsafePath(ItemError):
    """A path from untrusted data would escape the sync root or is malformed."""

    title = "Unsafe path"
