"""A copy of the synced table in one `marshal` file, for the whole-tree load a full sync starts with.

The `sqlite3` module turns the million values of a 100,000-entry synced tree into Python objects in
about 0.25 s; `marshal` builds the same objects from a file in about 0.08 s. The database stays the
record: a copy is trusted only while its *stamp* (the database's random id and the count of writes
its synced table has had, kept by triggers, so any writer of any version makes an older copy stale)
is the database's, and every part's checksum holds. Anything else (no file, a torn or damaged one,
another database's) and the caller reads the table instead.

The rows go in parts of `PART_ROWS`, each its own `marshal` frame: writing or reading a part at a
time keeps the transient memory to one part's tuples (the whole tree in one frame cost 60 MB more
at its peak for 100,000 entries). Limit: stores and loads rows; knows no entries.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import zlib
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import IO, Any

__all__ = ["PART_ROWS", "Damaged", "Row", "Stamp", "read_parts", "save"]

Row = tuple[str, str, int, str, str, int, int, str, str, int]
"""One synced record as the table stores it: key, kind, size, md5, local name, local mtime, local
inode, remote name, remote id, remote mtime."""

Stamp = tuple[str, int]
"""(database id, synced-table write count): which state of which database a copy holds."""

PART_ROWS = 8192
_TAG = "pansync-synced-snapshot/2"
_FRAME = 8
"""Bytes before each frame: its length and its CRC-32, 4 bytes each, little-endian."""


class Damaged(Exception):
    """A part of the copy is torn or damaged: what was read of it must be thrown away."""


def save(path: Path, stamp: Stamp, count: int, rows: Iterator[Row]) -> None:
    """Write the copy beside the database, whole or not at all (temp file, then rename).

    Not fsynced: after a power cut a torn copy fails a checksum and the table is read instead."""
    temp = path.with_name(path.name + ".tmp")
    try:
        with open(temp, "wb") as out:
            _write_frame(out, (_TAG, stamp[0], stamp[1], count))
            while part := list(islice(rows, PART_ROWS)):
                _write_frame(out, part)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def read_parts(path: Path, stamp: Stamp) -> Iterator[Sequence[Row]] | None:
    """The copy's rows, a part at a time, if the copy on disk was taken at `stamp`; else None.

    The parts raise `Damaged` where one fails its checksum or the count comes out wrong. Rows are
    not checked one by one: the caller's builder rejects a malformed one."""
    try:
        source = open(path, "rb")  # noqa: SIM115 -- closed by the parts, or below
    except OSError:
        return None
    try:
        header = _read_frame(source)
        if type(header) is not tuple or header[:3] != (_TAG, *stamp) or type(header[3]) is not int:
            source.close()
            return None
    except (Damaged, OSError):
        source.close()
        return None
    return _parts(source, header[3])


def _parts(source: IO[bytes], count: int) -> Iterator[Sequence[Row]]:
    with source:
        seen = 0
        while seen < count:
            part = _read_frame(source)
            if type(part) is not list or not part:
                raise Damaged("a part of the synced snapshot is not a list of rows")
            seen += len(part)
            yield part
        if seen != count or source.read(1):
            raise Damaged(f"the synced snapshot holds more rows than the {count} it declares")


def _write_frame(out: IO[bytes], value: Any) -> None:
    data = marshal.dumps(value)
    out.write(len(data).to_bytes(4, "little") + zlib.crc32(data).to_bytes(4, "little"))
    out.write(data)


def _read_frame(source: IO[bytes]) -> Any:
    head = source.read(_FRAME)
    if len(head) != _FRAME:
        raise Damaged("the synced snapshot is truncated")
    size, checksum = int.from_bytes(head[:4], "little"), int.from_bytes(head[4:], "little")
    data = source.read(size)
    if len(data) != size or zlib.crc32(data) != checksum:
        raise Damaged("a part of the synced snapshot is truncated or damaged")
    try:
        return marshal.loads(data)
    except (EOFError, ValueError, TypeError) as exc:
        raise Damaged(f"a part of the synced snapshot is unreadable: {exc}") from exc
