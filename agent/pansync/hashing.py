"""One pass over a file's bytes for every digest PanSync needs.

Baidu's rapid upload wants the whole-file MD5, the MD5 of the first 256 KiB and the CRC32; the
three-way merge wants the MD5. Reading a file once for all of them is the cheapest it gets, so this
module streams large blocks through all three. It knows nothing of trees or remotes.

Speed: `hash_file` of a large file computes the CRC32 of each block in a helper thread while the
calling thread does the MD5s (both release the GIL), so the three digests cost about what the MD5
alone costs. Each thread reuses one read buffer: a scan hashes thousands of small files, and a
fresh zeroed 1 MiB buffer per file costs more than hashing a 15 KB file.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from msgspec import Struct

__all__ = ["BLOCK_SIZE", "SLICE_MD5_BYTES", "Digests", "Hasher", "hash_file", "md5_file"]

BLOCK_SIZE = 1024 * 1024
"""Read size: large enough that per-call overhead vanishes, small enough to stay in cache."""

SLICE_MD5_BYTES = 256 * 1024
"""Baidu's `slice-md5` covers the first 256 KiB."""

_BIG_BLOCK_SIZE = 4 * 1024 * 1024
"""Read size of `hash_file` for large files: fewer hand-overs to the CRC32 thread."""

_CRC_THREAD_FROM = 8 * 1024 * 1024
"""Files at least this large get their CRC32 computed in a helper thread."""

_buffers = threading.local()


def _buffer() -> memoryview:
    """This thread's reusable read buffer of BLOCK_SIZE bytes."""
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = memoryview(bytearray(BLOCK_SIZE))
        _buffers.view = view
    return view


class Digests(Struct, frozen=True):
    size: int
    md5: str
    slice_md5: str
    crc32: int


class Hasher:
    """Incremental digests, for hashing while copying or uploading."""

    __slots__ = ("_crc", "_md5", "_size", "_slice")

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._slice = hashlib.md5(usedforsecurity=False)
        self._crc = 0
        self._size = 0

    def update(self, data: bytes | memoryview) -> None:
        if self._size < SLICE_MD5_BYTES:
            self._slice.update(data[: SLICE_MD5_BYTES - self._size])
        self._md5.update(data)
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)

    def _update_with(self, data: memoryview, crc_pool: ThreadPoolExecutor) -> None:
        """`update`, with the CRC32 computed in `crc_pool` while this thread does the MD5s."""
        crc = crc_pool.submit(zlib.crc32, data, self._crc)
        try:
            if self._size < SLICE_MD5_BYTES:
                self._slice.update(data[: SLICE_MD5_BYTES - self._size])
            self._md5.update(data)
        finally:
            self._crc = crc.result()  # the buffer is reused next: the helper must be done with it
        self._size += len(data)

    def digests(self) -> Digests:
        return Digests(self._size, self._md5.hexdigest(), self._slice.hexdigest(), self._crc)


def hash_stream(stream: BinaryIO) -> Digests:
    """Digest everything left in `stream`."""
    hasher = Hasher()
    view = _buffer()
    while True:
        n = stream.readinto(view)  # type: ignore[attr-defined]
        if not n:
            break
        hasher.update(view[:n])
    return hasher.digests()


def hash_file(path: Path | str) -> Digests:
    with open(path, "rb", buffering=0) as stream:
        if os.fstat(stream.fileno()).st_size < _CRC_THREAD_FROM:
            return hash_stream(stream)
        hasher = Hasher()
        view = memoryview(bytearray(_BIG_BLOCK_SIZE))
        with ThreadPoolExecutor(1, thread_name_prefix="crc32") as crc_pool:
            while n := stream.readinto(view):
                hasher._update_with(view[:n], crc_pool)
        return hasher.digests()


def md5_file(path: Path | str) -> str:
    """Only the MD5: what the merge needs when nothing will be uploaded."""
    md5 = hashlib.md5(usedforsecurity=False)
    view = _buffer()
    with open(path, "rb", buffering=0) as stream:
        while n := stream.readinto(view):
            md5.update(view[:n])
    return md5.hexdigest()
