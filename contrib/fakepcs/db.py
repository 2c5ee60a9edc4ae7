"""SQLite sidecar holding what the filesystem can't: fs_id, server times, hashes.

It lives at ``<root>/.fakepcs/meta.sqlite3``. Cloud paths always start with
``/apps/``, so nothing the API writes can collide with ``/.fakepcs``. All access
goes through one connection guarded by the store's lock.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from . import paths

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries(
  fs_id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, parent_key TEXT NOT NULL,
  path TEXT NOT NULL, isdir INTEGER NOT NULL, size INTEGER NOT NULL DEFAULT 0,
  md5 TEXT NOT NULL DEFAULT '', listed_md5 TEXT NOT NULL DEFAULT '',
  block_list TEXT NOT NULL DEFAULT '[]', slice_md5 TEXT NOT NULL DEFAULT '',
  crc32 INTEGER NOT NULL DEFAULT 0, ctime INTEGER NOT NULL, mtime INTEGER NOT NULL,
  disk_mtime_ns INTEGER NOT NULL DEFAULT 0, disk_size INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS entries_parent ON entries(parent_key);
CREATE INDEX IF NOT EXISTS entries_content ON entries(md5, size);
CREATE TABLE IF NOT EXISTS recycle(
  fs_id INTEGER PRIMARY KEY, path TEXT NOT NULL, deleted_at REAL NOT NULL,
  top TEXT NOT NULL, tree TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, key TEXT NOT NULL,
  path TEXT NOT NULL, isdelete INTEGER NOT NULL, meta TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks(md5 TEXT PRIMARY KEY, size INTEGER NOT NULL,
  created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS known(md5 TEXT PRIMARY KEY, size INTEGER NOT NULL,
  slice_md5 TEXT NOT NULL, crc32 INTEGER NOT NULL, block_list TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv(k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""

COLUMNS = (
    "fs_id",
    "key",
    "parent_key",
    "path",
    "isdir",
    "size",
    "md5",
    "listed_md5",
    "block_list",
    "slice_md5",
    "crc32",
    "ctime",
    "mtime",
    "disk_mtime_ns",
    "disk_size",
)
FIRST_FS_ID = 100_000_000_001


@dataclass
class Entry:
    """One file or directory as the service knows it."""

    fs_id: int
    path: str
    isdir: bool
    ctime: int
    mtime: int
    size: int = 0
    md5: str = ""  # true content MD5 (hex); never shown to clients as such
    listed_md5: str = ""  # what the "md5" field shows (enc-md5 or superfile value)
    block_list: list[str] = field(default_factory=list)
    slice_md5: str = ""
    crc32: int = 0
    disk_mtime_ns: int = 0
    disk_size: int = 0

    @property
    def key(self) -> str:
        """Case-insensitive identity."""
        return paths.key_of(self.path)

    def public(self, *, with_name: bool = True) -> dict[str, Any]:
        """The entry as list/meta/search replies show it (§1.5)."""
        out: dict[str, Any] = {"fs_id": self.fs_id, "path": self.path}
        if with_name:
            out["server_filename"] = paths.name_of(self.path)
        out.update(
            ctime=self.ctime, mtime=self.mtime, isdir=int(self.isdir), size=self.size if not self.isdir else 0
        )
        if not self.isdir:
            out["md5"] = self.listed_md5
            out["block_list"] = list(self.block_list)
        return out

    def diff_meta(self, isdelete: int) -> dict[str, Any]:
        """The entry as a diff feed value ([pcs-doc] example fields)."""
        return {
            "fs_id": self.fs_id,
            "path": self.path,
            "size": 0 if self.isdir else self.size,
            "isdir": int(self.isdir),
            "md5": "" if self.isdir else self.listed_md5,
            "mtime": self.mtime,
            "ctime": self.ctime,
            "isdelete": isdelete,
        }

    def to_json(self) -> dict[str, Any]:
        """Lossless dict form (for the recycle bin)."""
        return {c: getattr(self, c) for c in COLUMNS if c not in ("key", "parent_key")}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Entry:
        """Inverse of :meth:`to_json`."""
        return cls(**{k: v for k, v in d.items() if k in COLUMNS})


def row_to_entry(row: sqlite3.Row) -> Entry:
    """Decode an ``entries`` row."""
    return Entry(
        fs_id=row["fs_id"],
        path=row["path"],
        isdir=bool(row["isdir"]),
        ctime=row["ctime"],
        mtime=row["mtime"],
        size=row["size"],
        md5=row["md5"],
        listed_md5=row["listed_md5"],
        block_list=json.loads(row["block_list"]),
        slice_md5=row["slice_md5"],
        crc32=row["crc32"],
        disk_mtime_ns=row["disk_mtime_ns"],
        disk_size=row["disk_size"],
    )


class MetaDB:
    """Thin typed wrapper over the sidecar database (caller holds the lock)."""

    def __init__(self, filename: str) -> None:
        self.conn = sqlite3.connect(filename, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def begin(self) -> None:
        """Start a write transaction."""
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        """Commit the open transaction."""
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        """Abandon the open transaction, if any."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    # --- kv -------------------------------------------------------------
    def next_fs_id(self) -> int:
        """Allocate a new fs_id (monotonic, persisted)."""
        row = self.conn.execute("SELECT v FROM kv WHERE k='next_fs_id'").fetchone()
        value = int(row["v"]) if row else FIRST_FS_ID
        self.conn.execute("INSERT OR REPLACE INTO kv(k, v) VALUES('next_fs_id', ?)", (str(value + 1),))
        return value

    # --- entries --------------------------------------------------------
    def get(self, key: str) -> Entry | None:
        """Entry by case-insensitive key."""
        row = self.conn.execute("SELECT * FROM entries WHERE key=?", (key,)).fetchone()
        return row_to_entry(row) if row else None

    def get_by_id(self, fs_id: int) -> Entry | None:
        """Entry by fs_id."""
        row = self.conn.execute("SELECT * FROM entries WHERE fs_id=?", (fs_id,)).fetchone()
        return row_to_entry(row) if row else None

    def children(self, key: str) -> list[Entry]:
        """Direct children of a directory key."""
        rows = self.conn.execute("SELECT * FROM entries WHERE parent_key=?", (key,))
        return [row_to_entry(r) for r in rows]

    def subtree(self, key: str) -> list[Entry]:
        """The entry with this key and everything below it, parents first."""
        lo, hi = key.rstrip("/") + "/", key.rstrip("/") + "0"  # '0' follows '/'
        rows = self.conn.execute(
            "SELECT * FROM entries WHERE key=? OR (key>=? AND key<?) ORDER BY key", (key, lo, hi)
        )
        return [row_to_entry(r) for r in rows]

    def all(self) -> list[Entry]:
        """Every entry, ordered by key."""
        return [row_to_entry(r) for r in self.conn.execute("SELECT * FROM entries ORDER BY key")]

    def has_subdir(self, key: str) -> bool:
        """True if a directory has a directory child."""
        row = self.conn.execute(
            "SELECT 1 FROM entries WHERE parent_key=? AND isdir=1 LIMIT 1", (key,)
        ).fetchone()
        return row is not None

    def put(self, e: Entry) -> None:
        """Insert or replace an entry (by fs_id; key must be free or its own)."""
        self.conn.execute("DELETE FROM entries WHERE key=? AND fs_id<>?", (e.key, e.fs_id))
        self.conn.execute(
            "INSERT OR REPLACE INTO entries("
            + ",".join(COLUMNS)
            + ") VALUES("
            + ",".join("?" * len(COLUMNS))
            + ")",
            (
                e.fs_id,
                e.key,
                paths.key_of(paths.parent_of(e.path)),
                e.path,
                int(e.isdir),
                e.size,
                e.md5,
                e.listed_md5,
                json.dumps(e.block_list),
                e.slice_md5,
                e.crc32,
                e.ctime,
                e.mtime,
                e.disk_mtime_ns,
                e.disk_size,
            ),
        )

    def delete(self, fs_id: int) -> None:
        """Remove one entry row."""
        self.conn.execute("DELETE FROM entries WHERE fs_id=?", (fs_id,))

    def used(self) -> int:
        """Bytes used by live files."""
        row = self.conn.execute("SELECT COALESCE(SUM(size), 0) AS s FROM entries WHERE isdir=0")
        return int(row.fetchone()["s"])

    def find_content(self, md5: str, size: int) -> Entry | None:
        """A live file with this content, for rapidupload."""
        row = self.conn.execute(
            "SELECT * FROM entries WHERE md5=? AND size=? AND isdir=0 LIMIT 1", (md5, size)
        ).fetchone()
        return row_to_entry(row) if row else None

    # --- change log -----------------------------------------------------
    def log_change(self, ts: float, e: Entry, isdelete: int) -> None:
        """Append one change for the diff feed."""
        self.conn.execute(
            "INSERT INTO changes(ts, key, path, isdelete, meta) VALUES(?,?,?,?,?)",
            (ts, e.key, e.path, isdelete, json.dumps(e.diff_meta(isdelete))),
        )

    def max_seq(self) -> int:
        """Sequence number of the newest change (0 if none)."""
        row = self.conn.execute("SELECT COALESCE(MAX(seq), 0) AS m FROM changes").fetchone()
        return int(row["m"])

    def changes_after(self, seq: int, max_ts: float, limit: int) -> list[sqlite3.Row]:
        """Changes newer than ``seq`` and not newer than ``max_ts``."""
        return list(
            self.conn.execute(
                "SELECT * FROM changes WHERE seq>? AND ts<=? ORDER BY seq LIMIT ?", (seq, max_ts, limit)
            )
        )
