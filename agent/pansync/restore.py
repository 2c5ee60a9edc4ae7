"""`pansync trash restore`: bring a trashed version back under its name (or beside it).

The cloud trash is searched first (what a local deletion or a replacement put aside), newest batch
first; then PanSync's own local trash. A restored item never overwrites anything: if the name is
taken again, it comes back as `name (restored YYYY-MM-DD HHMMSS).ext`. Limit: moves one item back;
the next sync carries it to the other side.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from pansync.errors import PanSyncError
from pansync.names import is_under, safe_local_path, split_ext
from pansync.trash import TRASH_DIR, list_cloud_trash

if TYPE_CHECKING:
    from pansync.session import FolderSync

__all__ = ["restore"]


def _beside(name: str, when: datetime) -> str:
    parent, _, base = name.rpartition("/")
    stem, ext = split_ext(base)
    new = f"{stem} (restored {when:%Y-%m-%d %H%M%S}){ext}"
    return f"{parent}/{new}" if parent else new


def restore(runner: FolderSync, key: str) -> str:
    remote = runner.remote
    remote_name = remote.to_remote_name(key)
    now = datetime.now(timezone.utc)
    batches = sorted(
        {i.batch for i in list_cloud_trash(remote) if is_under(i.path, remote_name)}, reverse=True
    )
    if batches:
        batch = batches[0]
        target = remote_name if remote.stat(remote_name) is None else _beside(remote_name, now)
        remote.move(f"{TRASH_DIR}/{batch}/{remote_name}", target)
        return (
            f"Restored {key} in the cloud as {remote.from_remote_name(target)} (from {batch}); "
            "the next sync brings it here."
        )
    for record in runner.state.trash_records():
        if record.key != key:
            continue
        if record.location.startswith("os-trash:"):
            return f"{key} went to the system trash; restore it from there (the next sync uploads it)."
        source = Path(record.location)
        if not source.exists():
            continue
        target_key = key if not (runner.root / key).exists() else _beside(key, now)
        destination = safe_local_path(runner.root, target_key)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(source, destination)
        except OSError:
            shutil.move(source, destination)
        runner.state.remove_trash_record(record.id)
        return f"Restored {key} locally as {target_key}; the next sync uploads it."
    raise PanSyncError(f"nothing named {key} in the cloud trash or the local trash", title="Not in trash")
