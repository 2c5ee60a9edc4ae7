"""`poll`: notices that the remote changed, cheaply, without touching the lock (DESIGN.md §4).

Two checks, each on its own period:

- **cheap**, every `sync.poll_interval` (30 s): has another client committed to the shared index
  (`.pansync/.index.dat`: generation and writer, read by `index_store.peek_index`)? A generation
  written by this client is not a change: that sync, holding the lock, already saw every earlier
  one. Where the backend offers a change feed (Baidu's `changes_since`) that is asked instead of
  reading the index; for a `file://` remote, a signature of the top two levels of folders (names
  and mtimes) also catches edits made on the NAS itself, outside PanSync. Feeds and signatures see
  this client's own writes too, so the worker calls `note_synced` after each sync to move the
  baseline past them.
- **full**, every `sync.full_scan_interval` (10 min): list the remote completely and compare it with
  the synced tree (size, mtime and id of every file). This is echo-free by construction and catches
  anything the cheap check cannot see; extra checks (the local side's, from `watch`) run with it,
  on the same synced tree.

A change found is reported as a reason string; the agent puts a "remote changed" row into the
folder's queue and the worker's full sync does the rest. A path a sync leaves out on purpose (a name
the other side cannot hold, an item that keeps failing) stays a difference, so such a folder gets
one extra, idle sync per full check. Limit: looks only; never syncs, never takes
the lock, never writes. An edit made outside PanSync between a sync's end and `note_synced` is seen
by the next full check, not the cheap one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from pansync.errors import PanSyncError, UnsafePath
from pansync.ignore import IgnoreRules
from pansync.index_store import IndexState, peek_index
from pansync.log import get_logger
from pansync.model import Kind, SyncedEntry
from pansync.names import key_of, validate_rel_path
from pansync.remote.base import META_DIR, Remote

__all__ = ["ChangeFeed", "RemotePoller", "remote_drift"]

log = get_logger(__name__)

SyncedSource = Callable[[], Mapping[str, SyncedEntry]]
"""Loads the synced tree (the state database) when a full check needs it."""


@runtime_checkable
class ChangeFeed(Protocol):
    """A backend that can say whether anything changed below its root since a cursor."""

    def changes_since(self, cursor: str | None) -> tuple[bool | None, str | None]:
        """(changed, next cursor); changed is None when unknown (first call, feed reset)."""
        ...


def remote_drift(
    remote: Remote, synced: Mapping[str, SyncedEntry], ignore: IgnoreRules, excluded: Sequence[str] = ()
) -> str | None:
    """Why the remote listing differs from the synced tree, or None when it matches exactly.

    Compares what a sync would compare first (size, mtime, id), so a sync that just ran leaves no
    difference behind: this check never echoes this client's own writes.
    """
    seen: set[str] = set()
    for entry in remote.list_tree():
        try:
            key = validate_rel_path(key_of(remote.from_remote_name(entry.name)))
        except UnsafePath:
            continue  # the sync reports it; it is not a change
        if any(key == x or key.startswith(x + "/") for x in excluded):
            continue
        is_dir = entry.kind is Kind.DIR
        if ignore.matches(key, is_dir=is_dir):
            continue
        record = synced.get(key)
        if record is None:
            return f"new in the cloud: {key}"
        if record.kind is not entry.kind:
            return f"changed type in the cloud: {key}"
        if not is_dir and (
            record.size != entry.size
            or record.remote_mtime_ns != entry.mtime_ns
            or record.remote_id != entry.remote_id
        ):
            return f"changed in the cloud: {key}"
        seen.add(key)
    for key in synced:
        if key not in seen and not any(key == x or key.startswith(x + "/") for x in excluded):
            return f"gone from the cloud: {key}"
    return None


def _tree_signature(root: Path) -> str:
    """The mtimes of the root and of its direct sub-folders: one scandir each.

    A folder's mtime moves when a name in it is added, removed or renamed; a change deeper down, or
    an edit in place, touches no mtime here, and the full check covers those.
    """
    digest = hashlib.sha1(usedforsecurity=False)
    todo = [(root, 0)]
    while todo:
        folder, depth = todo.pop()
        try:
            digest.update(f"{folder}\0{folder.stat().st_mtime_ns}\0".encode("utf-8", "surrogateescape"))
            with os.scandir(folder) as entries:
                for entry in entries:
                    if depth < 1 and entry.name != META_DIR and entry.is_dir(follow_symlinks=False):
                        todo.append((Path(entry.path), depth + 1))
        except OSError:
            digest.update(f"{folder}\0gone\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


class RemotePoller:
    """The two checks of one folder's remote, on their periods; `poll` runs whichever is due.

    Times are monotonic seconds passed in by the caller. The first cheap check only takes a
    baseline: the agent's startup sync covers whatever happened before it.
    """

    def __init__(
        self,
        remote: Remote,
        *,
        client_id: str,
        poll_interval: float,
        full_scan_interval: float,
        synced: SyncedSource,
        ignore: Callable[[], IgnoreRules],
        excluded: Callable[[], Sequence[str]] = lambda: (),
        extra_full_checks: Sequence[Callable[[Mapping[str, SyncedEntry]], str | None]] = (),
        now: float = 0.0,
    ) -> None:
        self.remote = remote
        self.client_id = client_id
        self.poll_interval = poll_interval
        self.full_scan_interval = full_scan_interval
        self._synced = synced
        self._ignore = ignore
        self._excluded = excluded
        self._extra = tuple(extra_full_checks)
        self._next_cheap = now
        self._next_full = now + full_scan_interval
        self._index: IndexState | None = None
        self._cursor: str | None = None
        self._signature: str | None = None
        root = getattr(remote, "root", None)
        self._local_root = root if isinstance(root, Path) else None

    def next_due(self) -> float:
        """When `poll` next has something to do (monotonic seconds)."""
        return min(self._next_cheap, self._next_full)

    def poll(self, now: float) -> str | None:
        """Run the checks due at `now`; the reason the folder needs a sync, or None.

        Errors of the remote (unreachable, auth) are logged and count as "no news": the next
        sync, or the next check, meets them again.
        """
        reason: str | None = None
        try:
            if now >= self._next_full:
                self._next_full = now + self.full_scan_interval
                self._next_cheap = now + self.poll_interval
                self._cheap()  # keep the baselines current; the full check decides
                reason = self.full_check()
            elif now >= self._next_cheap:
                self._next_cheap = now + self.poll_interval
                reason = self._cheap()
        except (PanSyncError, OSError) as exc:
            log.warning("remote check failed", remote=self.remote.url, error=str(exc))
            return None
        if reason:
            log.info("remote changed", remote=self.remote.url, reason=reason)
        return reason

    def _cheap(self) -> str | None:
        """The cheap check: a change feed where there is one, else the index; plus a signature."""
        if isinstance(self.remote, ChangeFeed):
            changed, self._cursor = self.remote.changes_since(self._cursor)
            if changed:
                return "the cloud's change feed reports changes"
            if changed is not None:
                return None
        reason = self._index_check()
        if self._local_root is not None:
            signature = _tree_signature(self._local_root)
            if self._signature is not None and signature != self._signature:
                reason = reason or "folders in the remote changed"
            self._signature = signature
        return reason

    def _index_check(self) -> str | None:
        state = peek_index(self.remote)
        before, self._index = self._index, state
        if before is None or state == before:
            return None
        if state.writer_id == self.client_id and state.generation > 0:
            return None  # our own commit: that sync held the lock and saw every earlier one
        who = state.writer_id[:8] or "nobody"
        return f"shared index moved to generation {state.generation} (by client {who})"

    def full_check(self) -> str | None:
        """List the remote completely and compare it with the synced tree (and run extra checks)."""
        synced = self._synced()
        reason = remote_drift(self.remote, synced, self._ignore(), self._excluded())
        for check in self._extra:
            reason = check(synced) or reason
        return reason

    def note_synced(self) -> None:
        """A sync of this folder just ended: its own writes are not news for the feed or signature."""
        try:
            if isinstance(self.remote, ChangeFeed) and self._cursor is not None:
                _, self._cursor = self.remote.changes_since(self._cursor)
            if self._local_root is not None:
                self._signature = _tree_signature(self._local_root)
        except (PanSyncError, OSError) as exc:
            log.debug("baseline refresh failed", error=str(exc))
