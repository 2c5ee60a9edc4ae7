"""The ``method=diff`` change feed with an opaque cursor ([pcs-doc]; shape inferred).

``cursor=null`` starts with ``reset: true`` and a full listing (account-wide,
ordered by path so parents come first), paged; later cursors return the changes
logged since. A page never holds the same path twice and a deletion drops the
page's earlier entries below it, so a page can be applied in any order.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from . import paths
from .errors import PcsError
from .store import Store


def encode_cursor(seq: int, offset: int = -1) -> str:
    """Opaque cursor: base64 of the last change seq and, while resetting, an offset."""
    raw = json.dumps({"v": 1, "s": seq, "o": offset}, separators=(",", ":")).encode()
    return base64.b64encode(raw).decode("ascii")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """Inverse of :func:`encode_cursor`; 31023 for anything we did not issue."""
    try:
        d = json.loads(base64.b64decode(cursor.encode("ascii"), validate=True))
        return int(d["s"]), int(d["o"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise PcsError(31023) from exc


def diff(store: Store, cursor: str | None) -> dict[str, Any]:
    """Build one diff reply."""
    page = max(1, store.policy.diff_page)
    if cursor in (None, "", "null"):
        with store.lock:
            seq = store.db.max_seq()
        return _reset_page(store, seq, 0, page)
    seq, offset = decode_cursor(cursor)
    if offset >= 0:
        return _reset_page(store, seq, offset, page)
    return _changes_page(store, seq, page)


def _reset_page(store: Store, seq: int, offset: int, page: int) -> dict[str, Any]:
    with store.lock:
        everything = [e for e in store.db.all() if e.path != "/"]
    everything.sort(key=lambda e: e.path)
    chunk = everything[offset : offset + page]
    more = offset + page < len(everything)
    return {
        "entries": {e.path: e.diff_meta(0) for e in chunk},
        "has_more": more,
        "reset": offset == 0,
        "cursor": encode_cursor(seq, offset + page if more else -1),
    }


def _changes_page(store: Store, seq: int, page: int) -> dict[str, Any]:
    max_ts = store.clock() - store.policy.diff_lag
    with store.lock:
        rows = store.db.changes_after(seq, max_ts, page + 1)
    entries: dict[str, dict[str, Any]] = {}
    keys: dict[str, str] = {}  # key -> path used in `entries`
    last = seq
    more = False
    for row in rows:
        key = str(row["key"])
        if key in keys or len(entries) >= page:
            more = True
            break
        meta = json.loads(row["meta"])
        if meta["isdelete"] != 0:
            for k in [k for k in keys if paths.is_within(k, key)]:
                entries.pop(keys.pop(k), None)
        entries[str(row["path"])] = meta
        keys[key] = str(row["path"])
        last = int(row["seq"])
    return {"entries": entries, "has_more": more, "reset": False, "cursor": encode_cursor(last)}
