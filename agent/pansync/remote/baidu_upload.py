"""`baidu_upload`: getting bytes into PCS: rapid upload, then single upload, then sliced upload.

Job: one file (or a small buffer) to one cloud path, hashing the bytes as they are read so the MD5
returned is of exactly what was sent. Files over 256 KiB first try `rapidupload` (no payload when the
cloud already has the content; a 31023, which the live service gives since 2024, switches it off for
this process). Files up to `slice_threshold` go in one multipart request; larger ones in slices of
4 MiB sent in parallel (up to `concurrency`), then `createsuperfile`. Slice progress is kept in
`<state_dir>/baidu/slices/`, keyed by (local path, size, mtime, slice size) — not by target, since
tmpfile blocks belong to no path and the engine picks a fresh temp name for every attempt — so an
interrupted upload resends only the slices the server lacks (each is re-read and re-hashed first).

Limit: knows PCS's upload calls, not names, trees or the engine's temp-and-move protocol.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import posixpath
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from msgspec import Struct

from pansync.completions import Completions
from pansync.errors import ItemError, TransientRemoteError
from pansync.hashing import SLICE_MD5_BYTES, Digests, Hasher, hash_file
from pansync.log import get_logger
from pansync.remote.pcs import PcsApiError, PcsClient, PcsTransient

__all__ = [
    "MIB",
    "RAPID_MIN",
    "TEMP_PREFIX",
    "SourceChanged",
    "Uploaded",
    "Uploader",
    "name_taken",
    "newcopy_pattern",
]

_log = get_logger(__name__)
MIB = 1024 * 1024
RAPID_MIN = SLICE_MD5_BYTES
"""Rapid upload only for files strictly larger than 256 KiB ([pcs-doc]; bypy's rule)."""
MAX_SLICES = 1024
TEMP_PREFIX = ".pansync.tmp-"
"""The engine's temp names (random, so nobody else can hold one)."""
SLICE_STATE_MAX_AGE_S = 24 * 3600.0
"""Older slice progress is dropped: Baidu expires tmpfile blocks (issue #735; how soon is unknown)."""


class SourceChanged(ItemError):
    """The local file shrank while it was being sent."""

    title = "Changed during upload"


class Uploaded(Struct, frozen=True):
    """One finished upload: the service's reply and what we know of the bytes."""

    reply: dict[str, Any]
    md5: str
    payload_bytes: int
    digests: Digests
    blocks: list[str] | None
    """The slice MD5s of a sliced upload (reusable by `createsuperfile` while the blocks live)."""
    ambiguous: bool
    """An earlier attempt's reply was lost: a "name taken" outcome may be our own doing."""


class _Body:
    """A multipart/form-data body with one `file` part, read from `stream`, hashed as it goes."""

    def __init__(self, stream: BinaryIO, length: int, on_payload: Callable[[bytes], None]) -> None:
        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="file"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._stream, self._left, self._on_payload = stream, length, on_payload
        self._length = len(self._head) + length + len(self._tail)

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        if self._left > 0:
            want = self._left if size is None or size < 0 else min(size, self._left)
            data = self._stream.read(max(want, 64 * 1024) if want == self._left else want)
            data = data[: self._left]
            if not data:
                raise SourceChanged("", "the file shrank while it was being uploaded; will retry when quiet")
            self._left -= len(data)
            self._on_payload(data)
            return data
        tail, self._tail = self._tail, b""
        return tail


class _SliceState:
    """Persisted slice progress of one local file: which slice MD5s the server has."""

    def __init__(self, path: Path, key: list[Any], slice_size: int, blocks: dict[int, str]) -> None:
        self.path, self.key, self.slice_size, self.blocks = path, key, slice_size, blocks
        self._lock = threading.Lock()

    @classmethod
    def open(cls, folder: Path, local: Path, st: os.stat_result, slice_size: int) -> _SliceState:
        key = [str(local.resolve()), st.st_size, st.st_mtime_ns, slice_size]
        name = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:32] + ".json"
        path = folder / name
        blocks: dict[int, str] = {}
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved["key"] == key and time.time() - float(saved["created"]) < SLICE_STATE_MAX_AGE_S:
                blocks = {int(i): str(m) for i, m in saved["blocks"].items()}
        return cls(path, key, slice_size, blocks)

    def record(self, index: int, md5: str) -> None:
        with self._lock:
            self.blocks[index] = md5
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}")
            body = {"key": self.key, "created": time.time(), "blocks": self.blocks}
            tmp.write_text(json.dumps(body), encoding="utf-8")
            os.replace(tmp, self.path)

    def forget(self) -> None:
        with self._lock:
            self.blocks.clear()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


class Uploader:
    """Uploads for one `BaiduRemote`; safe to use from several threads at once."""

    def __init__(
        self,
        client: PcsClient,
        state_dir: Path,
        *,
        concurrency: int = 4,
        slice_size: int = 4 * MIB,
        slice_threshold: int = 20 * MIB,
    ) -> None:
        self.client = client
        self.slice_dir = state_dir / "baidu" / "slices"
        self.concurrency = max(1, concurrency)
        self.slice_size = slice_size
        self.slice_threshold = slice_threshold
        self.rapid_enabled = True
        self._sent_lock = threading.Lock()

    # -- entry points -------------------------------------------------------------------------------

    def upload_file(
        self, local: Path, target: str, *, overwrite: bool, progress: Callable[[int], None] | None
    ) -> Uploaded:
        """`local` → `target` (absolute cloud path). Without `overwrite`, a taken name comes back as
        a reply whose path differs from `target` (PCS `ondup=newcopy`); the caller sorts it out."""
        size = os.stat(local).st_size
        if size > RAPID_MIN and self.rapid_enabled:
            digests = hash_file(local)
            if digests.size == size:
                done = self._rapid(target, digests, overwrite)
                if done is not None:
                    return done
        if size <= self.slice_threshold:
            try:
                with open(local, "rb") as f:
                    return self._single(f, size, target, overwrite, progress)
            except PcsApiError as exc:
                if exc.code != 413:
                    raise
                _log.info("baidu.single_upload_too_large", size=size)
        return self._sliced(local, target, overwrite, progress)

    def upload_bytes(self, data: bytes, target: str, *, overwrite: bool) -> Uploaded:
        """A small buffer (metadata files) in one request; `ondup=overwrite` replaces atomically."""
        return self._single(io.BytesIO(data), len(data), target, overwrite, None)

    def superfile(self, target: str, blocks: list[str], *, overwrite: bool) -> dict[str, Any]:
        """Merge tmpfile blocks already on the server into `target` (31363 when they expired)."""
        ambiguous = False

        def params(after_loss: bool) -> Mapping[str, str]:
            nonlocal ambiguous
            ambiguous = ambiguous or after_loss
            return {
                "method": "createsuperfile",
                "path": target,
                "ondup": _ondup(overwrite, after_loss, target),
            }

        def body() -> tuple[Any, str]:
            return {"param": json.dumps({"block_list": blocks})}, ""

        reply = self.client.call("POST", params, body=body)
        reply["_ambiguous"] = ambiguous
        return reply

    # -- the three ways -----------------------------------------------------------------------------

    def _rapid(self, target: str, digests: Digests, overwrite: bool) -> Uploaded | None:
        ambiguous = False

        def params(after_loss: bool) -> Mapping[str, str]:
            nonlocal ambiguous
            ambiguous = ambiguous or after_loss
            return {
                "method": "rapidupload",
                "path": target,
                "content-length": str(digests.size),
                "content-md5": digests.md5,
                "slice-md5": digests.slice_md5,
                "content-crc32": hex(digests.crc32),
                "ondup": _ondup(overwrite, after_loss, target),
            }

        try:
            reply = self.client.call("POST", params)
        except PcsApiError as exc:
            if exc.code == 31023:
                self.rapid_enabled = False
                _log.info("baidu.rapid_upload_off", reason="the service answers 31023 (param error)")
            elif exc.code != 31079:
                raise
            return None
        except TransientRemoteError:
            return None  # the optional shortcut failed; the real upload still can succeed
        return Uploaded(reply, digests.md5, 0, digests, None, ambiguous)

    def _single(
        self,
        stream: BinaryIO,
        size: int,
        target: str,
        overwrite: bool,
        progress: Callable[[int], None] | None,
    ) -> Uploaded:
        start = stream.tell()
        hashers: list[Hasher] = []
        sent = 0
        ambiguous = False

        def on_payload(data: bytes) -> None:
            nonlocal sent
            hashers[-1].update(data)
            sent += len(data)
            if progress is not None:
                progress(len(data))

        def body() -> tuple[Any, str]:
            stream.seek(start)
            hashers.append(Hasher())
            b = _Body(stream, size, on_payload)
            return b, b.content_type

        def params(after_loss: bool) -> Mapping[str, str]:
            nonlocal ambiguous
            ambiguous = ambiguous or after_loss
            return {"method": "upload", "path": target, "ondup": _ondup(overwrite, after_loss, target)}

        reply = self.client.call("POST", params, host=self.client.endpoints.upload, body=body)
        digests = hashers[-1].digests()
        if digests.size != size:
            raise SourceChanged("", "the file changed while it was being uploaded; will retry when quiet")
        return Uploaded(reply, digests.md5, sent, digests, None, ambiguous)

    def _slice_size_for(self, size: int) -> int:
        need = -(-size // MAX_SLICES)  # PCS merges at most 1024 slices
        return self.slice_size if need <= self.slice_size else -(-need // MIB) * MIB

    def _sliced(
        self, local: Path, target: str, overwrite: bool, progress: Callable[[int], None] | None
    ) -> Uploaded:
        with open(local, "rb") as f:
            st = os.fstat(f.fileno())
            state = _SliceState.open(self.slice_dir, local, st, self._slice_size_for(st.st_size))
            for round_ in range(2):
                digests, blocks, sent = self._send_slices(f, st.st_size, state, progress)
                try:
                    reply = self.superfile(target, blocks, overwrite=overwrite)
                except PcsApiError as exc:
                    if exc.code != 31363 or round_ == 1:
                        raise
                    _log.info("baidu.slices_expired", slices=len(blocks))  # resend them all, once
                    state.forget()
                    continue
                state.forget()
                ambiguous = bool(reply.pop("_ambiguous", False))
                return Uploaded(reply, digests.md5, sent, digests, blocks, ambiguous)
        raise AssertionError("unreachable")

    def _send_slices(
        self, f: BinaryIO, size: int, state: _SliceState, progress: Callable[[int], None] | None
    ) -> tuple[Digests, list[str], int]:
        """Read the file once, in order; send the slices the server lacks, `concurrency` at a time.

        Progress is reported from this (the caller's) thread as slices complete, so a callback
        that raises stops the upload cleanly: slices already sent stay recorded for a resume.
        """
        f.seek(0)
        hasher = Hasher()
        blocks: list[str] = []
        sent = 0
        inflight: dict[Future[int], int] = {}
        completions: Completions[Future[int]] = Completions()

        def settle() -> None:
            nonlocal sent
            for fut in completions.next():
                inflight.pop(fut)
                moved = fut.result()
                sent += moved
                if progress is not None:
                    progress(moved)

        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="pansync-slice")
        try:
            index = 0
            while True:
                data = f.read(state.slice_size)
                if not data:
                    break
                hasher.update(data)
                md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
                blocks.append(md5)
                if state.blocks.get(index) != md5:
                    while len(inflight) >= self.concurrency:
                        settle()
                    slice_sent = pool.submit(self._send_slice, data, md5, state, index)
                    inflight[completions.watch(slice_sent)] = index
                index += 1
            while inflight:
                settle()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        digests = hasher.digests()
        if digests.size != size:
            raise SourceChanged("", "the file changed while it was being uploaded; will retry when quiet")
        return digests, blocks, sent

    def _send_slice(self, data: bytes, md5: str, state: _SliceState, index: int) -> int:
        sent = 0

        def count(chunk: bytes) -> None:
            nonlocal sent
            sent += len(chunk)

        def body() -> tuple[Any, str]:
            b = _Body(io.BytesIO(data), len(data), count)
            return b, b.content_type

        params = {"method": "upload", "type": "tmpfile"}
        for _ in range(3):
            reply = self.client.call("POST", params, host=self.client.endpoints.upload, body=body)
            if str(reply.get("md5", "")).lower() == md5:
                state.record(index, md5)
                return sent
            _log.warning("baidu.slice_md5_mismatch", index=index)
        raise PcsTransient(f"slice {index} kept arriving damaged (MD5 mismatch)", ambiguous=False)


def _ondup(overwrite: bool, after_loss: bool, target: str) -> str:
    """PCS `ondup` for one attempt. Without `overwrite`, `newcopy` makes a taken name visible;
    after a lost reply only PanSync's own random temp names may be overwritten (by ourselves)."""
    ours = posixpath.basename(target).startswith(TEMP_PREFIX)
    return "overwrite" if overwrite or (after_loss and ours) else "newcopy"


def newcopy_pattern(name: str) -> re.Pattern[str]:
    """Names PCS gives a `newcopy` of `name`: "name_YYYYMMDD_HHMMSS.ext" ([pcs-doc]; the exact
    stamp and the `_N` of a second clash are fakepcs's inference)."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, dot, ext = name, "", ""
    return re.compile(rf"{re.escape(stem)}_\d{{8}}_\d{{6}}(?:_\d+)?{re.escape(dot + ext)}")


def name_taken(reply: Mapping[str, Any], target: str) -> bool:
    """True when PCS stored the upload under another name (`ondup=newcopy`: the target existed)."""
    got = str(reply.get("path", ""))
    return posixpath.basename(got) != posixpath.basename(target)
