"""Per-client, per-folder memory: the synced tree, conflicts, skipped items, exclusions, local trash.

One SQLite database (WAL) per folder under the state dir. Every executed action is committed on its
own, so a crash (kill -9, power loss) loses at most the action in flight, and the next sync's
three-way merge sees exactly what was done. Limit: stores and loads; decides nothing.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Collection, Iterable
from contextlib import AbstractContextManager
from pathlib import Path

from msgspec import Struct

from pansync import sqlite_tx, synced_snapshot
from pansync.gc_pause import gc_paused
from pansync.model import Kind, SyncedEntry
from pansync.names import ancestors_of
from pansync.synced_snapshot import Row, Stamp

__all__ = ["ConflictRecord", "SkippedItem", "StateStore", "TrashRecord"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS synced (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    local_name TEXT NOT NULL,
    local_mtime_ns INTEGER NOT NULL,
    local_inode INTEGER NOT NULL,
    remote_name TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    remote_mtime_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS conflicts (
    copy_key TEXT PRIMARY KEY, key TEXT NOT NULL, reason TEXT NOT NULL, detected_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS skipped (key TEXT PRIMARY KEY, reason TEXT NOT NULL, seen_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS exclusions (key TEXT PRIMARY KEY, pending INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS temps (side TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY (side, path));
CREATE TABLE IF NOT EXISTS local_trash (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, location TEXT NOT NULL, trashed_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS synced_writes (
    id INTEGER PRIMARY KEY CHECK (id = 0), db_id TEXT NOT NULL, writes INTEGER NOT NULL
);
INSERT OR IGNORE INTO synced_writes VALUES (0, lower(hex(randomblob(16))), 0);
CREATE TRIGGER IF NOT EXISTS synced_inserted AFTER INSERT ON synced
    BEGIN UPDATE synced_writes SET writes = writes + 1; END;
CREATE TRIGGER IF NOT EXISTS synced_updated AFTER UPDATE ON synced
    BEGIN UPDATE synced_writes SET writes = writes + 1; END;
CREATE TRIGGER IF NOT EXISTS synced_deleted AFTER DELETE ON synced
    BEGIN UPDATE synced_writes SET writes = writes + 1; END;
"""
"""`synced_writes` stamps the synced table for `synced_snapshot`: triggers count every row written,
whoever writes it, and the random id tells this database from one made again at the same path."""

_COLUMNS = (
    "key, kind, size, md5, local_name, local_mtime_ns, local_inode, remote_name, remote_id, remote_mtime_ns"
)


class ConflictRecord(Struct, frozen=True):
    key: str
    copy_key: str
    reason: str
    detected_ns: int


class SkippedItem(Struct, frozen=True):
    key: str
    reason: str
    seen_ns: int


class TrashRecord(Struct, frozen=True):
    id: int
    key: str
    location: str
    """Where the bytes went: a path in PanSync's own trash, or `os-trash:` for the system trash."""
    trashed_ns: int


_KINDS = {kind.value: kind for kind in Kind}

DELTA_SHARE = 8
"""A snapshot's delta may cover up to this fraction (1/n) of the tree; past it the copy is written whole."""


_SUBTREE = "(key = ? OR (key >= ? AND key < ?))"
"""`key` or anything below it, answered from the primary key's index ("a/" <= k < "a0" holds every
key below "a": "0" follows "/" in code points, so also in UTF-8 byte order)."""


def _subtree(key: str) -> tuple[str, str, str]:
    return key, key + "/", key + "0"


def _row(key: str, e: SyncedEntry) -> Row:
    return (
        key,
        e.kind.value,
        e.size,
        e.md5,
        e.local_name,
        e.local_mtime_ns,
        e.local_inode,
        e.remote_name,
        e.remote_id,
        e.remote_mtime_ns,
    )


class StateStore:
    """The state database of one folder."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=10000")
        db.executescript(_SCHEMA)
        self._open(path, db)

    @classmethod
    def reader(cls, path: Path) -> StateStore:
        """A read-only connection of its own to an existing database: what a forked child uses,
        which must never touch its parent's (SQLite's rule for connections across `fork`)."""
        store = cls.__new__(cls)
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None)
        db.execute("PRAGMA busy_timeout=10000")
        store._open(path, db)
        return store

    def _open(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self._db = db
        self.touched: set[str] = set()
        """Keys whose records, or whose subtrees' records, were written since the caller last
        emptied this: a sync patches its synced tree from them instead of reading 100,000 rows again."""
        self.loaded_version = -1
        """`PRAGMA data_version` when `load_synced` last read the table: another connection has
        committed since if it differs now (this connection's own writes never change it)."""
        self._snapshot = path.with_name(path.stem + ".synced")
        self._snapshot_stamp: Stamp | None = None
        """The stamp of the copy on disk (with its delta), where this store read or wrote it."""
        self._snapshot_base: Stamp | None = None
        """The stamp of the whole copy under that delta, while the tree `load_synced` last gave was
        read from that copy; None after a read of the table, which may hold writes the copy lacks:
        only a tree read from the copy may be saved as a delta of it."""
        self._snapshot_changed: frozenset[str] = frozenset()
        """The keys that delta covers."""

    def close(self) -> None:
        self._db.close()

    def _reading(self) -> AbstractContextManager[None]:
        return sqlite_tx.reading(self._db)

    def transaction(self) -> AbstractContextManager[None]:
        return sqlite_tx.writing(self._db)

    # -- the synced tree ----------------------------------------------------------------------------

    def load_synced(self) -> dict[str, SyncedEntry]:
        """The whole synced tree: from the snapshot file when it holds the table as it is now
        (`synced_snapshot`), else one query, rows turned into entries as they stream in.

        Column affinity makes every value the right type already. A side's name equal to the key
        (the usual case) shares the key's string, which keeps a 100,000-entry tree smaller."""
        entries: dict[str, SyncedEntry] = {}
        with self._reading():  # the stamp, the version and the rows: one state of the database
            stamp = self._stamp()
            self.loaded_version = self._data_version()
            opened = synced_snapshot.read_parts(self._snapshot, stamp)
            if opened is not None:
                try:
                    with gc_paused():
                        for removed, part in opened.parts:
                            for key in removed:
                                entries.pop(key, None)
                            self._add_rows(entries, part)
                    self._snapshot_stamp, self._snapshot_base = stamp, opened.base
                    self._snapshot_changed = opened.changed
                except (synced_snapshot.Damaged, ValueError, TypeError, KeyError, AttributeError):
                    entries = {}  # a damaged part or a malformed row: read the table
                    opened = None
            if opened is None:
                self._snapshot_base = None
                self._read_synced(entries, f"SELECT {_COLUMNS} FROM synced", ())
        return entries

    def save_snapshot(
        self, entries: dict[str, SyncedEntry], since: int, changed: Collection[str] | None = None
    ) -> bool:
        """Write `entries` as the snapshot of the table, if they are the table: the caller's tree as
        read by `load_synced` (whose `loaded_version` is `since`) and patched with every write this
        connection made since. Nothing is written when another connection has committed meanwhile,
        or when the copy on disk is already this state. Whether a copy was written.

        `changed`, the keys the caller's tree changed at since its load, makes the write a delta
        beside the copy it was loaded from, while all deltas since that copy stay small."""
        if self._data_version() != since:
            return False
        stamp = self._stamp()
        if stamp == self._snapshot_stamp:
            return False
        base = self._snapshot_base
        if changed is not None and base is not None:
            keys = self._snapshot_changed.union(changed)
            if len(keys) * DELTA_SHARE <= len(entries):
                synced_snapshot.save_delta(
                    self._snapshot,
                    base,
                    stamp,
                    [key for key in keys if key not in entries],
                    [_row(key, entries[key]) for key in keys if key in entries],
                )
                self._snapshot_stamp, self._snapshot_changed = stamp, keys
                return True
        synced_snapshot.save(
            self._snapshot, stamp, len(entries), (_row(key, e) for key, e in entries.items())
        )
        self._snapshot_stamp = self._snapshot_base = stamp
        self._snapshot_changed = frozenset()
        return True

    def synced_stamp(self) -> Stamp:
        """Which state of which database the synced table is in (see `synced_snapshot`)."""
        return self._stamp()

    def committed_elsewhere(self, since: int) -> bool:
        """Whether another connection has committed since `PRAGMA data_version` was `since`."""
        return self._data_version() != since

    def _stamp(self) -> Stamp:
        db_id, writes = self._db.execute("SELECT db_id, writes FROM synced_writes").fetchone()
        return str(db_id), int(writes)

    def _data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def load_synced_around(self, keys: Iterable[str]) -> dict[str, SyncedEntry]:
        """The synced records of `keys`, of everything below them and of their parent folders:
        what a sync scoped to `keys` compares against, read through the primary key's index."""
        entries: dict[str, SyncedEntry] = {}
        tops = set(keys)
        for key in tops:
            self._read_synced(entries, f"SELECT {_COLUMNS} FROM synced WHERE {_SUBTREE}", _subtree(key))
        for key in ancestors_of(tops) - tops:
            self._read_synced(entries, f"SELECT {_COLUMNS} FROM synced WHERE key = ?", (key,))
        return entries

    def _read_synced(self, entries: dict[str, SyncedEntry], query: str, args: tuple[str, ...]) -> None:
        with gc_paused():  # 100,000 entries would set off the collector a hundred times
            self._read_rows(entries, query, args)

    def _read_rows(self, entries: dict[str, SyncedEntry], query: str, args: tuple[str, ...]) -> None:
        self._add_rows(entries, self._db.execute(query, args))

    @staticmethod
    def _add_rows(entries: dict[str, SyncedEntry], rows: Iterable[Row]) -> None:
        kinds = _KINDS
        for key, kind, size, md5, lname, lmtime, linode, rname, rid, rmtime in rows:
            entries[key] = SyncedEntry(
                kinds[kind],
                size,
                md5,
                key if lname == key else lname,
                lmtime,
                linode,
                key if rname == key else rname,
                rid,
                lmtime if rmtime == lmtime else rmtime,  # one int object where the clocks agree
            )

    def synced_keys(self) -> set[str]:
        return {key for (key,) in self._db.execute("SELECT key FROM synced")}

    def synced_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM synced").fetchone()[0])

    def has_synced(self) -> bool:
        """Whether anything was ever synced: one row read, where a count reads the whole table
        (10 ms for 100,000 entries)."""
        return bool(self._db.execute("SELECT EXISTS (SELECT 1 FROM synced)").fetchone()[0])

    def synced_file_count(self) -> int:
        return int(
            self._db.execute("SELECT count(*) FROM synced WHERE kind = ?", (Kind.FILE.value,)).fetchone()[0]
        )

    def put(self, key: str, entry: SyncedEntry) -> None:
        self.put_many([(key, entry)])

    def put_many(self, records: Iterable[tuple[str, SyncedEntry]]) -> None:
        """Write records in one statement (`executemany`): the executor records a few hundred at once."""
        rows = [_row(key, e) for key, e in records]
        self.touched.update(row[0] for row in rows)
        self._db.executemany(f"INSERT OR REPLACE INTO synced ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def delete_tree(self, key: str) -> None:
        """Forget `key` and everything below it."""
        self._db.execute(f"DELETE FROM synced WHERE {_SUBTREE}", _subtree(key))
        self.touched.add(key)

    def rebase(self, old: str, new: str, local_name: str, remote_name: str) -> None:
        """Records of a moved item (and its subtree) follow it to its new key and names."""
        entries: dict[str, SyncedEntry] = {}
        self._read_synced(entries, f"SELECT {_COLUMNS} FROM synced WHERE {_SUBTREE}", _subtree(old))
        root = entries.get(old)
        with self.transaction():
            self.delete_tree(old)
            for key, entry in entries.items():
                tail = key[len(old) :]
                local_root = root.local_name if root else old
                remote_root = root.remote_name if root else old
                self.put(
                    new + tail,
                    SyncedEntry(
                        kind=entry.kind,
                        size=entry.size,
                        md5=entry.md5,
                        local_name=local_name + entry.local_name[len(local_root) :],
                        local_mtime_ns=entry.local_mtime_ns,
                        local_inode=entry.local_inode,
                        remote_name=remote_name + entry.remote_name[len(remote_root) :],
                        remote_id=entry.remote_id,
                        remote_mtime_ns=entry.remote_mtime_ns,
                    ),
                )

    # -- small key/value facts ----------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, value))

    def folder_id(self) -> str:
        """A random id for this folder pairing, written into the root marker."""
        value = self.get_meta("folder_id")
        if value is None:
            value = uuid.uuid4().hex
            self.set_meta("folder_id", value)
        return value

    # -- reports ------------------------------------------------------------------------------------

    def add_conflict(self, key: str, copy_key: str, reason: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO conflicts VALUES (?, ?, ?, ?)", (copy_key, key, reason, time.time_ns())
        )

    def conflicts(self) -> list[ConflictRecord]:
        rows = self._db.execute(
            "SELECT key, copy_key, reason, detected_ns FROM conflicts ORDER BY detected_ns, copy_key"
        ).fetchall()
        return [ConflictRecord(str(k), str(c), str(r), int(t)) for k, c, r, t in rows]

    def drop_conflicts_not_in(self, present: set[str]) -> None:
        """A conflict copy the user deleted or renamed is resolved."""
        for record in self.conflicts():
            if record.copy_key not in present:
                self._db.execute("DELETE FROM conflicts WHERE copy_key = ?", (record.copy_key,))

    def replace_skipped(self, items: list[tuple[str, str]]) -> None:
        now = time.time_ns()
        with self.transaction():
            self._db.execute("DELETE FROM skipped")
            self._db.executemany(
                "INSERT OR REPLACE INTO skipped VALUES (?, ?, ?)", [(k, r, now) for k, r in items]
            )

    def skipped(self) -> list[SkippedItem]:
        rows = self._db.execute("SELECT key, reason, seen_ns FROM skipped ORDER BY key").fetchall()
        return [SkippedItem(str(k), str(r), int(t)) for k, r, t in rows]

    # -- selective sync -----------------------------------------------------------------------------

    def exclusions(self) -> dict[str, bool]:
        """Excluded keys, each with `pending`: True until its local copy has been moved out."""
        rows = self._db.execute("SELECT key, pending FROM exclusions ORDER BY key").fetchall()
        return {str(k): bool(p) for k, p in rows}

    def set_exclusion(self, key: str, *, pending: bool) -> None:
        self._db.execute("INSERT OR REPLACE INTO exclusions VALUES (?, ?)", (key, int(pending)))

    def remove_exclusion(self, key: str) -> bool:
        return self._db.execute("DELETE FROM exclusions WHERE key = ?", (key,)).rowcount > 0

    # -- temp files of transfers in flight -----------------------------------------------------------

    def add_temp(self, side: str, path: str) -> None:
        """Remember a temp file before it is made, so a crash never leaves litter for good."""
        self._db.execute("INSERT OR REPLACE INTO temps VALUES (?, ?)", (side, path))

    def remove_temps(self, temps: Iterable[tuple[str, str]]) -> None:
        """Forget temp files, given as (side, path), in one statement."""
        self._db.executemany("DELETE FROM temps WHERE side = ? AND path = ?", temps)

    def temps(self) -> list[tuple[str, str]]:
        return [(str(a), str(b)) for a, b in self._db.execute("SELECT side, path FROM temps").fetchall()]

    # -- local trash --------------------------------------------------------------------------------

    def add_trash(self, key: str, location: str) -> None:
        self._db.execute(
            "INSERT INTO local_trash (key, location, trashed_ns) VALUES (?, ?, ?)",
            (key, location, time.time_ns()),
        )

    def trash_records(self) -> list[TrashRecord]:
        rows = self._db.execute(
            "SELECT id, key, location, trashed_ns FROM local_trash ORDER BY trashed_ns DESC"
        ).fetchall()
        return [TrashRecord(int(i), str(k), str(loc), int(t)) for i, k, loc, t in rows]

    def remove_trash_record(self, record_id: int) -> None:
        self._db.execute("DELETE FROM local_trash WHERE id = ?", (record_id,))
