"""Delete to the recycle bin, listrecycle, restore and emptying ([pcs-doc]).

Deleted content is moved to ``<root>/.fakepcs/recycle/<fs_id>`` together with
the rows of its subtree, so a restore brings back the same fs_ids.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from . import paths
from .db import Entry
from .errors import PcsError
from .store import Store


class RecycleBin:
    """Recycle-bin operations layered on a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dir = os.path.join(store.meta_dir, "recycle")

    def _purge_expired(self) -> None:
        limit = self.store.clock() - self.store.policy.recycle_days * 86400
        rows = self.store.db.conn.execute("SELECT fs_id FROM recycle WHERE deleted_at<?", (limit,)).fetchall()
        for r in rows:
            self._drop(int(r["fs_id"]))

    def _drop(self, fs_id: int) -> None:
        blob = os.path.join(self.dir, str(fs_id))
        if os.path.isdir(blob):
            shutil.rmtree(blob, ignore_errors=True)
        elif os.path.exists(blob):
            os.unlink(blob)
        self.store.db.conn.execute("DELETE FROM recycle WHERE fs_id=?", (fs_id,))

    def delete(self, path: str) -> bool:
        """Move a path to the bin; False if it did not exist (caller decides)."""
        st = self.store
        with st.tx():
            self._purge_expired()
            top = st.db.get(paths.key_of(path))
            if top is None:
                return False
            rows = st.db.subtree(top.key)
            if os.path.exists(os.path.join(self.dir, str(top.fs_id))):
                self._drop(top.fs_id)
            os.rename(st.disk(top.path), os.path.join(self.dir, str(top.fs_id)))
            st.db.conn.execute(
                "INSERT OR REPLACE INTO recycle(fs_id, path, deleted_at, top, tree) VALUES(?,?,?,?,?)",
                (
                    top.fs_id,
                    top.path,
                    st.clock(),
                    json.dumps(top.to_json()),
                    json.dumps([e.to_json() for e in rows]),
                ),
            )
            for e in rows:
                st.db.delete(e.fs_id)
            st.db.log_change(st.clock(), top, -1)
            st.invalidate_used()
            return True

    def listing(self, start: int, limit: int) -> list[dict[str, Any]]:
        """Top-level items in the bin, newest first [inference on order]."""
        st = self.store
        with st.tx():
            self._purge_expired()
            rows = st.db.conn.execute(
                "SELECT top FROM recycle ORDER BY deleted_at DESC, fs_id LIMIT ? OFFSET ?", (limit, start)
            ).fetchall()
        out = []
        for r in rows:
            e = Entry.from_json(json.loads(r["top"]))
            item = {
                "fs_id": e.fs_id,
                "path": e.path,
                "ctime": e.ctime,
                "mtime": e.mtime,
                "md5": e.listed_md5,
                "size": e.size,
                "isdir": int(e.isdir),
            }
            out.append(item)
        return out

    def restore(self, fs_id: int) -> int:
        """Put an item back at its old path; 31061 if that path is taken [pcs-doc]."""
        st = self.store
        with st.tx():
            row = st.db.conn.execute("SELECT * FROM recycle WHERE fs_id=?", (fs_id,)).fetchone()
            if row is None:
                raise PcsError(31066)
            orig = str(row["path"])
            if st.db.get(paths.key_of(orig)) is not None:
                raise PcsError(31061)
            parent = st._ensure_dir(paths.parent_of(orig))
            target = paths.join(parent.path, paths.name_of(orig))
            os.rename(os.path.join(self.dir, str(fs_id)), st.disk(target))
            ts = st.clock()
            for d in json.loads(row["tree"]):
                e = Entry.from_json(d)
                e.path = target + e.path[len(orig) :]
                if not e.isdir:
                    st._stamp_disk(e)
                st.db.put(e)
                st.db.log_change(ts, e, 0)
            st.db.conn.execute("DELETE FROM recycle WHERE fs_id=?", (fs_id,))
            st.invalidate_used()
            return fs_id

    def empty(self) -> None:
        """Purge everything (``delete&type=recycle``)."""
        st = self.store
        with st.tx():
            for r in st.db.conn.execute("SELECT fs_id FROM recycle").fetchall():
                self._drop(int(r["fs_id"]))
