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

A sync that changed a few hundred records need not write 100,000 rows again: `save_delta` writes
the changes since the whole copy (all of them, so one small file replaces the last) beside it, in
`<copy>.delta`, which names the copy's stamp and its own. A reader takes the copy alone when the
copy's stamp is the database's, the copy and the delta when the delta's is, and nothing else.
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

from msgspec import Struct

__all__ = [
    "PART_ROWS",
    "Damaged",
    "Opened",
    "Row",
    "Stamp",
    "read_frame",
    "read_parts",
    "read_rows",
    "replacing",
    "save",
    "save_delta",
    "write_frame",
]

Row = tuple[str, str, int, str, str, int, int, str, str, int]
"""One synced record as the table stores it: key, kind, size, md5, local name, local mtime, local
inode, remote name, remote id, remote mtime."""

Stamp = tuple[str, int]
"""(database id, synced-table write count): which state of which database a copy holds."""

PART_ROWS = 8192
_TAG = "pansync-synced-snapshot/2"
_DELTA_TAG = "pansync-synced-delta/1"
_FRAME = 8
"""Bytes before each frame: its length and its CRC-32, 4 bytes each, little-endian."""


class Damaged(Exception):
    """A part of the copy is torn or damaged: what was read of it must be thrown away."""


def save(path: Path, stamp: Stamp, count: int, rows: Iterator[Row]) -> None:
    """Write the copy beside the database, whole or not at all (temp file, then rename), and drop
    the delta that was kept beside the last one.

    Not fsynced: after a power cut a torn copy fails a checksum and the table is read instead."""
    with replacing(path) as out:
        write_frame(out, (_TAG, stamp[0], stamp[1], count))
        _write_parts(out, rows)
    with contextlib.suppress(FileNotFoundError):
        _delta_path(path).unlink()  # left behind, it would name a stamp this copy does not have


def save_delta(path: Path, base: Stamp, stamp: Stamp, removed: Sequence[str], rows: Sequence[Row]) -> None:
    """Write what changed between the whole copy at `base` and the table at `stamp`: the keys gone
    and the rows of the keys written, all of them since `base` (this file replaces the last)."""
    with replacing(_delta_path(path)) as out:
        written = [row[0] for row in rows]
        write_frame(out, (_DELTA_TAG, base[0], base[1], stamp[1], list(removed), written))
        _write_parts(out, iter(rows))


class Opened(Struct, frozen=True):
    """A copy that holds the table at the asked stamp, still to be read."""

    base: Stamp
    """The stamp of the whole copy (the asked one, unless a delta brings it there)."""
    changed: frozenset[str]
    """The keys the delta covers (none without a delta): the next delta must cover them too."""
    parts: Iterator[tuple[Sequence[str], Sequence[Row]]]
    """(keys to drop, rows to add), a part at a time; raises `Damaged` where a part is bad."""


def read_parts(path: Path, stamp: Stamp) -> Opened | None:
    """The copy's rows, a part at a time, if the copy on disk (with its delta) holds the table at
    `stamp`; else None.

    Rows are not checked one by one: the caller's builder rejects a malformed one."""
    source = _open_frames(path)
    if source is None:
        return None
    try:
        header = read_frame(source)
        if type(header) is not tuple or len(header) != 4 or header[0] != _TAG or header[1] != stamp[0]:
            source.close()
            return None
        base: Stamp = (header[1], header[2])
        count = header[3]
        delta = None if base == stamp else _read_delta_header(path, base, stamp)
        if type(count) is not int or (base != stamp and delta is None):
            source.close()
            return None
    except (Damaged, OSError):
        source.close()
        return None
    if delta is None:
        return Opened(base, frozenset(), (((), part) for part in _parts(source, count)))
    delta_source, removed, written = delta
    changed = frozenset(removed).union(written)
    return Opened(base, changed, _with_delta(source, count, delta_source, removed, len(written)))


def read_rows(path: Path, stamp: Stamp) -> dict[str, Row] | None:
    """Every row of a copy that holds the table at `stamp`, by key (for checks); else None."""
    opened = read_parts(path, stamp)
    if opened is None:
        return None
    rows: dict[str, Row] = {}
    for removed, part in opened.parts:
        for key in removed:
            rows.pop(key, None)
        rows.update((row[0], row) for row in part)
    return rows


def _delta_path(path: Path) -> Path:
    return path.with_name(path.name + ".delta")


def _open_frames(path: Path) -> IO[bytes] | None:
    try:
        return open(path, "rb")  # closed by the parts, or by the caller
    except OSError:
        return None


def _read_delta_header(
    path: Path, base: Stamp, stamp: Stamp
) -> tuple[IO[bytes], list[str], list[str]] | None:
    source = _open_frames(_delta_path(path))
    if source is None:
        return None
    try:
        header = read_frame(source)
    except (Damaged, OSError):
        source.close()
        return None
    if (
        type(header) is not tuple
        or len(header) != 6
        or header[:4] != (_DELTA_TAG, base[0], base[1], stamp[1])
        or type(header[4]) is not list
        or type(header[5]) is not list
    ):
        source.close()
        return None
    return source, header[4], header[5]


def _with_delta(
    source: IO[bytes], count: int, delta: IO[bytes], removed: list[str], delta_count: int
) -> Iterator[tuple[Sequence[str], Sequence[Row]]]:
    with delta:
        for part in _parts(source, count):
            yield (), part
        yield removed, []
        for part in _parts(delta, delta_count):
            yield (), part


def _parts(source: IO[bytes], count: int) -> Iterator[Sequence[Row]]:
    with source:
        seen = 0
        while seen < count:
            part = read_frame(source)
            if type(part) is not list or not part:
                raise Damaged("a part of the synced snapshot is not a list of rows")
            seen += len(part)
            yield part
        if seen != count or source.read(1):
            raise Damaged(f"the synced snapshot holds more rows than the {count} it declares")


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[IO[bytes]]:
    """A file written whole under a temp name, then renamed over `path`; removed on any failure."""
    temp = path.with_name(path.name + ".tmp")
    try:
        with open(temp, "wb") as out:
            yield out
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def _write_parts(out: IO[bytes], rows: Iterator[Row]) -> None:
    while part := list(islice(rows, PART_ROWS)):
        write_frame(out, part)


def write_frame(out: IO[bytes], value: Any) -> None:
    """`value` as one `marshal` frame behind its length and CRC-32 (`read_frame` checks both)."""
    data = marshal.dumps(value)
    out.write(len(data).to_bytes(4, "little") + zlib.crc32(data).to_bytes(4, "little"))
    out.write(data)


def read_frame(source: IO[bytes]) -> Any:
    """The next frame's value; `Damaged` if it is cut short, fails its CRC-32 or does not decode."""
    head = source.read(_FRAME)
    if len(head) != _FRAME:
        raise Damaged(f"{source.name} is truncated")
    size, checksum = int.from_bytes(head[:4], "little"), int.from_bytes(head[4:], "little")
    data = source.read(size)
    if len(data) != size or zlib.crc32(data) != checksum:
        raise Damaged(f"a part of {source.name} is truncated or damaged")
    try:
        return marshal.loads(data)
    except (EOFError, ValueError, TypeError) as exc:
        raise Damaged(f"a part of {source.name} is unreadable: {exc}") from exc
