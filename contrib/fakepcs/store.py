"""The cloud's namespace: real files under ``root`` plus the SQLite sidecar.

A cloud path ``/apps/bypy/a/b.txt`` is the file ``<root>/apps/bypy/a/b.txt``.
Names are case-insensitive but case-preserving (issue #501), parents are created
implicitly (§2.4), and every change is logged for the ``diff`` feed.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from . import encmd5, paths
from .config import Policy
from .db import Entry, MetaDB
from .errors import PcsError
from .hashing import Digests, hash_file

META_DIR = ".fakepcs"


class Store:
    """Namespace operations; every public method is atomic under one lock."""

    def __init__(self, root: str, policy: Policy, clock: Callable[[], float] = time.time) -> None:
        self.root = os.path.realpath(root)
        self.policy = policy
        self.clock = clock
        self.lock = threading.RLock()
        self.meta_dir = os.path.join(self.root, META_DIR)
        for sub in ("spool", "blocks", "recycle", "known"):
            os.makedirs(os.path.join(self.meta_dir, sub), exist_ok=True)
        for stale in os.listdir(os.path.join(self.meta_dir, "spool")):  # left by a crash
            os.unlink(os.path.join(self.meta_dir, "spool", stale))
        self.db = MetaDB(os.path.join(self.meta_dir, "meta.sqlite3"))
        self._used: int | None = None  # cached quota usage; None = recompute
        self.rescan()
        if paths.key_of(policy.app_dir) not in ("/", "/" + META_DIR):
            with self.tx():
                if self.db.get(paths.key_of(policy.app_dir)) is None:
                    self._ensure_dir(policy.app_dir)

    def close(self) -> None:
        """Release the database."""
        with self.lock:
            self.db.close()

    # --- helpers --------------------------------------------------------
    @contextmanager
    def tx(self) -> Iterator[None]:
        """Lock plus one database transaction."""
        with self.lock:
            self.db.begin()
            try:
                yield
            except BaseException:
                self.db.rollback()
                raise
            self.db.commit()

    def now(self) -> int:
        """Server time in whole seconds (PCS times are server times, §8)."""
        return int(self.clock())

    def disk(self, path: str) -> str:
        """Filesystem location of a validated cloud path; refuses to leave root."""
        comps = [c for c in path.split("/") if c]
        if any(c in (".", "..") or "\\" in c or "\0" in c for c in comps):
            raise PcsError(31062)
        full = os.path.join(self.root, *comps)
        real = os.path.realpath(full)
        if os.path.commonpath([self.root, real]) != self.root:
            raise PcsError(31064)
        if comps and comps[0] == META_DIR:
            raise PcsError(31064)
        return full

    def spool_path(self) -> str:
        """A fresh temporary file name on the same filesystem as root."""
        return os.path.join(self.meta_dir, "spool", uuid.uuid4().hex)

    def _stamp_disk(self, e: Entry) -> None:
        st = os.stat(self.disk(e.path))
        e.disk_mtime_ns, e.disk_size = st.st_mtime_ns, st.st_size

    # --- lookups --------------------------------------------------------
    def get(self, path: str) -> Entry | None:
        """Entry at a path, matched case-insensitively."""
        with self.lock:
            return self.db.get(paths.key_of(path))

    def get_by_id(self, fs_id: int) -> Entry | None:
        """Entry by fs_id."""
        with self.lock:
            return self.db.get_by_id(fs_id)

    def require(self, path: str) -> Entry:
        """Entry at a path or 31066."""
        e = self.get(path)
        if e is None:
            raise PcsError(31066)
        return e

    def children(self, path: str) -> list[Entry]:
        """Children of a directory; 31066 if it is missing or a file [inference]."""
        with self.lock:
            e = self.db.get(paths.key_of(path))
            if e is None or not e.isdir:
                raise PcsError(31066)
            return self.db.children(e.key)

    def subtree(self, path: str) -> list[Entry]:
        """The entry and all its descendants."""
        with self.lock:
            return self.db.subtree(paths.key_of(path))

    def has_subdir(self, e: Entry) -> bool:
        """Whether a directory has subdirectories (meta's ``ifhassubdir``)."""
        with self.lock:
            return self.db.has_subdir(e.key)

    def used(self) -> int:
        """Quota used by live files (the recycle bin does not count, [pcs-doc])."""
        with self.lock:
            if self._used is None:
                self._used = self.db.used()
            return self._used

    def invalidate_used(self) -> None:
        """Forget the cached usage after bulk changes (deletes, restores, rescans)."""
        with self.lock:
            self._used = None

    # --- creation -------------------------------------------------------
    def _ensure_dir(self, path: str) -> Entry:
        """mkdir -p inside an open transaction; returns the directory entry."""
        if path == "/":
            return Entry(fs_id=0, path="/", isdir=True, ctime=0, mtime=0)
        e = self.db.get(paths.key_of(path))
        if e is not None:
            if not e.isdir:
                raise PcsError(31063)  # a file where a directory is needed [inference]
            return e
        parent = self._ensure_dir(paths.parent_of(path))
        full = paths.join(parent.path, paths.name_of(path))
        os.makedirs(self.disk(full), exist_ok=True)
        now = self.now()
        e = Entry(fs_id=self.db.next_fs_id(), path=full, isdir=True, ctime=now, mtime=now)
        self.db.put(e)
        self.db.log_change(self.clock(), e, 0)
        return e

    def mkdir(self, path: str) -> Entry:
        """Create a directory and missing parents; 31061 if the path exists."""
        with self.tx():
            if self.db.get(paths.key_of(path)) is not None:
                raise PcsError(31061)
            return self._ensure_dir(path)

    def _newcopy_target(self, parent: str, name: str) -> str:
        stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(self.clock() + 8 * 3600))
        for n in range(1000):
            cand = paths.join(parent, paths.newcopy_name(name, stamp, n))
            if self.db.get(paths.key_of(cand)) is None:
                return cand
        raise PcsError(31061)

    def commit_file(
        self,
        path: str,
        src: str,
        dg: Digests,
        *,
        ondup: str | None,
        listed_md5: str | None = None,
        block_list: list[str] | None = None,
    ) -> Entry:
        """Move a finished temp file into place as ``path`` honouring ``ondup``.

        overwrite replaces a file but keeps the stored name's case and gives the
        new object a new fs_id and fresh times [inference]; newcopy picks a
        "name_date.ext" name; no ondup (or an unknown one) fails with 31061 when
        the path exists [inference]. A directory is never overwritten (31061).
        """
        try:
            with self.tx():
                parent = self._ensure_dir(paths.parent_of(path))
                target = paths.join(parent.path, paths.name_of(path))
                old = self.db.get(paths.key_of(target))
                if old is not None:
                    if ondup == "newcopy":
                        target, old = self._newcopy_target(parent.path, paths.name_of(path)), None
                    elif ondup == "overwrite" and not old.isdir:
                        target = old.path
                    else:
                        raise PcsError(31061)
                freed = old.size if old is not None else 0
                used = self.used()
                if used - freed + dg.size > self.policy.quota:
                    raise PcsError(31112)
                os.replace(src, self.disk(target))
                now = self.now()
                e = Entry(
                    fs_id=self.db.next_fs_id(),
                    path=target,
                    isdir=False,
                    ctime=now,
                    mtime=now,
                    size=dg.size,
                    md5=dg.md5,
                    listed_md5=listed_md5 or encmd5.encode(dg.md5),
                    block_list=block_list if block_list is not None else dg.blocks,
                    slice_md5=dg.slice_md5,
                    crc32=dg.crc32,
                )
                self._stamp_disk(e)
                if old is not None:
                    self.db.delete(old.fs_id)
                self.db.put(e)
                self.db.log_change(self.clock(), e, 0)
                self._used = used - freed + dg.size
                return e
        finally:
            if os.path.exists(src):
                os.unlink(src)

    # --- move / copy ----------------------------------------------------
    def _target_for(self, src: Entry, to: str) -> str:
        """Resolve and check a move/copy destination inside a transaction."""
        if paths.is_within(paths.key_of(to), src.key) and paths.key_of(to) != src.key:
            raise PcsError(31023)  # into its own subtree [inference]
        if paths.key_of(to) == src.key:
            target = paths.join(paths.parent_of(src.path), paths.name_of(to))
            if target == src.path:
                raise PcsError(31061)
            return target  # a case-only rename keeps the parents' stored case
        parent = self._ensure_dir(paths.parent_of(to))
        target = paths.join(parent.path, paths.name_of(to))
        if self.db.get(paths.key_of(target)) is not None:
            raise PcsError(31061)  # target exists [inference; bypy turns it into 0]
        return target

    def move(self, frm: str, to: str) -> Entry:
        """Rename/move; keeps fs_id and times [inference]."""
        with self.tx():
            src = self.db.get(paths.key_of(frm))
            if src is None:
                raise PcsError(31066)
            target = self._target_for(src, to)
            rows = self.db.subtree(src.key)
            os.rename(self.disk(src.path), self.disk(target))
            ts = self.clock()
            self.db.log_change(ts, src, 1)
            for e in rows:
                e.path = target + e.path[len(src.path) :]
                self.db.put(e)
                self.db.log_change(ts, e, 0)
            return rows[0]

    def copy(self, frm: str, to: str) -> Entry:
        """Copy a file or tree; copies get new fs_ids and fresh times [inference]."""
        with self.tx():
            src = self.db.get(paths.key_of(frm))
            if src is None:
                raise PcsError(31066)
            target = self._target_for(src, to)
            if paths.key_of(target) == src.key:
                raise PcsError(31061)
            rows = self.db.subtree(src.key)
            need = sum(e.size for e in rows if not e.isdir)
            used = self.used()
            if used + need > self.policy.quota:
                raise PcsError(31112)
            if src.isdir:
                shutil.copytree(self.disk(src.path), self.disk(target))
            else:
                shutil.copyfile(self.disk(src.path), self.disk(target))
            ts, now = self.clock(), self.now()
            for e in rows:
                e.path = target + e.path[len(src.path) :]
                e.fs_id, e.ctime, e.mtime = self.db.next_fs_id(), now, now
                if not e.isdir:
                    self._stamp_disk(e)
                self.db.put(e)
                self.db.log_change(ts, e, 0)
            self._used = used + need
            return rows[0]

    # --- rescan ---------------------------------------------------------
    def _walk_disk(self) -> Iterator[tuple[str, os.DirEntry[str]]]:
        stack = ["/"]
        while stack:
            cur = stack.pop()
            try:
                items = sorted(os.scandir(self.root if cur == "/" else self.disk(cur)), key=lambda d: d.name)
            except OSError:
                continue
            for d in items:
                if cur == "/" and d.name == META_DIR:
                    continue
                if d.is_symlink():
                    continue
                p = paths.join(cur, d.name)
                yield p, d
                if d.is_dir():
                    stack.append(p)

    def rescan(self) -> int:
        """Adopt files changed behind the server's back; returns entries changed.

        New files get their disk mtime as server times; files whose size or mtime
        changed are re-hashed; rows whose file vanished are dropped (isdelete=1).
        """
        changed = 0
        self._used = None
        with self.tx():
            seen: set[str] = set()
            ts = self.clock()
            for p, d in self._walk_disk():
                k = paths.key_of(p)
                bad = any(c in paths.FORBIDDEN_CHARS for c in d.name)
                if bad or k in seen:
                    print(f"fakepcs: ignoring {p!r} (invalid or case clash)", file=sys.stderr)
                    continue
                seen.add(k)
                st = d.stat()
                e = self.db.get(k)
                is_dir = d.is_dir()
                if (
                    e is not None
                    and e.isdir == is_dir
                    and e.path == p
                    and (is_dir or (e.disk_size == st.st_size and e.disk_mtime_ns == st.st_mtime_ns))
                ):
                    continue
                t = int(st.st_mtime)
                ne = Entry(
                    fs_id=e.fs_id if e else self.db.next_fs_id(),
                    path=p,
                    isdir=is_dir,
                    ctime=e.ctime if e else t,
                    mtime=t if not e else self.now(),
                )
                if not is_dir:
                    dg = hash_file(self.disk(p))
                    ne.size, ne.md5, ne.slice_md5, ne.crc32 = dg.size, dg.md5, dg.slice_md5, dg.crc32
                    ne.listed_md5, ne.block_list = encmd5.encode(dg.md5), dg.blocks
                    ne.disk_mtime_ns, ne.disk_size = st.st_mtime_ns, st.st_size
                self.db.put(ne)
                self.db.log_change(ts, ne, 0)
                changed += 1
            for e in self.db.all():
                if e.key not in seen:
                    self.db.delete(e.fs_id)
                    self.db.log_change(ts, e, 1)
                    changed += 1
        return changed
