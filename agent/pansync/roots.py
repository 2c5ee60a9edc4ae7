"""The two roots a sync is about to touch must be the ones it paired (DESIGN §2, missing root).

An unmounted disk looks like an empty folder, and an empty folder synced against a full cloud looks
like a user who deleted everything. So each root carries a mark of the pairing: the local folder a
`.pansync.root` file naming the folder id of this client's state, the cloud folder its
`.pansync/.config/folder.json`. A first sync makes both (adopting a local root marked by a state
since lost); any later sync that finds either one missing or foreign stops before it lists
anything, and says what to do. Limit: checks and marks; it never deletes.
"""

from __future__ import annotations

import json
from pathlib import Path

from pansync.errors import RootMissing
from pansync.remote.base import Remote

__all__ = ["REMOTE_MARKER", "ROOT_MARKER", "check_roots", "mark_local_root"]

ROOT_MARKER = ".pansync.root"
"""In the local root: says which folder pairing this directory belongs to."""

REMOTE_MARKER = ".config/folder.json"
"""Under the remote's `.pansync/`: its presence says the remote was set up by PanSync."""


def check_roots(
    root: Path,
    remote: Remote,
    *,
    folder_id: str,
    folder_name: str,
    client_name: str,
    first_sync: bool,
    dry_run: bool,
) -> None:
    """Raise `RootMissing` unless both roots are this pairing's; on a first sync (not a dry run),
    create and mark them."""
    marker = root / ROOT_MARKER
    if root.exists() and not root.is_dir():
        raise RootMissing(
            f"{root} is a file, not a folder. Nothing was synced or deleted; move the file "
            "away, or point the folder's `local:` at a folder."
        )
    if first_sync:
        if dry_run:
            return
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RootMissing(f"cannot create the sync root {root}: {exc.strerror}") from exc
        if _marked_id(marker) != folder_id:  # a marker of a lost state: this pairing adopts the root
            mark_local_root(root, folder_id, folder_name, remote.url)
    else:
        if not root.is_dir():
            raise RootMissing(
                f"{root} is missing (an unmounted disk?). Nothing was deleted; mount it, "
                "or run `pansync init` to set the folder up again."
            )
        if _marked_id(marker) != folder_id:
            raise RootMissing(
                f"{root} lacks its PanSync marker ({ROOT_MARKER}): it may be an empty mount "
                f"point or another folder. Nothing was deleted. If it is the right folder, run "
                f"`pansync init --folder {folder_name} --remark`."
            )
    if not remote.exists():
        if not first_sync:
            raise RootMissing(
                f"the remote {remote.url} is not reachable or is gone (unmounted?). Nothing was deleted."
            )
        if not dry_run:
            remote.ensure_root()
    if remote.read_meta(REMOTE_MARKER) is None:
        if not first_sync:
            raise RootMissing(
                f"the remote {remote.url} has lost its .pansync/ folder since the last "
                "sync (a different account or a wiped folder?). Nothing was deleted."
            )
        if not dry_run:
            info = {"created_by": client_name, "created_ns": remote.server_time_ns()}
            remote.create_meta_exclusive(REMOTE_MARKER, json.dumps(info).encode())


def mark_local_root(root: Path, folder_id: str, folder_name: str, remote_url: str) -> None:
    """Write the local root's marker (a first sync, or `pansync init --remark` after the user
    confirmed the folder is the right one)."""
    data = {"folder_id": folder_id, "folder": folder_name, "remote": remote_url}
    (root / ROOT_MARKER).write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")


def _marked_id(marker: Path) -> str | None:
    """The folder id a root marker names; None when it is missing or unreadable."""
    try:
        found = json.loads(marker.read_text(encoding="utf-8")).get("folder_id")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None
