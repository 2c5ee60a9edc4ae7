"""What a sync learns from the shared index, and the next index it commits.

The index (`.pansync/.index.dat`) is the synced state all clients agreed on. It tells a client
what a listing cannot: the true MD5 of each cloud file (Baidu's listed MD5 is not the content's for
sliced uploads) and which missing files another client deleted on purpose (tombstones), so those
deletions are followed rather than counted by the mass-delete guard. Pure functions: the session
does the reading and writing (through `index_store`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pansync.index import IndexEntry, SharedIndex
from pansync.model import RemoteEntry, SyncedEntry
from pansync.names import covered

__all__ = ["committed_deletions", "known_md5", "next_entries"]

TOMBSTONE_TTL_NS = 30 * 86400 * 10**9
"""How long a deletion is remembered: clients that sync less often than this re-count it."""


def known_md5(index: SharedIndex | None, key: str, entry: RemoteEntry) -> str | None:
    """The true MD5 the index holds for this very cloud object (same id, size and mtime)."""
    if index is None:
        return None
    found = index.entries.get(key)
    if (
        found is None
        or found.deleted
        or found.remote_id != entry.remote_id
        or found.size != entry.size
        or found.mtime_ns != entry.mtime_ns
    ):
        return None
    return found.md5 or None


def committed_deletions(
    index: SharedIndex | None, synced: Mapping[str, SyncedEntry], remote: Mapping[str, RemoteEntry]
) -> frozenset[str]:
    """Synced keys gone from the cloud that the index records as deleted by a client's batch."""
    if index is None:
        return frozenset()
    return frozenset(
        key
        for key in synced
        if key not in remote and (found := index.entries.get(key)) is not None and found.deleted
    )


def next_entries(
    old: SharedIndex | None,
    synced: Mapping[str, SyncedEntry],
    *,
    keep: Iterable[str],
    client_id: str,
    generation: int,
    now_ns: int,
    scope: frozenset[str] | None = None,
) -> dict[str, IndexEntry]:
    """The entries of the next index after a batch: our synced tree (which the batch made equal to
    the cloud), old entries under `keep` (paths this client could not judge: frozen, excluded,
    failed) carried unchanged, and tombstones for what disappeared.

    A scoped batch (`scope`: the keys it synced) judged nothing outside them: there every old entry
    is carried unchanged, and `synced` need only hold the scope's records."""
    old_entries = old.entries if old is not None else {}
    kept = set(keep)
    if scope is None:
        return _next(old_entries, synced, kept, client_id, generation, now_ns)

    carried = {key: e for key, e in old_entries.items() if not covered(key, scope)}
    judged = _next(
        {key: e for key, e in old_entries.items() if key not in carried},
        {key: s for key, s in synced.items() if covered(key, scope)},
        kept,
        client_id,
        generation,
        now_ns,
    )
    return carried | judged


def _next(
    old_entries: Mapping[str, IndexEntry],
    synced: Mapping[str, SyncedEntry],
    keep: set[str],
    client_id: str,
    generation: int,
    now_ns: int,
) -> dict[str, IndexEntry]:
    entries: dict[str, IndexEntry] = {}
    for key, s in synced.items():
        if keep and covered(key, keep) and key in old_entries:
            entries[key] = old_entries[key]
            continue
        previous = old_entries.get(key)
        unchanged = (
            previous is not None
            and not previous.deleted
            and previous.md5 == s.md5
            and previous.remote_id == s.remote_id
            and previous.size == s.size
            and previous.mtime_ns == s.remote_mtime_ns
            and previous.kind is s.kind
        )
        if unchanged:
            assert previous is not None
            entries[key] = previous
        else:
            entries[key] = IndexEntry(
                key, s.kind, s.size, s.remote_mtime_ns, s.md5, s.remote_id, False, generation, client_id
            )
    for key, e in old_entries.items():
        if key in entries:
            continue
        if keep and covered(key, keep):
            entries[key] = e
        elif e.deleted:
            if now_ns - e.mtime_ns < TOMBSTONE_TTL_NS:
                entries[key] = e
        else:
            entries[key] = IndexEntry(key, e.kind, 0, now_ns, "", e.remote_id, True, generation, client_id)
    return entries
