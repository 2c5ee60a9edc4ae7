"""A copy of the synced table in one `marshal` file, for the whole-tree load a full sync starts with.

The `sqlite3` module turns the million values of a 100,000-entry synced tree into Python objects in
about 0.25 s; `marshal` builds the same objects from a file in about 0.08 s. The database stays the
record: a copy is trusted only while its *stamp* (the database's random id and the count of writes
its synced table has had, kept by triggers, so any writer of any version makes an older copy stale)
is the database's, and its checksum holds. Anything else (no file, a torn or damaged one, another
database's) and the caller reads the table instead. Limit: stores and loads rows; knows no entries.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import zlib
from pathlib import Path
from typing import Any

__all__ = ["Row", "Stamp", "load", "save"]

Row = tuple[str, str, int, str, str, int, int, str, str, int]
"""One synced record as the table stores it: key, kind, size, md5, local name, local mtime, local
inode, remote name, remote id, remote mtime."""

Stamp = tuple[str, int]
"""(database id, synced-table write count): which state of which database a copy holds."""

_TAG = "pansync-synced-snapshot/1"
_LENGTH = 4
"""Bytes of the header's length, before the header."""


def save(path: Path, stamp: Stamp, rows: list[Row]) -> None:
    """Write the copy beside the database, whole or not at all (temp file, then rename).

    Not fsynced: after a power cut a torn copy fails its checksum and the table is read instead."""
    payload = marshal.dumps(rows)
    header = marshal.dumps((_TAG, stamp[0], stamp[1], len(rows), zlib.crc32(payload)))
    temp = path.with_name(path.name + ".tmp")
    try:
        with open(temp, "wb") as out:
            out.write(len(header).to_bytes(_LENGTH, "little"))
            out.write(header)
            out.write(payload)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def load(path: Path, stamp: Stamp) -> list[Row] | None:
    """The rows of the copy taken at `stamp`; None when there is none, or not that one, or it is
    damaged. Rows are not checked one by one: the caller's builder rejects a malformed one."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    size = int.from_bytes(data[:_LENGTH], "little")
    try:
        header: Any = marshal.loads(data[_LENGTH : _LENGTH + size])
        tag, db_id, writes, count, checksum = header
        if (tag, db_id, writes) != (_TAG, *stamp):
            return None
        payload = memoryview(data)[_LENGTH + size :]
        if zlib.crc32(payload) != checksum:
            return None
        rows: Any = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None
    if type(rows) is not list or len(rows) != count:
        return None
    return rows
