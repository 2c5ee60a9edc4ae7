"""What a sync learns from the shared index, and the next index it commits.

The index (`.pansync/.index.dat`) is the synced state all clients agreed on. It tells a client
what a listing cannot: the true MD5 of each cloud file (Baidu's listed MD5 is not the content's for
sliced uploads) and which missing files another client deleted on purpose (tombstones), so those
deletions are followed rather than counted by the mass-delete guard. Pure functions: the session
does the reading and writing (through `index_store`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pansync.index import FORMAT_VERSION, IndexEntry, IndexHeader, SharedIndex
from pansync.index_table import RECORD_SIGNATURE, IndexTable
from pansync.model import RemoteEntry, SyncedEntry
from pansync.names import covered

__all__ = ["changed_entries", "committed_deletions", "delta_fits", "known_md5", "next_entries"]

TOMBSTONE_TTL_NS = 30 * 86400 * 10**9
"""How long a deletion is remembered: clients that sync less often than this re-count it."""

MAX_SEGMENTS = 16
"""An index file holds at most this many segments (a base and its deltas) before a commit writes
it whole again, which also drops expired tombstones and corrects anything a delta left behind."""

DELTA_SHARE = 8
DELTA_FLOOR = 256
"""The deltas of a file may hold together at most an eighth of its base's entries (or 256): past
that, decoding the deltas costs more than the whole rewrite they save."""


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
) -> IndexTable:
    """The entries of the next index after a batch: our synced tree (which the batch made equal to
    the cloud), old entries under `keep` (paths this client could not judge: frozen, excluded,
    failed) carried unchanged, and tombstones for what disappeared.

    A scoped batch (`scope`: the keys it synced) judged nothing outside them: there every old entry
    is carried unchanged, and `synced` need only hold the scope's records.

    The old index's columns are copied and patched: an entry whose record matches it keeps its
    row (and so its generation and writer), which for a re-sync is all but a few hundred."""
    table = IndexTable.of(old.entries).copy() if old is not None else IndexTable.empty()
    kept = set(keep)
    rows = table.rows
    gone = rows.keys() - synced.keys()
    if scope is not None:
        synced = {key: s for key, s in synced.items() if covered(key, scope)}
        gone = {key for key in gone if covered(key, scope)}

    keys = list(synced)
    records = list(synced.values())
    if not rows:  # a first commit or a rebuild: every record is a new row (no positions to list)
        table.append_records(keys, records, generation, client_id)
        return table
    new_keys: list[str] = []
    new_records: list[SyncedEntry] = []
    for i in table.differing(keys, records):
        key, s = keys[i], records[i]
        row = rows.get(key)
        if row is None:
            new_keys.append(key)
            new_records.append(s)
        elif not (kept and covered(key, kept)):
            table.set_row(
                row, s.kind, s.size, s.remote_mtime_ns, s.md5, s.remote_id, False, generation, client_id
            )

    expired = []
    for key in gone:
        row = rows[key]
        if kept and covered(key, kept):
            continue
        if table.deleted_at(row):
            if now_ns - table.mtime_at(row) >= TOMBSTONE_TTL_NS:
                expired.append(row)
        else:
            entry = table.entry_at(row)
            table.set_row(row, entry.kind, 0, now_ns, "", entry.remote_id, True, generation, client_id)
    table.append_records(new_keys, new_records, generation, client_id)
    table.drop_rows(expired)
    return table


def delta_fits(header: IndexHeader, changed: int) -> bool:
    """Whether `changed` more entries may be appended to the file `header` describes (one of
    this format: a version 1 file is rewritten whole, as version 2)."""
    if header.version != FORMAT_VERSION or header.segments + 1 > MAX_SEGMENTS:
        return False
    return header.delta_entries + changed <= max(header.entry_count // DELTA_SHARE, DELTA_FLOOR)


def changed_entries(
    changed: Iterable[str],
    before: Mapping[str, SyncedEntry | None],
    synced: Mapping[str, SyncedEntry],
    *,
    keep: Iterable[str],
    client_id: str,
    generation: int,
    now_ns: int,
) -> dict[str, IndexEntry]:
    """The delta of a commit: the entries of `changed` keys whose synced record this batch made,
    changed or removed (a tombstone), against `before` (their records when the sync began, None
    for a key that had none). Keys under `keep` are left as they are, as in `next_entries`.

    It equals what `next_entries` would change when the index the sync began from is this client's
    own last commit (or one it synced to): then the index holds `before` for every key the batch
    did not change. A key gone from the cloud behind every client's back keeps its entry until the
    next whole rewrite (`MAX_SEGMENTS`) tombstones it; nothing reads that entry as a file meanwhile,
    since a listing is what says what the cloud holds."""
    kept = set(keep)
    delta: dict[str, IndexEntry] = {}
    for key in sorted(changed):
        if kept and covered(key, kept):
            continue
        new, old = synced.get(key), before.get(key)
        if new is not None:
            if old is None or RECORD_SIGNATURE(new) != RECORD_SIGNATURE(old):
                delta[key] = IndexEntry(
                    key,
                    new.kind,
                    new.size,
                    new.remote_mtime_ns,
                    new.md5,
                    new.remote_id,
                    False,
                    generation,
                    client_id,
                )
        elif old is not None:
            delta[key] = IndexEntry(key, old.kind, 0, now_ns, "", old.remote_id, True, generation, client_id)
    return delta
