"""`index`: the codec of the shared index `.pansync/.index.dat` (DESIGN.md §3, docs/index-format.md).

The shared index is the synced state every client agreed on. This module turns a `SharedIndex` into
bytes and back, and does nothing else: no remote, no lock, no clock (`index_store` does the I/O and
the fencing). Its one promise to callers is that `decode_index` raises `IndexCorrupt` and nothing
else for any bytes at all, so a damaged, truncated or foreign file is rebuilt from a listing instead
of crashing the agent (and a newer-format one, `IndexTooNew`, is reported, never overwritten).

The payload is columnar (one array per field) because an index of a million entries must encode and
decode in a few seconds of pure Python: every per-entry step below is a C-level `map`/`join`/`array`
pass, and the decoded entries stay in those columns (`index_table.IndexTable`).

Since format version 2 a file is a base segment followed by delta segments (`append_delta`): a
commit that changed a few hundred entries of 100,000 appends them instead of decoding and encoding
the whole index again (0.35 s and ~50 MB at that size). Each segment ends with the BLAKE2b of the
whole file up to there, so the last 32 bytes still check everything before them.
"""

from __future__ import annotations

import array
import hashlib
import lzma
import struct
import sys
import zlib
from collections import deque
from collections.abc import Mapping
from itertools import compress
from typing import Any, Literal

from msgspec import Struct, field

from pansync.errors import IndexCorrupt
from pansync.index_table import F_DELETED, F_DIR, F_MD5, U32, IndexEntry, IndexTable

__all__ = [
    "FLAGS_MAY_IGNORE",
    "FORMAT_VERSION",
    "MAGIC",
    "IndexEntry",
    "IndexHeader",
    "IndexTable",
    "IndexTooNew",
    "SharedIndex",
    "append_delta",
    "decode_index",
    "encode_index",
    "prune_tombstones",
    "read_header",
]

MAGIC = b"\x89PSI\r\n\x1a\n"
"""PNG-style: a non-ASCII first byte, then bytes that text-mode transfers and 7-bit channels mangle."""

FORMAT_VERSION = 2
"""The newest format this code writes and reads; readers accept every version from 1 to this one.
Version 2 added delta segments (`FLAG_DELTA`); version 1 files are one base segment."""

FLAGS_MAY_IGNORE = 0xFF00
"""Header flag bits an older reader may ignore (hints); an unknown bit outside this mask is refused."""

FLAG_DELTA = 0x0001
"""A segment's header flag: its entries replace or add to those of the segments before it."""

_FLAGS_KNOWN = FLAG_DELTA
"""Header flag bits this version understands."""

_HEADER = struct.Struct("<8sHHBBHqqQQQQ")
_PRELUDE = struct.Struct("<IQQQ")
_CHECKSUM_SIZE = 32
_CODECS: dict[str, int] = {"zlib": 1, "lzma": 2}
_PER_ENTRY_FIXED = 4 + 1 + 8 + 8 + 8
"""Bytes every entry takes in the fixed-width columns (client index, flags, 3 x int64)."""

_ENTRY_FLAGS_KNOWN = F_DIR | F_DELETED | F_MD5
_HAS_MD5_TABLE = bytes(1 if b & F_MD5 else 0 for b in range(256))


class IndexTooNew(IndexCorrupt):
    """The index needs a newer PanSync: unreadable here, and never to be overwritten from here.

    A subclass so the worker can tell it from damage: rebuilding a damaged index is safe, but
    rebuilding over a newer one would throw away what newer clients recorded.
    """

    title = "Shared index needs a newer PanSync"


_BIG_ENDIAN_HOST = sys.byteorder == "big"


class SharedIndex(Struct):
    """The whole shared index: a header (who wrote which generation, when) and the entries by key."""

    generation: int
    writer_id: str
    written_at_ns: int
    entries: Mapping[str, IndexEntry] = field(default_factory=dict)
    """Decoded, an `IndexTable` (columns, an entry object made per lookup); built, any mapping."""


class IndexHeader(Struct, frozen=True):
    """The verified header alone: enough for fencing and for a cheap "has it changed?" check."""

    version: int
    flags: int
    generation: int
    writer_id: str
    written_at_ns: int
    entry_count: int
    """Entries of the base segment; the deltas' entries are `delta_entries`."""
    segments: int = 1
    delta_entries: int = 0
    """Entries in the delta segments together (a key changed twice counts twice)."""


def _le(arr: array.array[int]) -> bytes:
    if _BIG_ENDIAN_HOST:  # pragma: no cover - the format is little-endian everywhere
        arr = array.array(arr.typecode, arr)  # a copy: the caller's table stays in host order
        arr.byteswap()
    return arr.tobytes()


_JOIN_SLICE = 8192
"""Strings joined and encoded at a time: 100,000 keys at once were an 8 MB text beside its 8 MB
encoding, at the commit's peak of memory."""


def _join_strings(values: list[str], what: str) -> bytes:
    """Join with NUL separators; NUL inside a value would shift every later entry, so refuse it."""
    parts = []
    for start in range(0, len(values), _JOIN_SLICE):
        chunk = values[start : start + _JOIN_SLICE]
        joined = "\0".join(chunk)
        if joined.count("\0") != len(chunk) - 1:
            raise ValueError(f"index {what} must not contain NUL characters")
        parts.append(joined.encode("utf-8", "surrogatepass"))
    return b"\0".join(parts)


def encode_index(index: SharedIndex, *, codec: Literal["zlib", "lzma"] = "zlib", level: int = 1) -> bytes:
    """Serialize `index` as one base segment; raises ValueError (and writes nothing) for entries
    the format cannot hold.

    zlib level 1 is the default by measurement (bench/index_bench.py, docs/index-format.md): on a
    million entries it is several times faster than level 6 or lzma for a file a little larger.
    MD5s are random bytes, so their column is stored as is rather than fed to the compressor.
    """
    body = _segment(index, 0, codec, level)
    checksum = hashlib.blake2b(digest_size=_CHECKSUM_SIZE)
    for part in body:
        checksum.update(part)
    return b"".join([*body, checksum.digest()])  # one copy of the file, not two


def append_delta(
    data: bytes, delta: SharedIndex, *, codec: Literal["zlib", "lzma"] = "zlib", level: int = 1
) -> bytes:
    """`data`, a whole index file, with `delta` appended as a delta segment: its entries replace
    those of the same keys and add the others. `delta.generation` must be above the file's.

    `data` is verified first (`IndexCorrupt`): a damaged file is never extended. ValueError (and
    nothing returned) for a delta the format cannot hold."""
    layouts, checksum = _verified_segments(bytes(data))
    if layouts[0].header.version != FORMAT_VERSION:
        raise ValueError(f"an index of format v{layouts[0].header.version} takes no delta: write it whole")
    if delta.generation <= layouts[-1].header.generation:
        raise ValueError(
            f"a delta of generation {delta.generation} cannot follow generation "
            f"{layouts[-1].header.generation}"
        )
    body = _segment(delta, FLAG_DELTA, codec, level)
    for part in body:
        checksum.update(part)
    return b"".join([data, *body, checksum.digest()])


def _segment(index: SharedIndex, segment_flags: int, codec: str, level: int) -> list[bytes]:
    """A segment's bytes up to its checksum: header, writer id, payload, MD5 column."""
    columns = IndexTable.of(index.entries).columns()
    n = len(columns.keys)
    md5s = columns.md5s
    if not set(map(len, md5s)) <= {0, 32}:
        raise ValueError("index entry md5 must be 32 lowercase hex digits or empty")
    md5_hex = "".join(md5s)
    try:
        md5_raw = bytes.fromhex(md5_hex)
    except ValueError:
        md5_raw = b""
    if len(md5_raw) * 2 != len(md5_hex) or md5_hex != md5_hex.lower():
        raise ValueError("index entry md5 must be 32 lowercase hex digits or empty")
    flags = bytes(columns.flags)
    with_md5 = flags.translate(_HAS_MD5_TABLE).count(1)
    if max(flags, default=0) > _ENTRY_FLAGS_KNOWN or with_md5 != len(md5_raw) // 16:
        raise ValueError("index entry flags do not match its md5 column")

    blobs = [
        _join_strings(columns.clients, "client ids"),
        _join_strings(columns.keys, "keys"),
        _join_strings(columns.remote_ids, "remote ids"),
    ]
    parts = [
        _PRELUDE.pack(len(columns.clients), *map(len, blobs)),
        *blobs,
        _le(columns.client_idx),
        flags,
        _le(columns.sizes),
        _le(columns.mtimes),
        _le(columns.generations),
    ]
    del blobs
    raw_len = sum(map(len, parts))
    payload = _compress(parts, codec, level)
    writer = index.writer_id.encode("utf-8", "surrogatepass")
    if len(writer) > 0xFFFF:
        raise ValueError("index writer id is too long")
    try:
        header = _HEADER.pack(
            MAGIC,
            FORMAT_VERSION,
            segment_flags,
            _CODECS[codec],
            0,
            len(writer),
            index.generation,
            index.written_at_ns,
            n,
            raw_len,
            len(payload),
            len(md5_raw) // 16,
        )
    except struct.error as exc:
        raise ValueError(f"index generation or written_at_ns out of range: {exc}") from exc
    return [header, writer, payload, md5_raw]


def _compress(parts: list[bytes], codec: str, level: int) -> bytes:
    """The parts compressed as one stream, each freed once fed: the whole uncompressed payload
    (12 MB for 100,000 entries) is never in memory at once. Empties `parts`."""
    compressor: zlib._Compress | lzma.LZMACompressor
    if codec == "zlib":
        compressor = zlib.compressobj(level)
    elif codec == "lzma":
        compressor = lzma.LZMACompressor(preset=level)
    else:
        raise ValueError(f"unknown index codec {codec!r}")
    parts.reverse()
    compressed = []
    while parts:
        compressed.append(compressor.compress(parts.pop()))
    compressed.append(compressor.flush())
    return b"".join(compressed)


def _corrupt(detail: str) -> IndexCorrupt:
    return IndexCorrupt(
        f"{detail}; PanSync will rebuild the shared index from a listing (nothing is deleted)"
    )


class _Layout(Struct, frozen=True):
    header: IndexHeader
    codec: int
    payload: slice
    raw_len: int
    md5s: slice


def _verified_segments(data: bytes) -> tuple[list[_Layout], Any]:
    """Validate every segment but its payload: where each part lies, and the running BLAKE2b of
    the whole file (to append to). Raises `IndexCorrupt` (`IndexTooNew`) only, whatever the bytes."""
    size = len(data)
    if size < len(MAGIC):
        if MAGIC.startswith(data):
            raise _corrupt(f"index file is truncated ({size} bytes)")
        raise _corrupt("not a PanSync index (bad magic number)")
    if data[: len(MAGIC)] != MAGIC:
        raise _corrupt("not a PanSync index (bad magic number)")
    if size < _HEADER.size + _CHECKSUM_SIZE:
        raise _corrupt(f"index file is truncated ({size} bytes, the header alone is {_HEADER.size})")
    version = _HEADER.unpack_from(data)[1]
    if version > FORMAT_VERSION:
        # The last 32 bytes are the BLAKE2b of everything before them in every version, so a
        # reader can tell a newer file from a damaged one without understanding the newer header.
        whole = hashlib.blake2b(memoryview(data)[:-_CHECKSUM_SIZE], digest_size=_CHECKSUM_SIZE)
        if whole.digest() == data[-_CHECKSUM_SIZE:]:
            raise IndexTooNew(
                f"index format v{version} was written by a newer PanSync (this one reads up to "
                f"v{FORMAT_VERSION}); upgrade PanSync on this machine"
            )
        raise _corrupt(f"index header says format v{version} but its checksum does not match")
    if version < 1:
        raise _corrupt(f"index format version {version} does not exist")
    checksum = hashlib.blake2b(digest_size=_CHECKSUM_SIZE)
    layouts: list[_Layout] = []
    view = memoryview(data)
    at = 0
    while at < size:
        layout = _segment_at(data, at, version, layouts[-1].header.generation if layouts else None)
        end = layout.md5s.stop
        checksum.update(view[at:end])
        if checksum.copy().digest() != data[end : end + _CHECKSUM_SIZE]:
            raise _corrupt("index checksum mismatch (the file was damaged or only partly written)")
        checksum.update(view[end : end + _CHECKSUM_SIZE])
        layouts.append(layout)
        at = end + _CHECKSUM_SIZE
    return layouts, checksum


def _segment_at(data: bytes, at: int, version: int, previous: int | None) -> _Layout:
    """The segment starting at `at`, its lengths and header checked (not its checksum)."""
    size = len(data)
    if size - at < _HEADER.size + _CHECKSUM_SIZE or data[at : at + len(MAGIC)] != MAGIC:
        if previous is not None and data[at:] and MAGIC.startswith(data[at : at + len(MAGIC)]):
            raise _corrupt(f"index file is truncated (a segment at byte {at} is cut short)")
        if previous is not None:
            raise _corrupt(f"index file has {size - at} unexpected trailing bytes")
        raise _corrupt(f"index file is truncated ({size} bytes)")
    (_, seg_version, flags, codec, _, writer_len, generation, written_at, count, raw_len, comp_len, n_md5) = (
        _HEADER.unpack_from(data, at)
    )
    payload_at = at + _HEADER.size + writer_len
    md5_at = payload_at + comp_len
    expected = md5_at + 16 * n_md5 + _CHECKSUM_SIZE
    if size < expected:
        raise _corrupt(f"index file is truncated ({size} of {expected} bytes)")
    if version == 1 and size > expected:
        raise _corrupt(f"index file has {size - expected} unexpected trailing bytes")
    if seg_version != version:
        raise _corrupt(f"index segment at byte {at} says format v{seg_version}, the file v{version}")
    unknown = flags & ~_FLAGS_KNOWN & ~FLAGS_MAY_IGNORE
    if unknown:
        raise IndexTooNew(
            f"index uses features this PanSync does not know (flags 0x{unknown:04x}); upgrade PanSync"
        )
    if bool(flags & FLAG_DELTA) != (previous is not None):
        what = "a delta segment" if previous is None else "a second base segment"
        raise _corrupt(f"index file has {what} at byte {at}")
    if previous is not None and generation <= previous:
        raise _corrupt(f"index delta segment of generation {generation} follows generation {previous}")
    if codec not in _CODECS.values():
        raise _corrupt(f"index uses unknown compression {codec}")
    if raw_len < _PRELUDE.size + count * _PER_ENTRY_FIXED or n_md5 > count:
        raise _corrupt(f"index claims {count} entries in only {raw_len} bytes")
    try:
        writer = data[at + _HEADER.size : payload_at].decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise _corrupt("index writer id is not UTF-8") from exc
    return _Layout(
        IndexHeader(seg_version, flags, generation, writer, written_at, count),
        codec,
        slice(payload_at, md5_at),
        raw_len,
        slice(md5_at, md5_at + 16 * n_md5),
    )


def read_header(data: bytes) -> IndexHeader:
    """Verify magic, version, flags, lengths and checksum, and return the header without unpacking.

    Raises `IndexCorrupt` only. Cheaper than `decode_index` by the whole payload decode, so
    fencing re-reads and remote polls use it.
    """
    try:
        layouts, _ = _verified_segments(bytes(data))
        base, last = layouts[0].header, layouts[-1].header
        return IndexHeader(
            base.version,
            base.flags,
            last.generation,
            last.writer_id,
            last.written_at_ns,
            base.entry_count,
            len(layouts),
            sum(layout.header.entry_count for layout in layouts[1:]),
        )
    except IndexCorrupt:
        raise
    except Exception as exc:  # a backstop: the promise is "IndexCorrupt, whatever the bytes"
        raise _corrupt(f"index header is unreadable ({type(exc).__name__})") from exc


def decode_index(data: bytes) -> SharedIndex:
    """Parse bytes written by `encode_index` of this or an older version.

    Raises `IndexCorrupt` with a message saying what is wrong, and no other exception, whatever
    the bytes: corrupt, truncated, foreign, newer-format and checksum-mismatched data all end here.
    """
    try:
        data = bytes(data)
        layouts, _ = _verified_segments(data)
        entries = _decode_segment(data, layouts[0])
        for delta in layouts[1:]:
            entries.update(_decode_segment(data, delta), at_most=delta.header.generation)
        last = layouts[-1].header
        return SharedIndex(last.generation, last.writer_id, last.written_at_ns, entries)
    except IndexCorrupt:
        raise
    except Exception as exc:  # a backstop: the promise is "IndexCorrupt, whatever the bytes"
        raise _corrupt(f"index payload is unreadable ({type(exc).__name__}: {exc})") from exc


def _decode_segment(data: bytes, layout: _Layout) -> IndexTable:
    raw = _decompress(memoryview(data)[layout.payload], layout.codec, layout.raw_len)
    return _decode_entries(raw, data[layout.md5s], layout.header.entry_count)


def _decompress(payload: memoryview, codec: int, raw_len: int) -> bytes:
    """Decompress at most `raw_len` bytes, so a hostile payload cannot balloon memory."""
    if codec == _CODECS["zlib"]:
        z = zlib.decompressobj()
        raw = z.decompress(payload, raw_len)
        complete = z.eof and not z.unconsumed_tail and not z.unused_data
    else:
        x = lzma.LZMADecompressor()
        raw = x.decompress(payload, raw_len)
        complete = x.eof and not x.unused_data
    if not complete or len(raw) != raw_len:
        raise _corrupt("index payload does not decompress to its declared length")
    return raw


def _strings(blob: memoryview, count: int, what: str) -> list[str]:
    if count == 0:
        if blob:
            raise _corrupt(f"index {what} table has data but no entries")
        return []
    parts = str(blob, "utf-8", "surrogatepass").split("\0")
    if len(parts) != count:
        raise _corrupt(f"index {what} table holds {len(parts)} strings, expected {count}")
    return parts


def _int_array(code: str, raw: memoryview, start: int, count: int) -> tuple[array.array[int], int]:
    arr = array.array(code)
    end = start + count * arr.itemsize
    arr.frombytes(raw[start:end])
    if _BIG_ENDIAN_HOST:  # pragma: no cover
        arr.byteswap()
    return arr, end


def _decode_entries(whole: bytes, md5_raw: bytes, n: int) -> IndexTable:
    raw = memoryview(whole)  # slices of it are views: the tables are not copied before decoding
    n_clients, len_clients, len_keys, len_rids = _PRELUDE.unpack_from(raw)
    expected = _PRELUDE.size + len_clients + len_keys + len_rids + n * _PER_ENTRY_FIXED
    if expected != len(raw):
        raise _corrupt(f"index payload is {len(raw)} bytes, its tables add up to {expected}")
    pos = _PRELUDE.size
    clients = _strings(raw[pos : pos + len_clients], n_clients, "client id")
    pos += len_clients
    keys = _strings(raw[pos : pos + len_keys], n, "key")
    pos += len_keys
    remote_ids = _strings(raw[pos : pos + len_rids], n, "remote id")
    pos += len_rids
    client_idx, pos = _int_array(U32, raw, pos, n)
    flags = bytes(raw[pos : pos + n])
    pos += n
    sizes, pos = _int_array("q", raw, pos, n)
    mtimes, pos = _int_array("q", raw, pos, n)
    generations, pos = _int_array("q", raw, pos, n)
    if n == 0:
        return IndexTable.empty()
    if max(client_idx) >= n_clients:
        raise _corrupt("index entry refers past the end of the client table")
    if max(flags) > _ENTRY_FLAGS_KNOWN:
        raise _corrupt("index entry has unknown flag bits")
    has_md5 = flags.translate(_HAS_MD5_TABLE)
    n_md5 = len(md5_raw) // 16
    if has_md5.count(1) != n_md5:
        raise _corrupt("index md5 column does not match the entries that have one")

    md5_hex = md5_raw.hex()
    step = range(0, 32 * n_md5 + 1, 32)
    hexes = list(map(md5_hex.__getitem__, map(slice, step, step[1:])))
    if n_md5 == n:
        md5s = hexes
    else:
        md5s = [""] * n
        deque(map(md5s.__setitem__, compress(range(n), has_md5), hexes), maxlen=0)
    rows = dict(zip(keys, range(n), strict=True))
    if len(rows) != n:
        raise _corrupt("index holds the same key twice")
    return IndexTable(
        keys, rows, bytearray(flags), sizes, mtimes, generations, md5s, remote_ids, clients, client_idx
    )


def prune_tombstones(index: SharedIndex, older_than_generation: int) -> SharedIndex:
    """A copy of `index` without the tombstones committed before `older_than_generation`.

    Tombstones tell clients that were offline about a deletion; once every active client has seen
    a generation past the deletion they are noise. Which generation is safe is the caller's call
    (the oldest generation any non-stale client has synced, say); this helper only filters.
    """
    kept = {
        key: entry
        for key, entry in index.entries.items()
        if not (entry.deleted and entry.generation < older_than_generation)
    }
    return SharedIndex(index.generation, index.writer_id, index.written_at_ns, kept)
