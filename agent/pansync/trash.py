"""Where deleted and replaced versions go, so that "nothing lost" is literal.

- Cloud trash: `.pansync/trash/<UTC YYYYMMDD-HHMMSS>-<client>-<batch id>/<path>`, one folder per
  batch; nothing in it is ever overwritten; purged after `trash.retention`.
- Local trash: the system trash (send2trash) where there is one, else PanSync's own trash under the
  state dir (never a visible folder in the sync root).

Limit: moves bytes aside and back; decides nothing about what to delete.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

from msgspec import Struct

from pansync.log import get_logger
from pansync.model import Kind
from pansync.remote.base import META_DIR, Remote

__all__ = [
    "TRASH_DIR",
    "CloudTrashItem",
    "LocalTrash",
    "list_cloud_trash",
    "new_batch_name",
    "purge_cloud_trash",
    "trash_path",
]

log = get_logger("pansync.trash")

TRASH_DIR = f"{META_DIR}/trash"
_BATCH_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-")


def new_batch_name(client_name: str, now: datetime) -> str:
    """`20261126-153000-alice-1a2b3c4d`: sorts by time, names who did it, never collides."""
    who = re.sub(r"[^\w.-]+", "_", client_name)[:40] or "client"
    return f"{now.astimezone(timezone.utc):%Y%m%d-%H%M%S}-{who}-{uuid.uuid4().hex[:8]}"


def trash_path(batch: str, remote_name: str) -> str:
    return f"{TRASH_DIR}/{batch}/{remote_name}"


def batch_time(batch: str) -> datetime | None:
    """When a trash batch was made, from its name; None for a name that is not a batch's (the
    cloud's folder may hold anything: `20261399-...` is not a date, and is left alone)."""
    match = _BATCH_RE.match(batch)
    if match is None:
        return None
    year, month, day, hour, minute, second = map(int, match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        return None


class CloudTrashItem(Struct, frozen=True):
    batch: str
    path: str
    """The item's path in the folder before it was trashed (remote spelling)."""
    kind: Kind
    size: int

    @property
    def trashed_at(self) -> datetime | None:
        return batch_time(self.batch)


def list_cloud_trash(remote: Remote) -> list[CloudTrashItem]:
    """Every file in the cloud trash, newest batch first."""
    items: list[CloudTrashItem] = []
    for batch in sorted(remote.list_meta("trash"), reverse=True):
        for entry in remote.list_tree(f"{TRASH_DIR}/{batch}"):
            if entry.kind is Kind.FILE:
                path = entry.name[len(f"{TRASH_DIR}/{batch}/") :]
                items.append(CloudTrashItem(batch, path, entry.kind, entry.size))
    return items


def purge_cloud_trash(remote: Remote, retention_s: float, now: datetime) -> list[str]:
    """Delete trash batches older than the retention; returns the batches removed."""
    removed = []
    for batch in remote.list_meta("trash"):
        when = batch_time(batch)
        if when is not None and (now - when).total_seconds() > retention_s:
            remote.delete(f"{TRASH_DIR}/{batch}")
            removed.append(batch)
    return removed


class LocalTrash:
    """Recoverable local deletion: the system trash first, PanSync's own trash folder otherwise."""

    def __init__(self, own_dir: Path, *, use_system_trash: bool = True) -> None:
        self.own_dir = own_dir
        self.use_system_trash = use_system_trash

    def discard(self, path: Path, key: str, batch: str) -> str:
        """Move `path` to a trash; returns where it went (`os-trash:` or a path)."""
        if self.use_system_trash:
            from send2trash import send2trash

            try:
                send2trash(path)
                return "os-trash:"
            except Exception as exc:  # send2trash raises several types when there is no trash
                log.info("system trash unavailable; using PanSync's own", path=str(path), error=str(exc))
        dest = self.own_dir / batch / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(path, dest)
        except OSError:
            shutil.move(path, dest)  # another file system: copy, then remove
        return str(dest)

    def purge(self, retention_s: float, now: datetime) -> None:
        if not self.own_dir.is_dir():
            return
        for batch in os.listdir(self.own_dir):
            when = batch_time(batch)
            if when is not None and (now - when).total_seconds() > retention_s:
                shutil.rmtree(self.own_dir / batch, ignore_errors=True)
