"""Content digests the service keeps per file: MD5, slice-MD5, CRC32, block MD5s.

They are computed once while bytes are written, so rapidupload matching,
``block_list`` and ``md5`` fields never need to re-read a file.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

SLICE_LEN = 256 * 1024  # rapidupload's "slice-md5" covers the first 256 KiB
BLOCK_LEN = 4 * 1024 * 1024  # block_list granularity for plain uploads [3p: xpan 4 MB blocks]


@dataclass
class Digests:
    """Final digests of one stream of bytes."""

    size: int
    md5: str
    slice_md5: str
    crc32: int
    blocks: list[str] = field(default_factory=list)


class Hasher:
    """Incremental computation of :class:`Digests`."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self._slice = hashlib.md5()
        self._block = hashlib.md5()
        self._block_fill = 0
        self._blocks: list[str] = []
        self._crc = 0
        self._size = 0

    def update(self, data: bytes | memoryview) -> None:
        """Feed the next bytes."""
        mv = memoryview(data)
        self._md5.update(mv)
        self._crc = zlib.crc32(mv, self._crc)
        if self._size < SLICE_LEN:
            self._slice.update(mv[: SLICE_LEN - self._size])
        self._size += len(mv)
        while len(mv):
            take = min(len(mv), BLOCK_LEN - self._block_fill)
            self._block.update(mv[:take])
            self._block_fill += take
            mv = mv[take:]
            if self._block_fill == BLOCK_LEN:
                self._blocks.append(self._block.hexdigest())
                self._block = hashlib.md5()
                self._block_fill = 0

    def digests(self) -> Digests:
        """The digests of everything fed so far."""
        blocks = list(self._blocks)
        if self._block_fill or not blocks:
            blocks.append(self._block.hexdigest())
        return Digests(
            self._size, self._md5.hexdigest(), self._slice.hexdigest(), self._crc & 0xFFFFFFFF, blocks
        )


def copy_hashing(
    src: BinaryIO, dst: BinaryIO, length: int | None = None, chunk: int = 1024 * 1024
) -> Digests:
    """Copy ``length`` bytes (or all) from src to dst and hash them on the way."""
    h = Hasher()
    left = length
    while left is None or left > 0:
        want = chunk if left is None else min(chunk, left)
        buf = src.read(want)
        if not buf:
            break
        dst.write(buf)
        h.update(buf)
        if left is not None:
            left -= len(buf)
    return h.digests()


def hash_file(path: str) -> Digests:
    """Digests of a file on disk (used when adopting files found under root)."""
    h = Hasher()
    with open(path, "rb") as f:
        while True:
            buf = f.read(1024 * 1024)
            if not buf:
                break
            h.update(buf)
    return h.digests()
