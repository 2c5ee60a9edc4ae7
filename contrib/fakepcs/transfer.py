"""Data-plane methods: upload (single and tmpfile), createsuperfile, rapidupload,
download (with the CDN-style redirect) and exact ``Range`` handling."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import encmd5, multipart, paths
from .db import Entry
from .errors import PcsError
from .hashing import SLICE_LEN, Digests, Hasher, copy_hashing
from .httpio import Request
from .replies import FileReply, RawReply, Reply, nginx_page
from .routeutil import check, json_param

if TYPE_CHECKING:
    from .server import FakePCS

LINK_LIFETIME = 8 * 3600  # how long a /file/<id> link works [inference]
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Links:
    """Short-lived download links, standing in for d.pcs's CDN redirect (§3.6)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.links: dict[str, tuple[int, float]] = {}

    def create(self, fs_id: int) -> str:
        """A new link id for a file."""
        lid = secrets.token_hex(16)
        with self.lock:
            now = self.clock()
            self.links = {k: v for k, v in self.links.items() if v[1] > now}
            self.links[lid] = (fs_id, now + LINK_LIFETIME)
        return lid

    def resolve(self, lid: str) -> int | None:
        """The fs_id behind a live link."""
        with self.lock:
            v = self.links.get(lid)
        return v[0] if v and v[1] > self.clock() else None


def parse_range(header: str | None, total: int) -> tuple[int, int] | str | None:
    """(first, last) inclusive, None for "whole file", "unsatisfiable" for 416.

    Single ranges only; multi-range or malformed headers are ignored (RFC 7233).
    """
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    if m.group(1) == "":
        n = int(m.group(2))
        if n == 0 or total == 0:
            return "unsatisfiable"
        return max(0, total - n), total - 1
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) else total - 1
    if first >= total:
        return "unsatisfiable"
    if last < first:
        return None
    return first, min(last, total - 1)


def _file_result(e: Entry) -> dict[str, Any]:
    return {
        "path": e.path,
        "size": e.size,
        "ctime": e.ctime,
        "mtime": e.mtime,
        "md5": e.listed_md5,
        "fs_id": e.fs_id,
        "isdir": 0,
    }


def _too_big(app: FakePCS, req: Request) -> RawReply | None:
    if (req.content_length or 0) > app.policy.max_single_upload:
        r = nginx_page(413)
        r.close = True
        return r
    return None


def _receive_file(app: FakePCS, req: Request) -> tuple[str, Digests]:
    """Spool the multipart body and extract the ``file`` part, hashing it."""
    boundary = multipart.boundary_of(req.headers.get("Content-Type", "") or "")
    if boundary is None:
        raise PcsError(31023)
    spool = app.store.spool_path()
    try:
        req.spool_body(spool)
        parts = multipart.parse(spool, boundary)
        part = next((p for p in parts if p.name == "file"), None)
        part = part or next((p for p in parts if p.filename is not None), None)
        if part is None:
            raise PcsError(31023)
        out = app.store.spool_path()
        with open(spool, "rb") as src, open(out, "wb") as dst:
            src.seek(part.start)
            dg = copy_hashing(src, dst, part.length)
        return out, dg
    finally:
        if os.path.exists(spool):
            os.unlink(spool)


def m_upload(app: FakePCS, req: Request) -> dict[str, Any] | Reply:
    """Single upload, or a ``type=tmpfile`` slice that answers its plain MD5."""
    if req.params.get("type") == "tmpfile":
        big = _too_big(app, req)
        if big:
            return big
        tmp, dg = _receive_file(app, req)
        app.blocks.put(tmp, dg)
        return {"md5": dg.md5}
    path = check(app, req.params.get("path"))
    big = _too_big(app, req)
    if big:
        return big
    tmp, dg = _receive_file(app, req)
    return _file_result(app.store.commit_file(path, tmp, dg, ondup=req.params.get("ondup")))


def m_createsuperfile(app: FakePCS, req: Request) -> dict[str, Any]:
    """Merge stored blocks; 31363 for a missing one. ``md5`` follows the superfile policy."""
    path = check(app, req.params.get("path"))
    value = json_param(app, req)
    if not isinstance(value, dict) or not isinstance(value.get("block_list"), list):
        raise PcsError(31023)
    blocks = [str(b).lower() for b in value["block_list"]]
    if not blocks:
        raise PcsError(31082)
    if len(blocks) > 1024:  # [pcs-doc]: 2..1024 blocks; one block is tolerated [inference]
        raise PcsError(31023)
    files = app.blocks.require_all(blocks)
    out = app.store.spool_path()
    h = Hasher()
    with open(out, "wb") as dst:
        for fp in files:
            with open(fp, "rb") as src:
                while chunk := src.read(1024 * 1024):
                    dst.write(chunk)
                    h.update(chunk)
    dg = h.digests()
    listed = encmd5.superfile_md5(blocks, dg.md5, app.policy.superfile_md5)
    e = app.store.commit_file(
        path, out, dg, ondup=req.params.get("ondup"), listed_md5=listed, block_list=blocks
    )
    return _file_result(e)


def _crc(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        if raw.lower().startswith("0x"):
            return int(raw, 16)
        return int(raw) if raw.isdigit() else int(raw, 16)
    except ValueError as exc:
        raise PcsError(31023) from exc


def m_rapidupload(app: FakePCS, req: Request) -> dict[str, Any]:
    """Clone known content by its digests; 31079 when unknown (§1.4, [pcs-doc]).

    ``content-md5`` may be plain or enc-md5 (bypy sends enc-md5). With the
    ``rapidupload_31023`` switch every call answers 31023, as the live service
    has since 2024 (issues #676, #730).
    """
    if app.faults.settings.rapidupload_31023:
        raise PcsError(31023)
    path = check(app, req.params.get("path"))
    try:
        length = int(req.params.get("content-length", ""))
    except ValueError as exc:
        raise PcsError(31023) from exc
    md5 = encmd5.to_plain(req.params.get("content-md5", ""))
    slice_md5 = (req.params.get("slice-md5") or "").lower()
    crc = _crc(req.params.get("content-crc32"))
    if md5 is None or not encmd5.is_plain_md5(slice_md5):
        raise PcsError(31023)
    if length <= SLICE_LEN:  # "must be larger than 256KB" [pcs-doc]; the code is [inference]
        raise PcsError(31023)
    found = app.blocks.find(md5, length)
    if found is None or found.slice_md5 != slice_md5 or (crc is not None and crc != found.crc32):
        raise PcsError(31079)
    tmp = app.store.spool_path()
    shutil.copyfile(found.disk_path, tmp)
    dg = Digests(found.size, found.md5, found.slice_md5, found.crc32, found.block_list)
    e = app.store.commit_file(
        path, tmp, dg, ondup=req.params.get("ondup"), listed_md5=found.listed_md5, block_list=found.block_list
    )
    return _file_result(e)


def serve(app: FakePCS, req: Request, e: Entry) -> Reply:
    """The bytes of a file honouring ``Range`` exactly (200, 206 or 416)."""
    with app.store.lock:
        fh = open(app.store.disk(e.path), "rb")  # noqa: SIM115 - closed by the handler
    total = os.fstat(fh.fileno()).st_size
    name = paths.name_of(e.path)
    headers = {
        "Content-Disposition": f'attachment;filename="{quote(name)}"',
        "Content-MD5": e.md5,
        "ETag": f'"{e.md5}"',
    }
    rng = parse_range(req.headers.get("Range"), total)
    if rng == "unsatisfiable":
        fh.close()
        return RawReply(416, b"", "text/html", {"Content-Range": f"bytes */{total}"})
    if rng is None or isinstance(rng, str):
        return FileReply(fh, 0, total, total, 200, headers)
    first, last = rng
    return FileReply(fh, first, last - first + 1, total, 206, headers)


def m_download(app: FakePCS, req: Request) -> Reply:
    """``method=download``: 302 to ``/file/<id>`` (like d.pcs -> CDN) or the bytes."""
    e = app.store.require(check(app, req.params.get("path")))
    if e.isdir:
        raise PcsError(31023)  # [inference]
    if not app.policy.download_redirect:
        return serve(app, req, e)
    lid = app.links.create(e.fs_id)
    loc = f"http://{req.host}/file/{lid}?fid={e.fs_id}&fin={quote(paths.name_of(e.path))}"
    return RawReply(302, b"", "text/html", {"Location": loc})


def cdn(app: FakePCS, req: Request) -> Reply:
    """The redirect target: no token needed, the link id is the credential."""
    fs_id = app.links.resolve(req.route[len("/file/") :])
    e = app.store.get_by_id(fs_id) if fs_id is not None else None
    if e is None or e.isdir:
        return nginx_page(404)
    return serve(app, req, e)
