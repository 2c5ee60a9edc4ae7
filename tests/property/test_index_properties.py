"""Properties of the shared index codec: exact round trips, and `IndexCorrupt` for any bad bytes."""

from __future__ import annotations

import contextlib
import hashlib
import struct
import zlib

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pansync.errors import IndexCorrupt
from pansync.index import IndexEntry, SharedIndex, append_delta, decode_index, encode_index, read_header
from pansync.model import Kind

HEADER = struct.Struct("<8sHHBBHqqQQQQ")
INT64 = st.integers(-(2**63), 2**63 - 1)

# Keys are NFC paths in real life, but the codec must not care: any text without NUL, including
# Chinese, emoji, and the lone surrogates `os.fsdecode` makes of non-UTF-8 names.
text = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_characters="\0"),
        st.sampled_from("/报告文件夹é\u0301\udc80\udcff"),
    ),
    max_size=40,
)
md5 = st.one_of(st.just(""), st.binary(min_size=16, max_size=16).map(bytes.hex))

entries = st.builds(
    IndexEntry,
    key=text,
    kind=st.sampled_from(Kind),
    size=st.integers(0, 2**63 - 1),
    mtime_ns=INT64,
    md5=md5,
    remote_id=text,
    deleted=st.booleans(),
    generation=INT64,
    client_id=st.one_of(st.sampled_from(["a", "b", "客户端"]), text),
)


@st.composite
def indexes(draw: st.DrawFn) -> SharedIndex:
    items = draw(st.lists(entries, max_size=30, unique_by=lambda e: e.key))
    return SharedIndex(draw(INT64), draw(text), draw(INT64), {e.key: e for e in items})


@given(indexes(), st.sampled_from(["zlib", "lzma"]))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_is_exact(index: SharedIndex, codec: str) -> None:
    decoded = decode_index(encode_index(index, codec=codec, level=1))  # type: ignore[arg-type]
    assert decoded == index
    assert list(decoded.entries) == list(index.entries)


@given(st.binary(max_size=400))
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_random_bytes_only_ever_raise_index_corrupt(data: bytes) -> None:
    with contextlib.suppress(IndexCorrupt):
        decode_index(data)


@given(indexes(), st.data())
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_truncations_and_bit_flips_are_index_corrupt(index: SharedIndex, data: st.DataObject) -> None:
    encoded = encode_index(index)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    try:
        decode_index(encoded[:cut])
        raise AssertionError("a truncated index decoded")
    except IndexCorrupt:
        pass
    flipped = bytearray(encoded)
    bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
    flipped[bit // 8] ^= 1 << (bit % 8)
    try:
        decode_index(bytes(flipped))
        raise AssertionError("a damaged index decoded")
    except IndexCorrupt:
        pass


def _resign(encoded: bytes, header: tuple[object, ...], raw: bytes, md5s: bytes) -> bytes:
    """Rebuild a file around a mutated payload with a *valid* checksum, as a buggy writer would."""
    comp = zlib.compress(raw)
    writer = encoded[HEADER.size : HEADER.size + int(header[5])]  # type: ignore[call-overload]
    fields = list(header)
    fields[9], fields[10], fields[11] = len(raw), len(comp), len(md5s) // 16
    body = HEADER.pack(*fields) + writer + comp + md5s
    return body + hashlib.blake2b(body, digest_size=32).digest()


@given(indexes(), st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_checksummed_garbage_payloads_only_raise_index_corrupt(
    index: SharedIndex, data: st.DataObject
) -> None:
    """Past the checksum, the payload parser itself must hold: mutate, re-sign, decode."""
    encoded = encode_index(index)
    header = HEADER.unpack_from(encoded)
    start = HEADER.size + header[5]
    raw = bytearray(zlib.decompress(encoded[start : start + header[10]]))
    md5s = encoded[start + header[10] : -32]
    assume(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[at] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del raw[at : at + data.draw(st.integers(1, 8))]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    if data.draw(st.booleans()):
        md5s = md5s[: data.draw(st.integers(0, len(md5s)))]
    mutated = _resign(encoded, header, bytes(raw), md5s)
    with contextlib.suppress(IndexCorrupt):
        decode_index(mutated)


@given(indexes(), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_lying_header_counts_only_raise_index_corrupt(index: SharedIndex, count: int, raw_len: int) -> None:
    encoded = encode_index(index)
    fields = list(HEADER.unpack_from(encoded))
    fields[8], fields[9] = count, raw_len
    body = HEADER.pack(*fields) + encoded[HEADER.size : -32]
    with contextlib.suppress(IndexCorrupt):
        decode_index(body + hashlib.blake2b(body, digest_size=32).digest())


# -- delta segments ----------------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> tuple[SharedIndex, list[SharedIndex]]:
    """A base and up to four deltas, each of a higher generation, whose entries' generations are
    at most their segment's; delta keys overlap the base's and each other's."""
    base = draw(indexes())
    generation = draw(st.integers(-(2**62), 2**62))
    base = SharedIndex(generation, base.writer_id, base.written_at_ns, base.entries)
    pool = list(base.entries) + draw(st.lists(text, max_size=5))
    deltas = []
    for _ in range(draw(st.integers(0, 4))):
        generation += draw(st.integers(1, 2**40))
        keys = draw(st.lists(st.sampled_from(pool) if pool else text, max_size=8, unique=True))
        items = {}
        for key in keys:
            e = draw(entries)
            items[key] = IndexEntry(
                key,
                e.kind,
                e.size,
                e.mtime_ns,
                e.md5,
                e.remote_id,
                e.deleted,
                min(e.generation, generation),
                e.client_id,
            )
        pool += keys
        deltas.append(SharedIndex(generation, draw(text), draw(INT64), items))
    return base, deltas


@given(histories())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_deltas_replace_and_add_entries_in_order(history: tuple[SharedIndex, list[SharedIndex]]) -> None:
    base, deltas = history
    data = encode_index(base)
    expected = dict(base.entries)
    for delta in deltas:
        data = append_delta(data, delta)
        expected.update(delta.entries)  # a replaced key keeps its place, a new one goes last
    decoded = decode_index(data)
    assert dict(decoded.entries) == expected and list(decoded.entries) == list(expected)
    last = deltas[-1] if deltas else base
    assert (decoded.generation, decoded.writer_id, decoded.written_at_ns) == (
        last.generation,
        last.writer_id,
        last.written_at_ns,
    )
    header = read_header(data)
    assert (header.generation, header.segments) == (last.generation, 1 + len(deltas))
    assert header.delta_entries == sum(len(d.entries) for d in deltas)


@given(histories(), st.data())
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_a_damaged_delta_file_is_index_corrupt_and_never_extended(
    history: tuple[SharedIndex, list[SharedIndex]], data: st.DataObject
) -> None:
    base, deltas = history
    assume(deltas)
    encoded = encode_index(base)
    boundaries = {len(encoded)}
    for delta in deltas[:-1]:
        encoded = append_delta(encoded, delta)
        boundaries.add(len(encoded))
    cut = data.draw(st.integers(0, len(encoded) - 1))
    flipped = bytearray(encoded)
    bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
    flipped[bit // 8] ^= 1 << (bit % 8)
    # A file cut where a segment ends is the file as it was before the later appends: whole and
    # older, not damaged (`docs/index-format.md`, Errors). Any other cut, any flipped bit, is.
    for damaged in ([] if cut in boundaries else [encoded[:cut]]) + [bytes(flipped)]:
        try:
            decode_index(damaged)
            raise AssertionError("a damaged index decoded")
        except IndexCorrupt:
            pass
        try:
            append_delta(damaged, deltas[-1])
            raise AssertionError("a damaged index was extended")
        except IndexCorrupt:
            pass
