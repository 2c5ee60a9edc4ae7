"""Uploaded tmpfile blocks and the pool of content known for rapidupload.

Blocks are kept by MD5 under ``.fakepcs/blocks`` until they expire
(``Policy.block_ttl``) or the admin drops them, which is how 31363 after a long
pause (issue #735) is reproduced.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass

from . import encmd5
from .errors import PcsError
from .hashing import Digests
from .store import Store


@dataclass
class Content:
    """A piece of content rapidupload can clone: where it is and its digests."""

    disk_path: str
    size: int
    md5: str
    slice_md5: str
    crc32: int
    listed_md5: str
    block_list: list[str]


class BlockStore:
    """tmpfile blocks plus the "known content" pool."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dir = os.path.join(store.meta_dir, "blocks")
        self.known_dir = os.path.join(store.meta_dir, "known")

    def put(self, src: str, dg: Digests) -> None:
        """Keep a block (moves ``src``)."""
        st = self.store
        with st.tx():
            os.replace(src, os.path.join(self.dir, dg.md5))
            st.db.conn.execute(
                "INSERT OR REPLACE INTO blocks(md5, size, created) VALUES(?,?,?)",
                (dg.md5, dg.size, st.clock()),
            )

    def path(self, md5: str) -> str | None:
        """File of a live block, or None when missing or expired."""
        st = self.store
        with st.lock:
            row = st.db.conn.execute("SELECT created FROM blocks WHERE md5=?", (md5.lower(),)).fetchone()
            ttl = st.policy.block_ttl
            if row is None or (ttl is not None and st.clock() - float(row["created"]) > ttl):
                return None
        p = os.path.join(self.dir, md5.lower())
        return p if os.path.exists(p) else None

    def require_all(self, md5s: list[str]) -> list[str]:
        """Files for every block, or 31363 for the first missing one."""
        out = []
        for m in md5s:
            p = self.path(m) if isinstance(m, str) else None
            if p is None:
                raise PcsError(31363)
            out.append(p)
        return out

    def expire(self) -> int:
        """Drop every block now; returns how many were dropped."""
        st = self.store
        with st.tx():
            rows = st.db.conn.execute("SELECT md5 FROM blocks").fetchall()
            st.db.conn.execute("DELETE FROM blocks")
        for r in rows:
            p = os.path.join(self.dir, str(r["md5"]))
            if os.path.exists(p):
                os.unlink(p)
        return len(rows)

    def add_known(self, src: str, dg: Digests) -> None:
        """Remember content as if another user had uploaded it (copies ``src``)."""
        st = self.store
        with st.tx():
            shutil.copyfile(src, os.path.join(self.known_dir, dg.md5))
            st.db.conn.execute(
                "INSERT OR REPLACE INTO known(md5, size, slice_md5, crc32, block_list) VALUES(?,?,?,?,?)",
                (dg.md5, dg.size, dg.slice_md5, dg.crc32, json.dumps(dg.blocks)),
            )

    def find(self, md5: str, size: int) -> Content | None:
        """Content with this MD5 and size: a live file first, then the known pool."""
        st = self.store
        with st.lock:
            e = st.db.find_content(md5, size)
            if e is not None:
                return Content(
                    st.disk(e.path), e.size, e.md5, e.slice_md5, e.crc32, e.listed_md5, list(e.block_list)
                )
            row = st.db.conn.execute("SELECT * FROM known WHERE md5=? AND size=?", (md5, size)).fetchone()
        if row is None:
            return None
        return Content(
            os.path.join(self.known_dir, md5),
            size,
            md5,
            str(row["slice_md5"]),
            int(row["crc32"]),
            encmd5.encode(md5),
            json.loads(row["block_list"]),
        )
