"""Pass 3 of the planner: every key left is merged on its own (`sync-decisions.md` rows 1-9, 13, 15,
19), directory subtrees summarised so that a folder is deleted only when nothing new or changed
lives below it; then deletions inside a deleted folder fold into the folder's."""

from __future__ import annotations

from typing import Literal

from msgspec.structs import replace

from pansync.actions import (
    PHASE_MOVE,
    Download,
    Forget,
    LocalMkdir,
    LocalRename,
    LocalTrash,
    Record,
    RemoteMkdir,
    RemoteRename,
    RemoteTrash,
    Upload,
)
from pansync.model import Kind, LocalEntry, RemoteEntry, SyncedEntry
from pansync.names import ancestors, below_any
from pansync.plan.state import Conflict, PlannerState

__all__ = ["Merge"]

State = Literal["absent", "same", "changed"]


def _same_content(kind_a: Kind, md5_a: str, kind_b: Kind, md5_b: str) -> bool:
    return kind_a is kind_b and (kind_a is Kind.DIR or md5_a == md5_b)


def _local_state(entry: LocalEntry | None, synced: SyncedEntry | None) -> State:
    if entry is None:
        return "absent"
    if synced is None:
        return "changed"
    return "same" if _same_content(entry.kind, entry.md5, synced.kind, synced.md5) else "changed"


def _remote_state(entry: RemoteEntry | None, synced: SyncedEntry | None) -> State:
    if entry is None:
        return "absent"
    if synced is None:
        return "changed"
    return "same" if _same_content(entry.kind, entry.md5, synced.kind, synced.md5) else "changed"


def _fingerprints_match(local: LocalEntry, remote: RemoteEntry, synced: SyncedEntry) -> bool:
    """Whether the synced record still describes both entries (so no Record is needed).

    A folder's mtime changes whenever something inside it does; for folders only the names and
    identities count, or every change below a folder would rewrite its record too."""
    same_ids = (
        local.name == synced.local_name
        and local.inode == synced.local_inode
        and remote.name == synced.remote_name
        and remote.remote_id == synced.remote_id
    )
    if local.kind is Kind.DIR:
        return same_ids
    return (
        same_ids
        and local.size == synced.size
        and local.mtime_ns == synced.local_mtime_ns
        and remote.size == synced.size
        and remote.mtime_ns == synced.remote_mtime_ns
    )


def _quiet(local: LocalEntry, remote: RemoteEntry | None, synced: SyncedEntry | None) -> bool:
    """True when a key needs nothing: all three trees hold it with the same content and the synced
    record still matches both sides (`_merge_key`'s no-op), so nothing above it is dirty either."""
    if remote is None or synced is None:
        return False
    kind = local.kind
    if (
        remote.kind is not kind
        or synced.kind is not kind
        or local.name != synced.local_name
        or local.inode != synced.local_inode
        or remote.name != synced.remote_name
        or remote.remote_id != synced.remote_id
    ):
        return False
    if kind is Kind.DIR:
        return True
    return (
        local.md5 == remote.md5 == synced.md5
        and local.size == synced.size == remote.size
        and local.mtime_ns == synced.local_mtime_ns
        and remote.mtime_ns == synced.remote_mtime_ns
    )


class Merge(PlannerState):
    """Pass 3, and the folding of trash actions that finishes a plan."""

    def merge(self) -> None:
        local, remote, synced = self.local, self.remote, self.synced
        # Quiet keys yield no action and dirty no folder: leaving them out changes nothing else.
        # The caller's hint holds while no action before the merge has rebased a tree.
        known = self.options.quiet if not self.actions else frozenset()
        busy = [k for k in local.keys() - known if not _quiet(local[k], remote.get(k), synced.get(k))]
        busy.extend(remote.keys() - local.keys())
        busy.extend(synced.keys() - local.keys() - remote.keys())
        keys = sorted(busy)
        local_dirty, remote_dirty = self._dirty_dirs(keys)
        for key in keys:
            self._merge_key(key, key in local_dirty, key in remote_dirty)

    def _dirty_dirs(self, keys: list[str]) -> tuple[set[str], set[str]]:
        """Directories below which something is new or changed (or frozen) on each side."""
        local_dirty: set[str] = set()
        remote_dirty: set[str] = set()
        for key in keys:
            synced = self.synced.get(key)
            if _local_state(self.local.get(key), synced) == "changed":
                local_dirty.update(ancestors(key))
            if _remote_state(self.remote.get(key), synced) == "changed":
                remote_dirty.update(ancestors(key))
        for key in self.options.frozen:
            local_dirty.update(ancestors(key))
            remote_dirty.update(ancestors(key))
        return local_dirty, remote_dirty

    def _merge_key(self, key: str, local_dirty: bool, remote_dirty: bool) -> None:
        local = self.local.get(key)
        remote = self.remote.get(key)
        synced = self.synced.get(key)
        lstate = _local_state(local, synced)
        rstate = _remote_state(remote, synced)
        act = self.actions.append

        if local is None and remote is None:
            if synced is not None:
                act(Forget(key))  # row 4
            return
        if local is not None and remote is not None:
            if _same_content(local.kind, local.md5, remote.kind, remote.md5):
                if synced is None or not _fingerprints_match(local, remote, synced):
                    act(Record(key, local, remote))  # rows 5, 13, 19
                return
            if lstate == "same":
                self._push_remote_change(key, local, remote, local_dirty)  # rows 2, 8
                return
            if rstate == "same":
                self._push_local_change(key, local, remote, remote_dirty)  # rows 2, 8
                return
            self._conflict(key, local, remote)  # rows 6, 9
            return
        if local is not None:  # the cloud has nothing here
            if rstate == "absent" and lstate == "same":
                if local.kind is Kind.DIR and local_dirty:
                    act(RemoteMkdir(key, local))  # row 15: re-create around survivors
                else:
                    act(
                        LocalTrash(
                            key,
                            local,
                            self._files_under(key),  # row 3
                            committed=key in self.options.committed_deletions,
                        )
                    )
                return
            self._create_remote(key, local)  # rows 1, 7 (edit beats delete)
            return
        assert remote is not None
        if lstate == "absent" and rstate == "same" and synced is not None:
            if remote.kind is Kind.DIR and remote_dirty:
                act(LocalMkdir(key, remote))  # row 15
            else:
                act(RemoteTrash(key, remote, self._files_under(key)))  # row 3
            return
        self._create_local(key, remote)  # rows 1, 7

    def _create_remote(self, key: str, local: LocalEntry) -> None:
        if local.kind is Kind.DIR:
            self.actions.append(RemoteMkdir(key, local))
        else:
            self.actions.append(Upload(key, local, None))

    def _create_local(self, key: str, remote: RemoteEntry) -> None:
        if remote.kind is Kind.DIR:
            self.actions.append(LocalMkdir(key, remote))
        else:
            self.actions.append(Download(key, remote, None))

    def _push_remote_change(
        self, key: str, local: LocalEntry, remote: RemoteEntry, local_dirty: bool
    ) -> None:
        """Local side unchanged, cloud changed: bring the cloud version down."""
        if local.kind is Kind.FILE and remote.kind is Kind.FILE:
            self.actions.append(Download(key, remote, local))
            return
        if local.kind is Kind.DIR and local_dirty:  # row 9: the directory keeps the name
            self._remote_aside(key, remote)
            self.actions.append(RemoteMkdir(key, local))
            return
        self.actions.append(LocalTrash(key, local, self._files_under(key)))  # row 8
        self._create_local(key, remote)

    def _push_local_change(
        self, key: str, local: LocalEntry, remote: RemoteEntry, remote_dirty: bool
    ) -> None:
        """Cloud side unchanged, local changed: send the local version up."""
        if local.kind is Kind.FILE and remote.kind is Kind.FILE:
            self.actions.append(Upload(key, local, remote))
            return
        if remote.kind is Kind.DIR and remote_dirty:  # row 9: the directory keeps the name
            self._local_aside(key, local)
            self.actions.append(LocalMkdir(key, remote))
            return
        self.actions.append(RemoteTrash(key, remote, self._files_under(key)))  # row 8
        self._create_remote(key, local)

    def _conflict(self, key: str, local: LocalEntry, remote: RemoteEntry) -> None:
        """Rows 6 and 9: keep both. The cloud's version was committed first and keeps the name,
        except that a directory always keeps it over a file."""
        if local.kind is Kind.DIR:
            self._remote_aside(key, remote)
            self.actions.append(RemoteMkdir(key, local))
            return
        self._local_aside(key, local)
        self._create_local(key, remote)

    def _local_aside(self, key: str, local: LocalEntry) -> None:
        copy = self.conflict_key(key)
        self.actions.append(LocalRename(key, copy, local, "conflict", phase=self._next_phase(PHASE_MOVE)))
        self.actions.append(Upload(copy, replace(local, name=copy), None))
        self.conflicts.append(Conflict(key, copy, "changed on both sides"))

    def _remote_aside(self, key: str, remote: RemoteEntry) -> None:
        copy = self.conflict_key(key)
        moved = replace(remote, name=self.options.to_remote_name(copy))
        self.actions.append(RemoteRename(key, copy, remote, "conflict", phase=self._next_phase(PHASE_MOVE)))
        self.actions.append(Download(copy, moved, None))
        self.conflicts.append(Conflict(key, copy, "file replaced by a folder on the other side"))

    def _files_under(self, key: str) -> int:
        entry = self.synced.get(key)
        if entry is None or entry.kind is Kind.FILE:
            return 1
        if self.file_counts is None:  # the synced tree no longer changes once the merge runs
            counts: dict[str, int] = {}
            for k, e in self.synced.items():
                if e.kind is Kind.FILE:
                    for ancestor in ancestors(k):
                        counts[ancestor] = counts.get(ancestor, 0) + 1
            self.file_counts = counts
        return self.file_counts.get(key, 0)

    # -- finishing ----------------------------------------------------------------------------------

    def coalesce_trash(self) -> None:
        """One trash action for a whole deleted directory instead of one per file inside it."""
        remote_dirs = {
            a.key for a in self.actions if isinstance(a, RemoteTrash) and a.remote.kind is Kind.DIR
        }
        local_dirs = {a.key for a in self.actions if isinstance(a, LocalTrash) and a.local.kind is Kind.DIR}

        self.actions = [
            a
            for a in self.actions
            if not (isinstance(a, RemoteTrash) and below_any(a.key, remote_dirs))
            and not (isinstance(a, LocalTrash) and below_any(a.key, local_dirs))
        ]
