"""`index_table`: the shared index's entries held as columns, the form its file already has.

A re-sync after a small change reads the whole index, changes a few hundred of its entries and
writes it back. Held as one `IndexEntry` object per path, 100,000 entries cost about 45 MB and
half a second to build, compare and take apart again; held as the file's own columns (lists of
strings, arrays of integers, a byte of flags each) they cost a third of that, and the next index
is the old columns with a few rows set, appended or dropped (`shared_index.next_entries`).

`IndexTable` is a read-only `Mapping[str, IndexEntry]` for everyone else: an entry object is made
only for the key asked for. Its few mutators are for building the next index from a copy.
"""

from __future__ import annotations

import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import compress, repeat
from operator import attrgetter, is_, ne
from typing import Protocol

from msgspec import Struct

from pansync.gc_pause import gc_paused
from pansync.model import Kind

__all__ = ["RECORD_SIGNATURE", "U32", "IndexEntry", "IndexTable", "Record"]

F_DIR, F_DELETED, F_MD5 = 1, 2, 4
"""Bits of an entry's flags byte, as stored in the file (docs/index-format.md)."""

KIND_OF_FLAGS = tuple(Kind.DIR if b & F_DIR else Kind.FILE for b in range(256))
DELETED_OF_FLAGS = tuple(bool(b & F_DELETED) for b in range(256))
_LIVE_KIND_OF_FLAGS = tuple(None if b & F_DELETED else KIND_OF_FLAGS[b] for b in range(256))
"""A tombstone's kind is None: equal to no record's."""
_SLICE = 8192


def _u32_code() -> str:
    for code in ("I", "L"):
        if array.array(code).itemsize == 4:
            return code
    raise ImportError("no 4-byte unsigned array type on this platform")  # pragma: no cover


U32 = _u32_code()


class IndexEntry(Struct, frozen=True):
    """One path in the shared index: what the last committing client agreed the path is.

    `md5` is 32 lowercase hex digits for files ("" for directories and tombstones). `deleted` marks
    a tombstone, kept for a while so that other clients learn of the deletion instead of
    re-uploading the file. `generation` and `client_id` name the commit that last changed the entry.
    """

    key: str
    kind: Kind
    size: int
    mtime_ns: int
    md5: str
    remote_id: str
    deleted: bool
    generation: int
    client_id: str


class Record(Protocol):
    """What a live row is made from: a synced record (`model.SyncedEntry`) has these fields."""

    @property
    def kind(self) -> Kind: ...
    @property
    def size(self) -> int: ...
    @property
    def remote_mtime_ns(self) -> int: ...
    @property
    def md5(self) -> str: ...
    @property
    def remote_id(self) -> str: ...


RECORD_SIGNATURE = attrgetter("md5", "remote_id", "size", "remote_mtime_ns", "kind")
"""The fields of a synced record the index keeps: what must match for a record to leave its row
as it is (`IndexTable.differing`, `shared_index.changed_entries`)."""


def _flags(kind: Kind, md5: str, deleted: bool) -> int:
    return (F_DIR if kind is Kind.DIR else 0) | (F_DELETED if deleted else 0) | (F_MD5 if md5 else 0)


def _flag_column(kinds: list[Kind], md5s: list[str], deleted: list[bool]) -> bytearray:
    """`_flags` of every entry, by three C-level passes: each pass yields bytes of 0 or 1, so the
    shifted integers never carry into a neighbouring byte."""
    n = len(kinds)
    return bytearray(
        (
            int.from_bytes(bytes(map(is_, kinds, repeat(Kind.DIR))), "little")
            | int.from_bytes(bytes(map(bool, deleted)), "little") << 1
            | int.from_bytes(bytes(map(bool, md5s)), "little") << 2
        ).to_bytes(n, "little")
    )


def _int_array(code: str, values: Iterable[int], what: str) -> array.array[int]:
    try:
        return array.array(code, values)
    except (OverflowError, TypeError) as exc:
        raise ValueError(f"index entry {what} must be an integer in range: {exc}") from exc


class IndexTable(Mapping[str, IndexEntry]):
    """The entries of one shared index, column by column, in file order."""

    __slots__ = (
        "_client_idx",
        "_client_pos",
        "_clients",
        "_flags",
        "_gens",
        "_keys",
        "_md5s",
        "_mtimes",
        "_rids",
        "_rows",
        "_sizes",
    )

    def __init__(
        self,
        keys: list[str],
        rows: dict[str, int],
        flags: bytearray,
        sizes: array.array[int],
        mtimes: array.array[int],
        generations: array.array[int],
        md5s: list[str],
        remote_ids: list[str],
        clients: list[str],
        client_idx: array.array[int],
    ) -> None:
        """Columns of equal length; `rows` maps each key to its position. Not checked here: the
        decoder and `from_entries` check what they are given, the encoder what it writes."""
        self._keys = keys
        self._rows: dict[str, int] | None = rows
        """Key to row; None until asked for after `append_records` filled an empty table (a first
        commit only encodes its rows: a 100,000-key map was 8 MB at the commit's peak)."""
        self._flags = flags
        self._sizes = sizes
        self._mtimes = mtimes
        self._gens = generations
        self._md5s = md5s
        self._rids = remote_ids
        self._clients = clients
        self._client_idx = client_idx
        self._client_pos = {c: i for i, c in enumerate(clients)}

    @classmethod
    def empty(cls) -> IndexTable:
        return cls(
            [],
            {},
            bytearray(),
            array.array("q"),
            array.array("q"),
            array.array("q"),
            [],
            [],
            [],
            array.array(U32),
        )

    @classmethod
    def of(cls, entries: Mapping[str, IndexEntry]) -> IndexTable:
        """`entries` themselves when they are a table, else the table built from them."""
        return entries if isinstance(entries, IndexTable) else cls.from_entries(entries)

    @classmethod
    def from_entries(cls, entries: Mapping[str, IndexEntry]) -> IndexTable:
        """A new table of `entries`; ValueError for an entry the file format cannot hold."""
        values = list(entries.values())
        keys = list(map(attrgetter("key"), values))
        if keys != list(entries):
            raise ValueError("every index entry must be stored under its own key")
        kinds = list(map(attrgetter("kind"), values))
        # Identity tests and list.count stay in C; hashing an Enum member would call Python code.
        if kinds.count(Kind.FILE) + kinds.count(Kind.DIR) != len(values):
            raise ValueError("index entry kind must be a Kind")
        deleted = list(map(attrgetter("deleted"), values))
        if deleted.count(True) + deleted.count(False) != len(values):
            raise ValueError("index entry deleted must be a bool")
        md5s = list(map(attrgetter("md5"), values))
        client_ids = list(map(attrgetter("client_id"), values))
        clients = list(dict.fromkeys(client_ids))
        position = {c: i for i, c in enumerate(clients)}
        return cls(
            keys,
            dict(zip(keys, range(len(keys)), strict=True)),
            _flag_column(kinds, md5s, deleted),
            _int_array("q", map(attrgetter("size"), values), "size"),
            _int_array("q", map(attrgetter("mtime_ns"), values), "mtime_ns"),
            _int_array("q", map(attrgetter("generation"), values), "generation"),
            md5s,
            list(map(attrgetter("remote_id"), values)),
            clients,
            array.array(U32, map(position.__getitem__, client_ids)),
        )

    def copy(self) -> IndexTable:
        """A table sharing nothing mutable with this one (the strings are shared: they are immutable)."""
        return IndexTable(
            self._keys.copy(),
            self._row_map().copy(),
            self._flags.copy(),
            array.array("q", self._sizes),
            array.array("q", self._mtimes),
            array.array("q", self._gens),
            self._md5s.copy(),
            self._rids.copy(),
            self._clients.copy(),
            array.array(U32, self._client_idx),
        )

    # -- the Mapping ---------------------------------------------------------------------------------

    def __getitem__(self, key: str) -> IndexEntry:
        return self.entry_at(self._row_map()[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._row_map()

    def entry_at(self, row: int) -> IndexEntry:
        flags = self._flags[row]
        return IndexEntry(
            self._keys[row],
            KIND_OF_FLAGS[flags],
            self._sizes[row],
            self._mtimes[row],
            self._md5s[row],
            self._rids[row],
            DELETED_OF_FLAGS[flags],
            self._gens[row],
            self._clients[self._client_idx[row]],
        )

    # -- what the next index is built from -----------------------------------------------------------

    @property
    def rows(self) -> Mapping[str, int]:
        """Key to row; its `keys()` is a set view for C-level set differences."""
        return self._row_map()

    def _row_map(self) -> dict[str, int]:
        if self._rows is None:
            self._rows = dict(zip(self._keys, range(len(self._keys)), strict=True))
        return self._rows

    def newest_generation(self) -> int:
        return max(self._gens, default=0)

    def deleted_at(self, row: int) -> bool:
        return DELETED_OF_FLAGS[self._flags[row]]

    def mtime_at(self, row: int) -> int:
        return self._mtimes[row]

    def differing(self, keys: Sequence[str], records: Sequence[Record]) -> list[int]:
        """Positions in `keys` whose record does not match a live row (or has no row at all).

        C-level passes over tuples instead of 100,000 Python-level comparisons, a slice of keys at
        a time so that the tuples of only one slice are alive at once."""
        if not self._keys:
            return list(range(len(keys)))
        columns = (self._md5s, self._rids, self._sizes, self._mtimes, self._flags)
        sentinel = ("", "", 0, 0, F_DELETED)  # row `len(self)`: the row of keys the table lacks
        missing = len(self._keys)
        for column, value in zip(columns, sentinel, strict=True):
            column.append(value)  # type: ignore[attr-defined]
        try:
            with gc_paused():  # the tuples would set off collections of the whole heap
                return list(self._differing(keys, records, missing))
        finally:
            for column in columns:
                column.pop()

    def _differing(self, keys: Sequence[str], records: Sequence[Record], missing: int) -> Iterator[int]:
        rows, md5s, rids, sizes, mtimes, flags = (
            self._row_map(),
            self._md5s,
            self._rids,
            self._sizes,
            self._mtimes,
            self._flags,
        )
        for start in range(0, len(keys), _SLICE):
            at = list(map(rows.get, keys[start : start + _SLICE], repeat(missing)))
            mine = zip(
                map(md5s.__getitem__, at),
                map(rids.__getitem__, at),
                map(sizes.__getitem__, at),
                map(mtimes.__getitem__, at),
                map(_LIVE_KIND_OF_FLAGS.__getitem__, map(flags.__getitem__, at)),
                strict=True,
            )
            theirs = map(RECORD_SIGNATURE, records[start : start + _SLICE])
            yield from compress(range(start, start + len(at)), map(ne, mine, theirs))

    def set_row(
        self,
        row: int,
        kind: Kind,
        size: int,
        mtime_ns: int,
        md5: str,
        remote_id: str,
        deleted: bool,
        generation: int,
        client_id: str,
    ) -> None:
        try:
            self._sizes[row], self._mtimes[row], self._gens[row] = size, mtime_ns, generation
        except (OverflowError, TypeError) as exc:
            raise ValueError(f"index entry {self._keys[row]!r}: an integer out of range: {exc}") from exc
        self._flags[row] = _flags(kind, md5, deleted)
        self._md5s[row] = md5
        self._rids[row] = remote_id
        self._client_idx[row] = self._client(client_id)

    def append_records(
        self, keys: Sequence[str], records: Sequence[Record], generation: int, client_id: str
    ) -> None:
        """New live rows for keys the table lacks, column by column."""
        if not keys:
            return
        start = len(self._keys)
        self._keys.extend(keys)
        if start == 0 and len(set(keys)) == len(keys):
            self._rows = None  # made again when asked for
        else:
            rows = self._row_map()
            rows.update(zip(keys, range(start, start + len(keys)), strict=True))
        if self._rows is not None and len(self._rows) != len(self._keys):
            raise ValueError("index rows appended for keys the table already holds")
        md5s = list(map(attrgetter("md5"), records))
        self._flags.extend(map(_flags, map(attrgetter("kind"), records), md5s, repeat(False)))
        self._sizes.extend(_int_array("q", map(attrgetter("size"), records), "size"))
        self._mtimes.extend(_int_array("q", map(attrgetter("remote_mtime_ns"), records), "mtime_ns"))
        self._gens.extend(repeat(generation, len(keys)))
        self._md5s.extend(md5s)
        self._rids.extend(map(attrgetter("remote_id"), records))
        self._client_idx.extend(repeat(self._client(client_id), len(keys)))

    def update(self, delta: IndexTable, *, at_most: int) -> None:
        """Apply a delta segment: its rows replace the rows of the same keys, the others are
        appended. ValueError for a row claiming a generation above `at_most` (its segment's)."""
        if max(delta._gens, default=at_most) > at_most:
            raise ValueError(f"an index delta entry claims a generation above its segment's {at_most}")
        rows = self._row_map()
        for row in range(len(delta)):
            e = delta.entry_at(row)
            at = rows.get(e.key)
            if at is None:
                at = rows[e.key] = len(self._keys)
                self._keys.append(e.key)
                self._flags.append(0)
                self._sizes.append(0)
                self._mtimes.append(0)
                self._gens.append(0)
                self._md5s.append("")
                self._rids.append("")
                self._client_idx.append(0)
            self.set_row(
                at, e.kind, e.size, e.mtime_ns, e.md5, e.remote_id, e.deleted, e.generation, e.client_id
            )

    def drop_rows(self, rows: Iterable[int]) -> None:
        gone = set(rows)
        if not gone:
            return
        keep = [i not in gone for i in range(len(self._keys))]
        self._keys = list(compress(self._keys, keep))
        self._rows = dict(zip(self._keys, range(len(self._keys)), strict=True))
        self._flags = bytearray(compress(self._flags, keep))
        self._sizes = array.array("q", compress(self._sizes, keep))
        self._mtimes = array.array("q", compress(self._mtimes, keep))
        self._gens = array.array("q", compress(self._gens, keep))
        self._md5s = list(compress(self._md5s, keep))
        self._rids = list(compress(self._rids, keep))
        self._client_idx = array.array(U32, compress(self._client_idx, keep))

    def _client(self, client_id: str) -> int:
        position = self._client_pos.get(client_id)
        if position is None:
            position = self._client_pos[client_id] = len(self._clients)
            self._clients.append(client_id)
        return position

    # -- what the encoder writes -----------------------------------------------------------------------

    def columns(self) -> IndexColumns:
        """The columns as the file stores them, the client table reduced to the clients in use."""
        clients, client_idx = self._clients, self._client_idx
        used = set(client_idx)
        if len(used) < len(clients):
            kept = sorted(used)
            renumber = dict(zip(kept, range(len(kept)), strict=True))
            clients = [clients[i] for i in kept]
            client_idx = array.array(U32, map(renumber.__getitem__, client_idx))
        return IndexColumns(
            self._keys,
            self._flags,
            self._sizes,
            self._mtimes,
            self._gens,
            self._md5s,
            self._rids,
            clients,
            client_idx,
        )


class IndexColumns(Struct, frozen=True):
    """An index's columns in file order (`IndexTable.columns`, `index.encode_index`)."""

    keys: list[str]
    flags: bytearray
    sizes: array.array[int]
    mtimes: array.array[int]
    generations: array.array[int]
    md5s: list[str]
    remote_ids: list[str]
    clients: list[str]
    client_idx: array.array[int]
