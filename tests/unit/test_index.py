"""The shared index codec (`pansync.index`) and its store (`pansync.index_store`)."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import pytest

from pansync.errors import IndexCorrupt, LockLost
from pansync.index import (
    FLAGS_MAY_IGNORE,
    FORMAT_VERSION,
    MAGIC,
    IndexEntry,
    IndexTooNew,
    SharedIndex,
    append_delta,
    decode_index,
    encode_index,
    prune_tombstones,
    read_header,
)
from pansync.index_store import INDEX_PATH, UNREADABLE, commit_index, load_index, peek_index
from pansync.lock import Lease
from pansync.model import Kind
from pansync.remote.local import LocalRemote
from tests.unit._metastore import MemoryMetaStore

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
HEADER = struct.Struct("<8sHHBBHqqQQQQ")


def entry(key: str, **kw: object) -> IndexEntry:
    base: dict[str, object] = {
        "key": key,
        "kind": Kind.FILE,
        "size": 10,
        "mtime_ns": 1_700_000_000_123_456_789,
        "md5": MD5,
        "remote_id": "123456789012345",
        "deleted": False,
        "generation": 3,
        "client_id": "client-a",
    }
    base.update(kw)
    return IndexEntry(**base)  # type: ignore[arg-type]


def index_of(*entries: IndexEntry, generation: int = 7) -> SharedIndex:
    return SharedIndex(generation, "client-a", 1_700_000_000 * 10**9, {e.key: e for e in entries})


SAMPLE = index_of(
    entry("docs"),
    entry("docs", kind=Kind.DIR, md5="", size=0),
    entry("docs/报告 2024.pdf", size=2**63 - 1, client_id="客户端-b"),
    entry("docs/old.txt", deleted=True, md5="", generation=5),
    entry("/odd/leading/slash"),
    entry("trailing/"),
    entry("zero", size=0, mtime_ns=-(2**63), generation=2**63 - 1, remote_id=""),
    entry("surrogate-\udc80-name"),
)


def resign(data: bytes, **fields: int) -> bytes:
    """Rewrite header fields and the checksum, as a (newer or hostile) writer would."""
    names = ["magic", "version", "flags", "codec", "reserved", "writer_len"]
    names += ["generation", "written_at", "count", "raw_len", "comp_len", "md5_count"]
    values = dict(zip(names, HEADER.unpack_from(data), strict=True))
    values.update(fields)
    body = HEADER.pack(*values.values()) + data[HEADER.size : -32]
    return body + hashlib.blake2b(body, digest_size=32).digest()


# -- round trip --------------------------------------------------------------------------------------


def test_round_trip_keeps_every_field_and_the_order() -> None:
    decoded = decode_index(encode_index(SAMPLE))
    assert decoded == SAMPLE
    assert list(decoded.entries) == list(SAMPLE.entries)


def test_empty_index_round_trips() -> None:
    empty = SharedIndex(0, "", 0, {})
    assert decode_index(encode_index(empty)) == empty


def test_all_directories_and_all_files_round_trip() -> None:
    dirs = index_of(*(entry(f"d{i}", kind=Kind.DIR, md5="", size=0) for i in range(50)))
    files = index_of(*(entry(f"f{i}") for i in range(50)))
    assert decode_index(encode_index(dirs)) == dirs
    assert decode_index(encode_index(files)) == files


def test_lzma_codec_round_trips() -> None:
    assert decode_index(encode_index(SAMPLE, codec="lzma", level=0)) == SAMPLE


def test_file_starts_with_magic_and_version() -> None:
    data = encode_index(SAMPLE)
    assert data.startswith(MAGIC)
    assert struct.unpack_from("<H", data, 8)[0] == FORMAT_VERSION


def test_read_header_without_the_payload() -> None:
    header = read_header(encode_index(SAMPLE))
    assert (header.generation, header.writer_id, header.entry_count) == (7, "client-a", len(SAMPLE.entries))


# -- what the encoder refuses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        entry("a\0b"),
        entry("a", md5="D41D8CD98F00B204E9800998ECF8427E"),
        entry("a", md5="d41d8cd98f00b204e9800998ecf8427"),
        entry("a", md5="g" * 32),
        entry("a", md5=" " * 32),
        entry("a", kind="file"),
        entry("a", deleted=None),
        entry("a", size=2**63),
        entry("a", mtime_ns=1.5),
        entry("a", remote_id="x\0y"),
        entry("a", client_id="c\0d"),
    ],
)
def test_encoder_refuses_what_the_format_cannot_hold(bad: IndexEntry) -> None:
    with pytest.raises(ValueError):
        encode_index(index_of(bad))


def test_encoder_refuses_an_entry_under_a_foreign_key() -> None:
    with pytest.raises(ValueError, match="own key"):
        encode_index(SharedIndex(1, "w", 0, {"x": entry("y")}))


# -- what the decoder refuses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated"),
        (MAGIC[:5], "truncated"),
        (b"PK\x03\x04 a zip file, not an index at all........................", "bad magic"),
        (b"\x00" * 200, "bad magic"),
        (MAGIC + b"\x01\x00", "truncated"),
    ],
)
def test_decoder_names_foreign_and_truncated_files(data: bytes, message: str) -> None:
    with pytest.raises(IndexCorrupt, match=message):
        decode_index(data)


def test_every_truncation_is_reported() -> None:
    data = encode_index(SAMPLE)
    for cut in range(len(data)):
        with pytest.raises(IndexCorrupt):
            decode_index(data[:cut])


def test_a_bit_flip_is_a_checksum_mismatch() -> None:
    data = bytearray(encode_index(SAMPLE))
    data[HEADER.size + 20] ^= 0x10
    with pytest.raises(IndexCorrupt, match="checksum"):
        decode_index(bytes(data))


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(IndexCorrupt, match="trailing"):
        decode_index(encode_index(SAMPLE) + b"\0")


def test_newer_format_says_upgrade() -> None:
    newer = resign(encode_index(SAMPLE), version=FORMAT_VERSION + 1)
    with pytest.raises(IndexTooNew, match=r"newer PanSync.*upgrade"):
        decode_index(newer)
    with pytest.raises(IndexTooNew):
        read_header(newer)


def test_a_newer_index_is_never_overwritten_by_a_rebuild() -> None:
    store = MemoryMetaStore()
    store.write_meta(INDEX_PATH, resign(encode_index(SAMPLE), version=FORMAT_VERSION + 1))
    state = peek_index(store)
    assert state.generation == UNREADABLE and state.too_new
    before = store.files[INDEX_PATH]
    with pytest.raises(IndexTooNew):
        commit_index(store, index_of(), expected_generation=UNREADABLE, lease=lease_on(store))
    assert store.files[INDEX_PATH] == before


def test_newer_version_with_a_bad_checksum_is_corrupt_not_newer() -> None:
    data = bytearray(encode_index(SAMPLE))
    data[8] = FORMAT_VERSION + 1
    with pytest.raises(IndexCorrupt, match="checksum"):
        decode_index(bytes(data))


def test_unknown_must_understand_flag_is_refused() -> None:
    with pytest.raises(IndexTooNew, match="upgrade"):
        decode_index(resign(encode_index(SAMPLE), flags=0x0002))


def test_unknown_may_ignore_flag_is_ignored() -> None:
    assert decode_index(resign(encode_index(SAMPLE), flags=FLAGS_MAY_IGNORE)) == SAMPLE


@pytest.mark.parametrize(
    "fields",
    [
        {"codec": 9},
        {"version": 0},
        {"count": 10**12},
        {"count": 3},
        {"raw_len": 10},
        {"md5_count": 0},
    ],
)
def test_inconsistent_headers_are_corrupt(fields: dict[str, int]) -> None:
    with pytest.raises(IndexCorrupt):
        decode_index(resign(encode_index(SAMPLE), **fields))


def test_a_payload_with_a_duplicate_key_is_corrupt() -> None:
    data = encode_index(index_of(entry("aa"), entry("ab")))
    header = HEADER.unpack_from(data)
    writer_len, comp_len = header[5], header[10]
    start = HEADER.size + writer_len
    raw = zlib.decompress(data[start : start + comp_len])
    comp = zlib.compress(raw.replace(b"aa\0ab", b"aa\0aa"))
    body = HEADER.pack(*header[:10], len(comp), header[11]) + data[HEADER.size : start] + comp
    body += data[start + comp_len : -32]
    with pytest.raises(IndexCorrupt, match="same key"):
        decode_index(body + hashlib.blake2b(body, digest_size=32).digest())


# -- tombstones ----------------------------------------------------------------------------------------


def test_prune_keeps_recent_tombstones_and_live_entries() -> None:
    index = index_of(
        entry("live", generation=1),
        entry("old", deleted=True, md5="", generation=3),
        entry("new", deleted=True, md5="", generation=9),
    )
    pruned = prune_tombstones(index, older_than_generation=5)
    assert set(pruned.entries) == {"live", "new"}
    assert pruned.generation == index.generation
    assert set(index.entries) == {"live", "old", "new"}  # the input is untouched


# -- load and commit -----------------------------------------------------------------------------------


def lease_on(store: object, client_id: str = "client-a") -> Lease:
    return Lease.acquire(store, client_id=client_id, client_name="A", ttl_s=30, settle_s=0)  # type: ignore[arg-type]


def test_load_absent_index_is_none() -> None:
    assert load_index(MemoryMetaStore()) is None
    assert peek_index(MemoryMetaStore()).generation == 0


def test_first_commit_writes_generation_one() -> None:
    store = MemoryMetaStore()
    lease = lease_on(store)
    entries = {"a": entry("a", generation=1)}
    written = commit_index(store, SharedIndex(0, "", 0, entries), expected_generation=0, lease=lease)
    assert written.generation == 1
    assert written.writer_id == "client-a"
    assert written.written_at_ns == store.now_ns
    assert load_index(store) == written


def test_commit_is_fenced_by_the_generation_it_started_from() -> None:
    store = MemoryMetaStore()
    lease = lease_on(store)
    first = commit_index(store, index_of(), expected_generation=0, lease=lease)
    before = store.files[INDEX_PATH]
    with pytest.raises(LockLost, match="expected generation 0, found generation 1"):
        commit_index(store, index_of(entry("x", generation=1)), expected_generation=0, lease=lease)
    assert store.files[INDEX_PATH] == before
    second = commit_index(store, first, expected_generation=1, lease=lease)
    assert second.generation == 2


def test_commit_refuses_after_the_lease_was_taken_over() -> None:
    store = MemoryMetaStore()
    lease = lease_on(store)
    store.advance(31)
    lease_on(store, "client-b")
    with pytest.raises(LockLost):
        commit_index(store, index_of(), expected_generation=0, lease=lease)
    assert INDEX_PATH not in store.files


def test_commit_refuses_an_expired_lease_even_before_takeover() -> None:
    store = MemoryMetaStore()
    lease = lease_on(store)
    store.advance(31)
    with pytest.raises(LockLost, match="expired"):
        commit_index(store, index_of(), expected_generation=0, lease=lease)


def test_commit_refuses_entries_from_a_future_generation() -> None:
    store = MemoryMetaStore()
    with pytest.raises(ValueError, match="beyond"):
        commit_index(store, index_of(entry("a", generation=5)), expected_generation=0, lease=lease_on(store))


def test_corrupt_index_is_reported_and_rebuilt_above_any_old_generation() -> None:
    store = MemoryMetaStore()
    store.write_meta(INDEX_PATH, b"garbage")
    with pytest.raises(IndexCorrupt, match="rebuild"):
        load_index(store)
    state = peek_index(store)
    assert state.generation == UNREADABLE and state.problem
    lease = lease_on(store)
    with pytest.raises(LockLost):
        commit_index(store, index_of(), expected_generation=0, lease=lease)
    rebuilt = commit_index(store, index_of(), expected_generation=UNREADABLE, lease=lease)
    assert rebuilt.generation == store.now_ns
    assert load_index(store) == rebuilt


def test_load_and_commit_on_a_local_folder_remote(tmp_path: Path) -> None:
    remote = LocalRemote(tmp_path)
    lease = lease_on(remote)
    entries = index_of(
        entry("docs/报告.pdf", generation=1), entry("docs", kind=Kind.DIR, md5="", generation=1)
    )
    written = commit_index(remote, entries, expected_generation=0, lease=lease)
    assert load_index(remote) == written
    assert (tmp_path / ".pansync" / ".index.dat").read_bytes().startswith(MAGIC)
    lease.release()


# -- delta segments (format v2) -----------------------------------------------------------------------


def _chain(*segments: bytes) -> bytes:
    """Segments (each up to its checksum) joined, every checksum covering the file up to it."""
    out, running = b"", hashlib.blake2b(digest_size=32)
    for body in segments:
        running.update(body)
        digest = running.copy().digest()
        running.update(digest)
        out += body + digest
    return out


def test_a_version_1_file_still_reads() -> None:
    v1 = resign(encode_index(SAMPLE), version=1)
    assert decode_index(v1) == SAMPLE
    assert read_header(v1).version == 1
    with pytest.raises(IndexCorrupt, match="trailing"):
        decode_index(_chain(v1[:-32], v1[:-32]))  # version 1 has one segment
    with pytest.raises(ValueError, match="v1 takes no delta"):
        append_delta(v1, index_of(generation=8))


def test_a_delta_replaces_adds_and_tombstones() -> None:
    delta = SharedIndex(
        8,
        "client-b",
        1_700_000_001 * 10**9,
        {
            "docs/报告 2024.pdf": entry("docs/报告 2024.pdf", deleted=True, md5="", size=0, generation=8),
            "新文件.txt": entry("新文件.txt", generation=8, client_id="client-b"),
        },
    )
    data = append_delta(encode_index(SAMPLE), delta)
    decoded = decode_index(data)
    assert decoded.generation == 8 and decoded.writer_id == "client-b"
    assert decoded.entries["docs/报告 2024.pdf"].deleted
    assert decoded.entries["新文件.txt"].client_id == "client-b"
    assert list(decoded.entries)[-1] == "新文件.txt" and len(decoded.entries) == len(SAMPLE.entries) + 1
    header = read_header(data)
    assert (header.generation, header.segments, header.delta_entries) == (8, 2, 2)
    assert header.entry_count == len(SAMPLE.entries)


def test_segments_out_of_order_are_corrupt() -> None:
    base = encode_index(SAMPLE)[:-32]
    delta = append_delta(encode_index(SAMPLE), index_of(entry("x", generation=8), generation=8))
    delta_body = delta[len(base) + 32 : -32]
    with pytest.raises(IndexCorrupt, match="second base segment"):
        decode_index(_chain(base, base))
    with pytest.raises(IndexCorrupt, match="a delta segment at byte 0"):
        decode_index(_chain(delta_body))
    with pytest.raises(ValueError, match="cannot follow generation 8"):
        append_delta(delta, index_of(generation=8))
    stale = bytearray(delta_body)
    struct.pack_into("<q", stale, 16, 7)  # the delta's generation, no longer above the base's 7
    with pytest.raises(IndexCorrupt, match="follows generation 7"):
        decode_index(_chain(base, bytes(stale)))
    beyond = append_delta(encode_index(SAMPLE), index_of(entry("x", generation=9), generation=8))
    with pytest.raises(IndexCorrupt, match="generation above its segment"):
        decode_index(beyond)


def test_a_newer_pansync_sees_every_segment_checked() -> None:
    """Each segment's checksum covers the file up to it: the last 32 bytes check the whole file,
    as the compatibility rule promises every reader, and a damaged base is found even when the
    last segment is intact."""
    data = bytearray(append_delta(encode_index(SAMPLE), index_of(entry("x", generation=8), generation=8)))
    assert hashlib.blake2b(bytes(data[:-32]), digest_size=32).digest() == bytes(data[-32:])
    data[HEADER.size + 20] ^= 0xFF  # inside the base's payload
    with pytest.raises(IndexCorrupt, match="checksum"):
        decode_index(bytes(data))
