"""The closed set of things a sync may do, as small frozen values.

The planner returns them and the executor (or a test's model of the two sides) applies them. Each
action carries the entries it was decided from, so the executor can check that nothing changed in
between and record the result without a second look at the trees. `phase` orders a plan: actions of a
lower phase run first, and actions within one phase may run in any order.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct

from pansync.model import LocalEntry, RemoteEntry

__all__ = [
    "PHASE_CREATE_DIRS",
    "PHASE_DELETE",
    "PHASE_MOVE",
    "PHASE_RECORD",
    "PHASE_TRANSFER",
    "Action",
    "Download",
    "Forget",
    "LocalMkdir",
    "LocalMove",
    "LocalRename",
    "LocalTrash",
    "Record",
    "RemoteMkdir",
    "RemoteMove",
    "RemoteRename",
    "RemoteTrash",
    "Upload",
    "describe",
]

PHASE_MOVE = 0
"""Moves, and versions renamed aside as conflict copies. They may nest (a folder is moved, then a
file inside it is set aside), so each gets a phase of its own, base + n, in the order decided;
all of them run before deletions could trash a moved item's old parent."""
PHASE_DELETE = 200_000
"""Deletions (to trash), before creations that need the same name (file <-> directory)."""
PHASE_CREATE_DIRS = 200_001
"""Directories, parents created with them, before the files that go inside."""
PHASE_TRANSFER = 200_002
"""Uploads and downloads: independent of each other, free to run in parallel."""
PHASE_RECORD = 200_003
"""Book-keeping only: no I/O on either side."""


class LocalRename(Struct, frozen=True):
    """Move our local version aside (`reason`: 'conflict' or 'case conflict'); it is uploaded next."""

    key: str
    new_key: str
    local: LocalEntry
    reason: Literal["conflict", "case conflict"]
    phase: int = PHASE_MOVE


class RemoteRename(Struct, frozen=True):
    """Move the cloud's version aside (a file that lost its name to a directory); downloaded next."""

    key: str
    new_key: str
    remote: RemoteEntry
    reason: Literal["conflict"]
    phase: int = PHASE_MOVE


class RemoteMove(Struct, frozen=True):
    """Replay a local rename in the cloud (same object, no re-upload)."""

    key: str
    new_key: str
    remote: RemoteEntry
    local: LocalEntry
    phase: int = PHASE_MOVE


class LocalMove(Struct, frozen=True):
    """Replay a cloud rename locally (same file, no re-download)."""

    key: str
    new_key: str
    local: LocalEntry
    remote: RemoteEntry
    phase: int = PHASE_MOVE


class RemoteTrash(Struct, frozen=True):
    """Move a cloud file or a whole directory to the cloud trash: a local deletion."""

    key: str
    remote: RemoteEntry
    files: int
    """Synced files this removes (a directory counts its whole subtree), for the mass-delete guard."""
    phase: int = PHASE_DELETE


class LocalTrash(Struct, frozen=True):
    """Delete a local file or directory recoverably: a cloud deletion."""

    key: str
    local: LocalEntry
    files: int
    committed: bool = False
    """True when the shared index records this deletion as another client's decision."""
    phase: int = PHASE_DELETE


class RemoteMkdir(Struct, frozen=True):
    key: str
    local: LocalEntry
    phase: int = PHASE_CREATE_DIRS


class LocalMkdir(Struct, frozen=True):
    key: str
    remote: RemoteEntry
    phase: int = PHASE_CREATE_DIRS


class Upload(Struct, frozen=True):
    """Send a local file; `replaces` is the cloud version it overwrites (kept in the trash)."""

    key: str
    local: LocalEntry
    replaces: RemoteEntry | None
    phase: int = PHASE_TRANSFER


class Download(Struct, frozen=True):
    """Fetch a cloud file; `replaces` is the local version it overwrites (equal to the synced one)."""

    key: str
    remote: RemoteEntry
    replaces: LocalEntry | None
    phase: int = PHASE_TRANSFER


class Record(Struct, frozen=True):
    """Both sides already agree: remember it as the new synced state."""

    key: str
    local: LocalEntry
    remote: RemoteEntry
    phase: int = PHASE_RECORD


class Forget(Struct, frozen=True):
    """Gone on both sides: drop the synced record."""

    key: str
    phase: int = PHASE_RECORD


Action = (
    LocalRename
    | RemoteRename
    | RemoteMove
    | LocalMove
    | RemoteTrash
    | LocalTrash
    | RemoteMkdir
    | LocalMkdir
    | Upload
    | Download
    | Record
    | Forget
)


def describe(action: Action) -> str:
    """One human line per action, as `pansync sync --dry-run` prints it."""
    match action:
        case LocalRename(key=key, new_key=new_key, reason=reason):
            return f"rename local  {key} -> {new_key} ({reason})"
        case RemoteRename(key=key, new_key=new_key, reason=reason):
            return f"rename cloud  {key} -> {new_key} ({reason})"
        case RemoteMove(key=key, new_key=new_key):
            return f"move cloud    {key} -> {new_key}"
        case LocalMove(key=key, new_key=new_key):
            return f"move local    {key} -> {new_key}"
        case RemoteTrash(key=key, remote=remote):
            slash = "/" if remote.kind.value == "dir" else ""
            return f"trash cloud   {key}{slash}"
        case LocalTrash(key=key, local=local):
            slash = "/" if local.kind.value == "dir" else ""
            return f"trash local   {key}{slash}"
        case RemoteMkdir(key=key):
            return f"mkdir cloud   {key}/"
        case LocalMkdir(key=key):
            return f"mkdir local   {key}/"
        case Upload(key=key, replaces=replaces):
            return f"upload        {key}" + (" (replace)" if replaces else "")
        case Download(key=key, replaces=replaces):
            return f"download      {key}" + (" (replace)" if replaces else "")
        case Record(key=key):
            return f"record        {key}"
        case Forget(key=key):
            return f"forget        {key}"
