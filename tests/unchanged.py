"""What the scans' `unchanged` keys must be, by definition: keys whose entry is the very one their
synced record describes (the planner's `quiet` hint). Shared by the planner's property test and the
scans' end-to-end test."""

from __future__ import annotations

from collections.abc import Mapping

from pansync.model import Kind, LocalEntry, RemoteEntry, SyncedEntry


def local_matches(entry: LocalEntry, record: SyncedEntry) -> bool:
    if record.kind is Kind.DIR:
        return entry.kind is Kind.DIR and (entry.name, entry.inode) == (record.local_name, record.local_inode)
    return entry == LocalEntry(
        record.local_name, Kind.FILE, record.size, record.local_mtime_ns, record.local_inode, record.md5
    )


def remote_matches(entry: RemoteEntry, record: SyncedEntry) -> bool:
    if record.kind is Kind.DIR:
        return entry.kind is Kind.DIR and (entry.name, entry.remote_id) == (
            record.remote_name,
            record.remote_id,
        )
    return entry == RemoteEntry(
        record.remote_name, Kind.FILE, record.size, record.remote_mtime_ns, record.remote_id, record.md5
    )


def unchanged_keys(
    tree: Mapping[str, LocalEntry] | Mapping[str, RemoteEntry], synced: Mapping[str, SyncedEntry]
) -> set[str]:
    found: set[str] = set()
    for key, entry in tree.items():
        record = synced.get(key)
        if record is None:
            continue
        if isinstance(entry, LocalEntry):
            if local_matches(entry, record):
                found.add(key)
        elif remote_matches(entry, record):
            found.add(key)
    return found
