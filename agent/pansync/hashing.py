"""One pass over a file's bytes for every digest PanSync needs.

Baidu's rapid upload wants the whole-file MD5, the MD5 of the first 256 KiB and the CRC32; the
three-way merge wants the MD5. Reading a file once for all of them is the cheapest it gets, so this
module streams large blocks through all three. It knows nothing of trees or remotes.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["BLOCK_SIZE", "SLICE_MD5_BYTES", "Digests", "Hasher", "hash_file", "md5_file"]

BLOCK_SIZE = 1024 * 1024
"""Read size: large enough that per-call overhead vanishes, small enough to stay in cache."""

SLICE_MD5_BYTES = 256 * 1024
"""Baidu's `slice-md5` covers the first 256 KiB."""


@dataclass(frozen=True, slots=True)
class Digests:
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

    def digests(self) -> Digests:
        return Digests(self._size, self._md5.hexdigest(), self._slice.hexdigest(), self._crc)


def hash_stream(stream: BinaryIO) -> Digests:
    """Digest everything left in `stream`."""
    hasher = Hasher()
    buf = bytearray(BLOCK_SIZE)
    view = memoryview(buf)
    while True:
        n = stream.readinto(view)  # type: ignore[attr-defined]
        if not n:
            break
        hasher.update(view[:n])
    return hasher.digests()


def hash_file(path: Path | str) -> Digests:
    with open(path, "rb", buffering=0) as stream:
        return hash_stream(stream)


def md5_file(path: Path | str) -> str:
    """Only the MD5: what the merge needs when nothing will be uploaded."""
    md5 = hashlib.md5(usedforsecurity=False)
    buf = bytearray(BLOCK_SIZE)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as stream:
        while n := stream.readinto(view):
            md5.update(view[:n])
    return md5.hexdigest()
