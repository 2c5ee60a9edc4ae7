"""`pansync status`: what each folder is doing, what it skipped, who holds its lock.

Limit: reads state and the remote's lock; never changes anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from rich.console import Console
from rich.table import Table

from pansync.errors import PanSyncError

__all__ = ["FolderStatus", "folder_status", "render_status"]


@dataclass
class FolderStatus:
    folder: str
    local: str
    remote: str
    synced_files: int = 0
    last_sync: str | None = None
    conflicts: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    lock_holder: str | None = None
    error: str | None = None


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).isoformat(timespec="seconds")


def folder_status(ctx: Any, folder: Any) -> FolderStatus:
    from pansync.lock import read_lock
    from pansync.remote.factory import open_remote
    from pansync.session import folder_state_path
    from pansync.state import StateStore

    report = FolderStatus(folder.name, str(folder.local), folder.remote.url)
    state = StateStore(folder_state_path(ctx.locs, folder.name))
    try:
        report.synced_files = state.synced_count()
        last = state.get_meta("last_sync_ns")
        report.last_sync = _iso(int(last)) if last else None
        report.conflicts = [
            {"path": c.key, "copy": c.copy_key, "reason": c.reason} for c in state.conflicts()
        ]
        report.skipped = [{"path": s.key, "reason": s.reason} for s in state.skipped()]
        report.excluded = list(state.exclusions())
    finally:
        state.close()
    try:
        remote = open_remote(folder.remote, ctx.config(), ctx.locs)
        info = read_lock(remote) if remote.exists() else None
        report.lock_holder = info.describe() if info else None
    except PanSyncError as exc:
        report.error = str(exc)
    return report


def render_status(
    console: Console, reports: list[FolderStatus], *, as_json: bool, agent: dict[str, Any] | None = None
) -> None:
    if as_json:
        data: dict[str, Any] = {"folders": [asdict(r) for r in reports]}
        if agent is not None:
            data["agent"] = agent
        console.print_json(json.dumps(data, ensure_ascii=False, default=str))
        return
    for r in reports:
        table = Table(title=f"{r.folder}: {r.local} <-> {r.remote}", show_header=False)
        table.add_row("synced files", str(r.synced_files))
        table.add_row("last sync", r.last_sync or "never")
        table.add_row("lock", r.lock_holder or "free")
        table.add_row("open conflicts", str(len(r.conflicts)))
        table.add_row("skipped items", str(len(r.skipped)))
        if r.excluded:
            table.add_row("excluded", ", ".join(r.excluded))
        if r.error:
            table.add_row("error", r.error)
        console.print(table)
        for item in r.skipped:
            console.print(f"  skipped: {item['path']}: {item['reason']}", markup=False)
        for item in r.conflicts:
            console.print(f"  conflict: {item['path']} (copy: {item['copy']})", markup=False)
