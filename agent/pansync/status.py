"""`pansync status`: what each folder is doing, what it skipped, who holds its lock.

Limit: reads state and the remote's lock; never changes anything.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from msgspec import Struct, field
from msgspec.structs import asdict

from pansync.errors import PanSyncError
from pansync.output import is_terminal, out, rich_console

__all__ = ["FolderStatus", "folder_status", "render_status"]


class FolderStatus(Struct):
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


def render_status(reports: list[FolderStatus], *, as_json: bool, agent: dict[str, Any] | None = None) -> None:
    """A table per folder on a terminal; in a pipe, plain `name: value` lines that no width wraps."""
    if as_json:
        data: dict[str, Any] = {"folders": [asdict(r) for r in reports]}
        if agent is not None:
            data["agent"] = agent
        if is_terminal():
            rich_console().print_json(json.dumps(data, ensure_ascii=False, default=str))
        else:
            out(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        return
    for r in reports:
        title = f"{r.folder}: {r.local} <-> {r.remote}"
        rows = [
            ("synced files", str(r.synced_files)),
            ("last sync", r.last_sync or "never"),
            ("lock", r.lock_holder or "free"),
            ("open conflicts", str(len(r.conflicts))),
            ("skipped items", str(len(r.skipped))),
        ]
        if r.excluded:
            rows.append(("excluded", ", ".join(r.excluded)))
        if r.error:
            rows.append(("error", r.error))
        if is_terminal():
            from rich.table import Table
            from rich.text import Text

            table = Table(title=Text(title), show_header=False)  # Text: brackets in a path are not markup
            for name, value in rows:
                table.add_row(name, Text(value))
            rich_console().print(table)
        else:
            out(title)
            for name, value in rows:
                out(f"  {name}: {value}")
        for item in r.skipped:
            out(f"  skipped: {item['path']}: {item['reason']}")
        for item in r.conflicts:
            out(f"  conflict: {item['path']} (copy: {item['copy']})")
