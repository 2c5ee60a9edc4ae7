"""Pure functions: enc-md5, path rules, Range parsing, cursors, digests."""

from __future__ import annotations

import hashlib
import zlib

import pytest
from fakepcs.errors import PcsError
from fakepcs.hashing import BLOCK_LEN, Hasher
from fakepcs.transfer import parse_range
from hypothesis import given
from hypothesis import strategies as st

from fakepcs import encmd5, feed, paths

APP = "/apps/bypy"


def test_enc_md5_known_vector() -> None:
    # baidu-pcs.md §1.6: MD5 of "hello world\n"
    assert encmd5.encode("6f5902ac237024bdd0c176cb93063dc4") == "225361daemf2cf43922578a3596abb24"


def test_enc_md5_matches_bypy() -> None:
    from bypy.cached import encrypt_md5

    for data in (b"", b"a", b"hello world\n", bytes(range(256))):
        h = hashlib.md5(data).hexdigest()
        assert encmd5.encode(h) == encrypt_md5(h)


@given(st.binary(min_size=16, max_size=16))
def test_enc_md5_roundtrip(raw: bytes) -> None:
    h = raw.hex()
    enc = encmd5.encode(h)
    assert encmd5.is_enc_md5(enc) and not encmd5.is_plain_md5(enc)
    assert encmd5.decode(enc) == h and encmd5.to_plain(enc) == h and encmd5.to_plain(h) == h


@pytest.mark.parametrize(
    "raw,expected",
    [
        (f"{APP}//a///b/", f"{APP}/a/b"),
        (APP, APP),
        (f"{APP}/第一章：概述.docx", f"{APP}/第一章：概述.docx"),
        ("/APPS/BYPY/x", "/APPS/BYPY/x"),
    ],
)
def test_check_path_ok(raw: str, expected: str) -> None:
    assert paths.check_path(raw, app_dir=APP) == expected


@pytest.mark.parametrize(
    "raw,code",
    [
        ("relative", 31062),
        (f"{APP}/../x", 31062),
        (f"{APP}/a\0b", 31062),
        ("", 31023),
        (f"{APP}/" + "字" * 86, 31062),
        ("/apps/bypy2", 31064),
        ("/apps", 31064),
    ],
)
def test_check_path_errors(raw: str, code: int) -> None:
    with pytest.raises(PcsError) as exc:
        paths.check_path(raw, app_dir=APP)
    assert exc.value.code == code


def test_emoji_switch() -> None:
    assert paths.check_path(f"{APP}/😀", app_dir=APP)
    with pytest.raises(PcsError):
        paths.check_path(f"{APP}/😀", app_dir=APP, reject_emoji=True)


def test_newcopy_names() -> None:
    assert paths.newcopy_name("a.txt", "S") == "a_S.txt"
    assert paths.newcopy_name("noext", "S", 2) == "noext_S_2"
    assert paths.newcopy_name(".bashrc", "S") == ".bashrc_S"


@pytest.mark.parametrize(
    "header,expected",
    [
        (None, None),
        ("bytes=0-0", (0, 0)),
        ("bytes=5-", (5, 9)),
        ("bytes=-3", (7, 9)),
        ("bytes=3-100", (3, 9)),
        ("bytes=10-", "unsatisfiable"),
        ("bytes=-0", "unsatisfiable"),
        ("bytes=5-2", None),
        ("items=0-1", None),
        ("bytes=0-1,3-4", None),
    ],
)
def test_parse_range(header: str | None, expected: object) -> None:
    assert parse_range(header, 10) == expected


def test_cursor_roundtrip_and_garbage() -> None:
    assert feed.decode_cursor(feed.encode_cursor(42, 7)) == (42, 7)
    with pytest.raises(PcsError):
        feed.decode_cursor("!!!")


def test_hasher_blocks_slices_and_crc() -> None:
    data = bytes(range(256)) * ((BLOCK_LEN + 300_000) // 256)
    h = Hasher()
    for i in range(0, len(data), 777_777):
        h.update(data[i : i + 777_777])
    d = h.digests()
    assert d.md5 == hashlib.md5(data).hexdigest() and d.size == len(data)
    assert d.slice_md5 == hashlib.md5(data[:262144]).hexdigest()
    assert d.crc32 == zlib.crc32(data) & 0xFFFFFFFF
    assert d.blocks == [hashlib.md5(data[:BLOCK_LEN]).hexdigest(), hashlib.md5(data[BLOCK_LEN:]).hexdigest()]
    assert Hasher().digests().blocks == [hashlib.md5(b"").hexdigest()]
