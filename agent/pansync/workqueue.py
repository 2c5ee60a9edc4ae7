"""`workqueue`: the persistent queue of work for one folder, in its own SQLite file (WAL).

Rows are coalesced by (source, key): a path changed a hundred times is one row. Every `put` stamps
the row with a new sequence number; a batch remembers the highest number it covered, and only rows
at or below it are settled when the batch ends, so a change that arrives during a batch is never
lost. A full sync of a folder scans both of its sides completely (`session.FolderSync`), so one
successful full batch settles every row it covered, whether or not the row was due yet; a batch of
a few local paths alone (`Batch.scope`) settles only those.

A path that fails is retried with exponential backoff (`BACKOFF_BASE_S` doubling up to
`BACKOFF_CAP_S`); after `MAX_ATTEMPTS` it is kept as a permanent failure for `pansync status`
and no longer retried on its own, until the path changes again or a later sync succeeds on it.
Failures never hold up other paths: every batch syncs the whole folder.

The queue survives kill -9: rows are committed as they are put and removed only after their batch
ends, so a restarted agent finds them and resumes. Limit: stores and orders work; it neither syncs
nor decides what a change means. Times are wall-clock seconds (they must survive a restart), passed
in by the caller.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from msgspec import Struct

from pansync import sqlite_tx

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_CAP_S",
    "MAX_ATTEMPTS",
    "SOURCE_LOCAL",
    "SOURCE_REMOTE",
    "SOURCE_SCAN",
    "Batch",
    "QueueItem",
    "WorkQueue",
    "backoff_s",
    "queue_path",
]

SOURCE_LOCAL = "local"
"""A local path changed (its key is the path)."""
SOURCE_REMOTE = "remote"
"""The remote changed somewhere (key ""), or at a known path."""
SOURCE_SCAN = "scan"
"""A full sync was asked for: the startup scan, `sync-now`, a full-scan finding (key: why)."""

BACKOFF_BASE_S = 5.0
BACKOFF_CAP_S = 3600.0
MAX_ATTEMPTS = 10
"""Failures in a row before a path is a permanent failure (about 1.5 h of retries)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    queued_at REAL NOT NULL,
    next_try REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS queue_due ON queue (failed, next_try);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


def queue_path(state_dir: Path, folder: str) -> Path:
    """Where a folder's queue lives: beside its state database, in a file of its own."""
    return state_dir / "folders" / folder / "queue.sqlite3"


def backoff_s(attempts: int) -> float:
    """Seconds to wait before try number `attempts + 1`: 5 s, 10 s, 20 s, ... up to an hour."""
    return float(min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1)))


class QueueItem(Struct, frozen=True):
    source: str
    key: str
    seq: int
    queued_at: float
    next_try: float
    attempts: int
    failed: bool
    last_error: str | None


class Batch(Struct, frozen=True):
    """What one sync covers: every row up to `high_seq`. `due` counts the rows that were due."""

    high_seq: int
    due: int
    sample: tuple[str, ...]
    """A few keys, for the log line that announces the batch."""
    oldest: float | None
    """When the oldest covered row was queued: the batch's latency, for logs and the bench."""
    scope: tuple[str, ...] | None = None
    """The local keys this batch is about, when it is only about them (every due row a local path,
    at most `scope_max` of them): the sync may then look at those paths alone. None: a full sync."""


_COLUMNS = "source, key, seq, queued_at, next_try, attempts, failed, last_error"


def _item(row: tuple[object, ...]) -> QueueItem:
    source, key, seq, queued_at, next_try, attempts, failed, error = row
    return QueueItem(
        str(source),
        str(key),
        int(seq),  # type: ignore[call-overload]
        float(queued_at),  # type: ignore[arg-type]
        float(next_try),  # type: ignore[arg-type]
        int(attempts),  # type: ignore[call-overload]
        bool(failed),
        None if error is None else str(error),
    )


class WorkQueue:
    """The queue of one folder. Thread-safe: the watcher, the poller and the worker share it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process crash
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT max(seq) FROM queue").fetchone()
        self._seq = int(row[0] or 0)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- adding work --------------------------------------------------------------------------------

    def put(self, keys: Iterable[str], source: str, now: float) -> int:
        """Queue `keys` (due at once); a key already queued is coalesced, its backoff forgotten.

        A change to a failing path is a new reason to try it, so attempts start over. Returns the
        number of keys put.
        """
        with self._lock:
            rows = []
            for key in keys:
                self._seq += 1
                rows.append((source, key, self._seq, now, now))
            if not rows:
                return 0
            with sqlite_tx.writing(self._db):
                self._db.executemany(
                    "INSERT INTO queue (source, key, seq, queued_at, next_try) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (source, key) DO UPDATE SET seq = excluded.seq, "
                    "next_try = excluded.next_try, attempts = 0, failed = 0, "
                    "queued_at = CASE WHEN failed THEN excluded.queued_at ELSE queued_at END",
                    rows,
                )
            return len(rows)

    # -- taking and settling ------------------------------------------------------------------------

    def take(self, now: float, sample: int = 5, scope_max: int = 0) -> Batch | None:
        """The batch for a sync starting at `now`, or None when nothing is due.

        With `scope_max`, a batch of at most that many due local paths (and nothing else due)
        carries them as its `scope`. Rows stay in the queue until `complete`: a crash mid-batch
        leaves them for the next start.
        """
        with self._lock:
            due = int(
                self._db.execute(
                    "SELECT count(*) FROM queue WHERE failed = 0 AND next_try <= ?", (now,)
                ).fetchone()[0]
            )
            if due == 0:
                return None
            keys = self._db.execute(
                "SELECT key FROM queue WHERE failed = 0 AND next_try <= ? ORDER BY seq LIMIT ?", (now, sample)
            ).fetchall()
            oldest = self._db.execute("SELECT min(queued_at) FROM queue WHERE failed = 0").fetchone()[0]
            scope = None
            if 0 < due <= scope_max:
                rows = self._db.execute(
                    "SELECT source, key FROM queue WHERE failed = 0 AND next_try <= ?", (now,)
                ).fetchall()
                if all(source == SOURCE_LOCAL for source, _ in rows):
                    scope = tuple(sorted(str(key) for _, key in rows))
            return Batch(self._seq, due, tuple(str(k) for (k,) in keys), oldest, scope)

    def covering_all(self) -> Batch:
        """A batch covering every row, due or not: for a sync run for another reason (a schedule)."""
        with self._lock:
            count = int(self._db.execute("SELECT count(*) FROM queue WHERE failed = 0").fetchone()[0])
            oldest = self._db.execute("SELECT min(queued_at) FROM queue WHERE failed = 0").fetchone()[0]
            return Batch(self._seq, count, (), oldest)

    def complete(self, batch: Batch, failed: Mapping[str, str], now: float) -> None:
        """A sync covering `batch` finished: settle its rows; `failed` paths (key -> why) retry later.

        Rows put after the batch began (seq above `high_seq`) are left as they are, and so are rows
        a scoped batch did not cover.
        """
        with self._lock, sqlite_tx.writing(self._db):
            current = {
                str(key): int(attempts)
                for key, attempts in self._db.execute(
                    "SELECT key, attempts FROM queue WHERE source = ? AND seq <= ?",
                    (SOURCE_LOCAL, batch.high_seq),
                )
            }
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS keep (key TEXT PRIMARY KEY) WITHOUT ROWID")
            self._db.execute("DELETE FROM temp.keep")
            self._db.executemany("INSERT OR IGNORE INTO temp.keep VALUES (?)", [(k,) for k in failed])
            if batch.scope is None:
                self._db.execute(
                    "DELETE FROM queue WHERE seq <= ? "
                    "AND NOT (source = ? AND key IN (SELECT key FROM temp.keep))",
                    (batch.high_seq, SOURCE_LOCAL),
                )
            else:
                self._db.executemany(
                    "DELETE FROM queue WHERE seq <= ? AND source = ? AND key = ?",
                    [(batch.high_seq, SOURCE_LOCAL, key) for key in batch.scope if key not in failed],
                )
            for key, error in failed.items():
                attempts = current.get(key, 0) + 1
                recent = self._db.execute(
                    "SELECT seq FROM queue WHERE source = ? AND key = ? AND seq > ?",
                    (SOURCE_LOCAL, key, batch.high_seq),
                ).fetchone()
                if recent is not None:
                    continue  # changed again during the batch: due now, as any fresh change
                self._seq += 1
                self._db.execute(
                    "INSERT INTO queue "
                    "(source, key, seq, queued_at, next_try, attempts, failed, last_error) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, key) DO UPDATE SET "
                    "next_try = excluded.next_try, attempts = excluded.attempts, "
                    "failed = excluded.failed, last_error = excluded.last_error",
                    (
                        SOURCE_LOCAL,
                        key,
                        self._seq,
                        now,
                        now + backoff_s(attempts),
                        attempts,
                        int(attempts >= MAX_ATTEMPTS),
                        error,
                    ),
                )

    # -- looking ------------------------------------------------------------------------------------

    def depth(self) -> int:
        """Rows waiting to be synced (permanent failures not counted)."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM queue WHERE failed = 0").fetchone()[0])

    def next_due(self) -> float | None:
        """When the earliest waiting row is due (it may be in the past); None when none waits."""
        with self._lock:
            row = self._db.execute("SELECT min(next_try) FROM queue WHERE failed = 0").fetchone()
            return None if row[0] is None else float(row[0])

    def items(self) -> list[QueueItem]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM queue ORDER BY seq").fetchall()
        return [_item(row) for row in rows]

    def failures(self, limit: int = 100) -> list[QueueItem]:
        """Paths that failed at least once and still wait, permanent failures first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM queue WHERE attempts > 0 ORDER BY failed DESC, key LIMIT ?",
                (limit,),
            ).fetchall()
        return [_item(row) for row in rows]

    # -- small facts that must survive a restart (the last scheduled run) ---------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, value))
