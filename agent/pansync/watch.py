"""`watch`: turns watchdog's file system events into queued paths, one folder at a time.

The chain per folder: watchdog event → relative path (PanSync's own `.pansync*` names and the
folder's ignore rules dropped here) → `debounce.Debouncer` → *is it a change?* → work queue.

**Own writes are not echoed.** Rather than being told which paths the worker writes (a list that
races with the writes themselves), the watcher compares after the fact: when a path has settled,
it is looked up in the synced tree (the state database the executor commits each action to). A
path whose size, mtime and inode equal its synced record, or that is absent and has no record, has
nothing to sync: that is exactly what a download, a local trash or a rename by the agent leaves
behind, and also an editor's temp file that came and went. So the agent's own work is filtered
without any coordination, and a user's edit made during a batch is still seen.

**inotify limits.** Linux gives each user a budget of watches (one per folder); past it, watching
silently stops. `Watcher` notices (an `OSError` ENOSPC/EMFILE from watchdog, or a probe watch that
fails after scheduling, which catches the sub-folders watchdog gives up on quietly), says so once,
naming `fs.inotify.max_user_watches` and how to raise it, and falls back to scanning the folder
every `sync.poll_interval`.

Limit: observes and filters; never syncs, never writes. Renames are seen as a deletion and a
creation; the sync's own scan pairs them up.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import sqlite3
import stat
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from msgspec import Struct
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from pansync.debounce import Debouncer, Fingerprint
from pansync.ignore import IGNORE_FILE, IgnoreRules, is_builtin_ignored
from pansync.log import get_logger
from pansync.model import Kind, SyncedEntry
from pansync.names import key_of

__all__ = [
    "INOTIFY_HELP",
    "FolderWatch",
    "SyncedLookup",
    "Watcher",
    "inotify_probe",
    "local_drift",
    "local_fingerprint",
]

log = get_logger(__name__)

# watchdog warns when a folder made during a sync gets a watch it already had; harmless, and noise.
warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning)

INOTIFY_HELP = (
    "the inotify watch limit was reached while watching {root}; PanSync falls back to scanning it "
    "every {interval:g}s, so changes arrive later. To watch in real time, raise the limit: "
    "`sudo sysctl fs.inotify.max_user_watches=524288` (and `fs.inotify.max_user_instances=512`), "
    "and keep it across reboots with `echo fs.inotify.max_user_watches=524288 | "
    "sudo tee /etc/sysctl.d/90-pansync.conf`; then restart the agent (`pansync stop; pansync start`)"
)
"""Shown once per folder when watching fails for lack of watches (STYLE §2.9: say what to do)."""

_IGNORED_EVENTS = frozenset({"opened", "closed_no_write"})
_KIND_FILE, _KIND_DIR, _KIND_OTHER = 0, 1, 2


# -- looking at the disk and at the synced tree -----------------------------------------------------


def _lstat(path: str | Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _fingerprint(st: os.stat_result | None) -> Fingerprint:
    if st is None:
        return None
    kind = _KIND_DIR if stat.S_ISDIR(st.st_mode) else _KIND_FILE if stat.S_ISREG(st.st_mode) else _KIND_OTHER
    return (kind, 0 if kind == _KIND_DIR else st.st_size, st.st_mtime_ns)


def local_fingerprint(root: Path) -> Callable[[str], Fingerprint]:
    """The debouncer's `stat` for one root: (kind, size, mtime_ns) of a relative path, or None."""
    base = str(root)
    return lambda rel: _fingerprint(_lstat(os.path.join(base, rel)))


class SyncedRecord(Struct, frozen=True):
    kind: Kind
    size: int
    mtime_ns: int
    inode: int


class SyncedLookup:
    """Point look-ups in a folder's synced tree, on a read-only connection of the caller's thread.

    It reads the `synced` table of `state.StateStore` directly (one row by key) because loading the
    whole tree per settled path would cost O(tree) each time. Any SQLite error (no database yet,
    a schema change) answers "unknown", which counts as a change: the worst case is a sync with
    nothing to do, never a missed change.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._db: sqlite3.Connection | None = None

    def get(self, key: str) -> SyncedRecord | Literal[False] | None:
        """The record of `key`; None when it has none; False when the tree cannot be read."""
        try:
            if self._db is None:
                if not self.db_path.exists():
                    return False
                uri = self.db_path.resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            row = self._db.execute(
                "SELECT kind, size, local_mtime_ns, local_inode FROM synced WHERE key = ?", (key,)
            ).fetchone()
        except (sqlite3.Error, OSError):
            self.close()
            return False
        if row is None:
            return None
        return SyncedRecord(Kind(row[0]), int(row[1]), int(row[2]), int(row[3]))

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None


def has_news(st: os.stat_result | None, record: SyncedRecord | Literal[False] | None) -> bool:
    """Whether a settled path differs from its synced record (False: nothing to sync)."""
    if record is False:
        return True
    if st is None:
        return record is not None
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        return False  # symlinks and devices never sync
    if record is None:
        return True
    if stat.S_ISDIR(st.st_mode):
        return record.kind is not Kind.DIR  # a folder's own mtime moves with its children
    return record.kind is not Kind.FILE or (record.size, record.mtime_ns, record.inode) != (
        st.st_size,
        st.st_mtime_ns,
        st.st_ino,
    )


def local_drift(
    root: Path, synced: Mapping[str, SyncedEntry], ignore: IgnoreRules, excluded: Sequence[str] = ()
) -> str | None:
    """Why the local tree differs from the synced tree, or None: the full check of the local side.

    Size, mtime and inode per file, as the scanner's fast path compares them; catches events the
    kernel dropped or a watch that was never set. Stops at the first difference.
    """
    seen = 0
    todo = [""]
    while todo:
        rel_dir = todo.pop()
        try:
            with os.scandir(root / rel_dir if rel_dir else root) as entries:
                listed = list(entries)
        except OSError:
            continue  # a vanished or unreadable folder: the sync reports it
        for entry in listed:
            if is_builtin_ignored(entry.name):
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            key = key_of(rel)
            if any(key == x or key.startswith(x + "/") for x in excluded):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if not (is_dir or stat.S_ISREG(st.st_mode)) or ignore.matches(key, is_dir=is_dir):
                continue
            record = synced.get(key)
            if record is None:
                return f"new on this computer: {key}"
            if is_dir:
                todo.append(rel)
            rec = SyncedRecord(record.kind, record.size, record.local_mtime_ns, record.local_inode)
            if has_news(st, rec):
                return f"changed on this computer: {key}"
            seen += 1
    expected = sum(1 for key in synced if not any(key == x or key.startswith(x + "/") for x in excluded))
    if seen < expected:
        return f"{expected - seen} synced paths are gone from this computer"
    return None


# -- one folder ---------------------------------------------------------------------------------------


class _Handler(FileSystemEventHandler):
    def __init__(self, owner: FolderWatch) -> None:
        self.owner = owner

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _IGNORED_EVENTS:
            return
        try:
            self.owner.event(event.event_type, os.fsdecode(event.src_path), event.is_directory)
            if event.dest_path:
                self.owner.event(event.event_type, os.fsdecode(event.dest_path), event.is_directory)
        except Exception:  # an exception here would end watchdog's thread, and all watching with it
            log.exception("event handling failed", path=os.fsdecode(event.src_path))


class FolderWatch:
    """One sync root: receives events (observer thread), debounces, filters, queues (its own thread)."""

    def __init__(
        self,
        name: str,
        root: Path,
        *,
        delay: float,
        put: Callable[[list[str]], None],
        lookup: SyncedLookup,
        exclude: Sequence[str] = (),
        rescan: Callable[[str], None] = lambda why: None,
        verbose: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.root = root
        self._prefix = str(root).rstrip(os.sep) + os.sep
        self._put = put
        self._lookup = lookup
        self._exclude = tuple(exclude)
        self._rescan = rescan
        self._clock = clock
        self._verbose = verbose >= 1
        self._rules = IgnoreRules.for_root(root, self._exclude)
        self._debouncer = Debouncer(delay, local_fingerprint(root))
        self._cond = threading.Condition()
        self.handler = _Handler(self)
        self.log = log.bind(folder=name)

    # called from watchdog's thread
    def event(self, kind: str, local_path: str, is_dir: bool) -> None:
        if not local_path.startswith(self._prefix):
            return
        rel = local_path[len(self._prefix) :]
        if os.sep != "/":
            rel = rel.replace(os.sep, "/")
        parts = rel.split("/")
        if rel == IGNORE_FILE:
            self._rules = IgnoreRules.for_root(self.root, self._exclude)
            self._rescan("the ignore rules changed")
            return
        if any(is_builtin_ignored(part) for part in parts):
            return
        if self._rules.matches(key_of(rel), is_dir=is_dir):
            return
        if self._verbose:  # per-event logging costs more than the rest of this method
            self.log.info("event", change=kind, path=rel)
        with self._cond:
            was_empty = len(self._debouncer) == 0
            self._debouncer.touch(rel, self._clock())
            if was_empty:  # only a first path can bring the deadline forward
                self._cond.notify()

    def pump(self, now: float) -> list[str]:
        """Hand settled paths that changed to the queue; returns the keys queued."""
        with self._cond:
            settled = self._debouncer.due(now)
        keys = []
        for rel in settled:
            key = key_of(rel)
            if has_news(_lstat(os.path.join(self._prefix, rel)), self._lookup.get(key)):
                keys.append(key)
                if self._verbose:
                    self.log.info("debounced", path=key)
            elif self._verbose:
                self.log.info("settled, nothing to sync (own write or a temp file)", path=key)
        if keys:
            self._put(keys)
        return keys

    def run(self, stop: threading.Event) -> None:
        """The folder's pump thread: sleeps until the next path may settle; idle means blocked."""
        slack = min(self._debouncer.delay / 4, 0.25)  # lets neighbours settle in one pump
        while not stop.is_set():
            with self._cond:
                deadline = self._debouncer.deadline()
                wait = None if deadline is None else deadline - self._clock()
                if wait is None or wait > 0:
                    self._cond.wait(None if wait is None else wait + slack)
                    continue
            try:
                self.pump(self._clock())
            except Exception:  # a queue or disk hiccup must not end watching
                self.log.exception("pump failed")
                stop.wait(1.0)
        self._lookup.close()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._debouncer)


# -- the observers ------------------------------------------------------------------------------------


def inotify_probe(path: Path) -> int | None:
    """Try to add one inotify watch; the errno if that fails (ENOSPC: the budget is spent).

    watchdog gives up quietly on sub-folders it cannot watch, so after scheduling a tree this probe
    is the reliable way to know the budget ran out. None on systems without inotify.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fd = libc.inotify_init1(os.O_CLOEXEC)
    if fd < 0:
        return ctypes.get_errno()
    try:
        wd = libc.inotify_add_watch(fd, os.fsencode(path), 0x00000100)  # IN_CREATE
        return ctypes.get_errno() if wd < 0 else 0
    finally:
        os.close(fd)


class Watcher:
    """The observers of every folder: one inotify (or FSEvents) observer, polling ones as fallback."""

    def __init__(
        self,
        *,
        observer_factory: Callable[[], BaseObserver] = lambda: Observer(timeout=30),
        polling_factory: Callable[[float], BaseObserver] = lambda interval: PollingObserver(timeout=interval),
        probe: Callable[[Path], int | None] = inotify_probe,
    ) -> None:
        self._observer_factory = observer_factory
        self._polling_factory = polling_factory
        self._probe = probe
        self._observer: BaseObserver | None = None
        self._watches: dict[str, ObservedWatch] = {}
        self._polling: dict[str, BaseObserver] = {}
        self.modes: dict[str, str] = {}
        """Folder name -> "realtime", "polling" (fallback) or "off" (root missing)."""
        self.problems: dict[str, str] = {}

    def add(self, folder: FolderWatch, fallback_interval: float) -> str:
        """Start watching `folder`; returns the mode it got."""
        if not folder.root.is_dir():
            self.modes[folder.name] = "off"
            self.problems[folder.name] = f"{folder.root} does not exist; not watched"
            return "off"
        if self._observer is None:
            self._observer = self._observer_factory()
            self._observer.start()
        try:
            self._watches[folder.name] = self._observer.schedule(
                folder.handler, str(folder.root), recursive=True
            )
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EMFILE):
                raise
            return self._fall_back(folder, fallback_interval)
        if self._probe(folder.root) in (errno.ENOSPC, errno.EMFILE):
            return self._fall_back(folder, fallback_interval)
        self.modes[folder.name] = "realtime"
        self.problems.pop(folder.name, None)
        return "realtime"

    def recheck(self, folder: FolderWatch, fallback_interval: float) -> None:
        """Sub-folders made since `add` may have run past the budget: fall back if the probe says so."""
        if self.modes.get(folder.name) == "off" and folder.root.is_dir():
            self.add(folder, fallback_interval)
        elif self.modes.get(folder.name) == "realtime" and self._probe(folder.root) in (
            errno.ENOSPC,
            errno.EMFILE,
        ):
            self._fall_back(folder, fallback_interval)

    def _fall_back(self, folder: FolderWatch, interval: float) -> str:
        watch = self._watches.pop(folder.name, None)
        if watch is not None and self._observer is not None:
            with contextlib.suppress(Exception):  # frees the watches it did get
                self._observer.unschedule(watch)
        message = INOTIFY_HELP.format(root=folder.root, interval=interval)
        log.error("inotify limit", folder=folder.name, message=message)
        print(f"PanSync: {message}", file=sys.stderr, flush=True)
        poller = self._polling_factory(interval)
        poller.schedule(folder.handler, str(folder.root), recursive=True)
        poller.start()
        self._polling[folder.name] = poller
        self.modes[folder.name] = "polling"
        self.problems[folder.name] = message
        return "polling"

    def stop(self) -> None:
        observers: list[Any] = [o for o in [self._observer, *self._polling.values()] if o is not None]
        for observer in observers:
            with contextlib.suppress(Exception):
                observer.stop()
        for observer in observers:
            with contextlib.suppress(Exception):
                observer.join(timeout=10)
        self._observer = None
        self._polling.clear()
