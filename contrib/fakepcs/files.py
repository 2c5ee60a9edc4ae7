"""Namespace methods of ``/rest/2.0/pcs/file``: list, meta, mkdir, move, copy,
delete, search, listrecycle, restore and diff."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from . import feed, paths
from .db import Entry
from .errors import PcsError
from .httpio import Request
from .routeutil import batch_list, check, int_param, json_param, param

if TYPE_CHECKING:
    from .server import FakePCS

_LIMIT = re.compile(r"^(\d+)-(\d+)$")


def sort_entries(entries: list[Entry], by: str | None, order: str | None) -> list[Entry]:
    """Directories first, then files, each sorted by ``by``.

    The default order is descending [pcs-doc]; name comparison ignores case and
    "directories first" follows the xpan docs [inference].
    """
    desc = (order or "desc").lower() != "asc"

    def name_key(e: Entry) -> tuple[str, str]:
        n = paths.name_of(e.path)
        return (n.lower(), n)

    def key(e: Entry) -> tuple[Any, ...]:
        if by == "time":
            return (e.mtime, *name_key(e))
        if by == "size":
            return (0 if e.isdir else e.size, *name_key(e))
        return name_key(e)

    dirs = sorted((e for e in entries if e.isdir), key=key, reverse=desc)
    files = sorted((e for e in entries if not e.isdir), key=key, reverse=desc)
    return dirs + files


def parse_limit(raw: str | None, cap: int) -> tuple[int, int]:
    """``limit=n1-n2`` is the half-open range [n1, n2) [pcs-doc]; at most ``cap`` items."""
    if raw is None or raw == "":
        return 0, cap
    m = _LIMIT.match(raw.strip())
    if not m or int(m.group(2)) < int(m.group(1)):
        raise PcsError(31023)
    n1, n2 = int(m.group(1)), int(m.group(2))
    return n1, min(n2, n1 + cap)


def m_list(app: FakePCS, req: Request) -> dict[str, Any]:
    """One page of a directory listing."""
    path = check(app, req.params.get("path"))
    order = req.params.get("order")
    if order is None and "desc" in req.params:  # xpan spelling, accepted too [inference]
        order = "desc" if req.params["desc"] == "1" else "asc"
    items = sort_entries(app.store.children(path), req.params.get("by"), order)
    n1, n2 = parse_limit(req.params.get("limit"), app.policy.list_max)
    return {"list": [e.public() for e in items[n1:n2]]}


def _meta_of(app: FakePCS, raw: str | None) -> dict[str, Any]:
    e = app.store.require(check(app, raw))
    d = e.public(with_name=False)
    d["ifhassubdir"] = int(e.isdir and app.store.has_subdir(e))
    return d


def m_meta(app: FakePCS, req: Request) -> dict[str, Any]:
    """Single ``path`` or batch ``param={"list":[{"path":..}]}`` meta."""
    if "path" in req.params:
        return {"list": [_meta_of(app, req.params["path"])]}
    items = batch_list(json_param(app, req), ("path",))
    return {"list": [_meta_of(app, it["path"]) for it in items]}


def m_mkdir(app: FakePCS, req: Request) -> dict[str, Any]:
    """Create a directory (parents too); 31061 if it exists."""
    e = app.store.mkdir(check(app, req.params.get("path")))
    return {"fs_id": e.fs_id, "path": e.path, "ctime": e.ctime, "mtime": e.mtime}


def _pairs(app: FakePCS, req: Request) -> list[tuple[str, str]]:
    frm, to = req.params.get("from"), req.params.get("to")
    if frm is not None or to is not None:
        return [(frm or "", to or "")]
    items = batch_list(json_param(app, req), ("from", "to"))
    return [(str(it["from"]), str(it["to"])) for it in items]


def _move_or_copy(app: FakePCS, req: Request, op: str) -> dict[str, Any]:
    """Run pairs in order; on failure report the error plus the pairs done [pcs-doc]."""
    done: list[dict[str, str]] = []
    for frm, to in _pairs(app, req):
        try:
            f, t = check(app, frm), check(app, to)
            (app.store.move if op == "move" else app.store.copy)(f, t)
        except PcsError as err:
            if done:
                err.extra["extra"] = {"list": done}
            raise
        done.append({"from": f, "to": t})
    return {"extra": {"list": done}}


def m_move(app: FakePCS, req: Request) -> dict[str, Any]:
    """Move/rename (single or batch)."""
    return _move_or_copy(app, req, "move")


def m_copy(app: FakePCS, req: Request) -> dict[str, Any]:
    """Copy (single ``from``/``to`` as bypy sends it, or batch ``param``)."""
    return _move_or_copy(app, req, "copy")


def m_delete(app: FakePCS, req: Request) -> dict[str, Any]:
    """Delete to the recycle bin; ``type=recycle`` empties the bin."""
    if req.params.get("type") == "recycle":
        app.recycle.empty()
        return {}
    if "path" in req.params:
        targets = [req.params["path"]]
    else:
        targets = [str(it["path"]) for it in batch_list(json_param(app, req), ("path",))]
    for raw in targets:
        if not app.recycle.delete(check(app, raw)) and app.policy.delete_missing != "ok":
            raise PcsError(31066)
    return {}


def m_search(app: FakePCS, req: Request) -> dict[str, Any]:
    """Files (not directories, [pcs-doc]) whose name contains ``wd``, case-insensitively."""
    path = check(app, req.params.get("path"))
    wd = (req.params.get("wd") or "").lower()
    if not wd:
        raise PcsError(31023)
    top = app.store.require(path)
    if not top.isdir:
        raise PcsError(31066)
    if req.params.get("re") == "1":
        pool = [e for e in app.store.subtree(path) if e.fs_id != top.fs_id]
    else:
        pool = app.store.children(path)
    hits = [e for e in pool if not e.isdir and wd in paths.name_of(e.path).lower()]
    return {"list": [e.public() for e in sort_entries(hits, "name", "asc")]}


def m_listrecycle(app: FakePCS, req: Request) -> dict[str, Any]:
    """Recycle-bin listing with ``start``/``limit`` (defaults 0 and 1000)."""
    start = int_param(req, "start", 0)
    limit = min(int_param(req, "limit", 1000), app.policy.list_max)
    return {"list": app.recycle.listing(start, limit)}


def m_restore(app: FakePCS, req: Request) -> dict[str, Any]:
    """Restore by ``fs_id`` or batch ``param``; partial failure keeps ``extra`` [pcs-doc]."""
    raw_id = param(app, req, "fs_id")
    ids = [raw_id] if raw_id else [str(it["fs_id"]) for it in batch_list(json_param(app, req), ("fs_id",))]
    done: list[dict[str, str]] = []
    for fid in ids:
        try:
            app.recycle.restore(int(fid))
        except ValueError as exc:
            raise PcsError(31023) from exc
        except PcsError as err:
            err.extra["extra"] = {"list": done}
            raise
        done.append({"fs_id": str(fid)})
    return {"extra": {"list": done}}


def m_diff(app: FakePCS, req: Request) -> dict[str, Any]:
    """The change feed (see :mod:`fakepcs.feed`)."""
    return feed.diff(app.store, req.params.get("cursor"))
