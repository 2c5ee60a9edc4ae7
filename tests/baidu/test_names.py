"""The reversible name encoding, alone and end to end against fakepcs."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from fakepcs import FakePCS
from pansync.remote.baidu import BaiduRemote
from pansync.remote.baidu_names import (
    ESCAPE,
    FORBIDDEN,
    decode_name,
    decode_path,
    encode_name,
    encode_path,
    unmappable_reason,
)

from .conftest import cloud

CONTROLS = "".join(map(chr, range(32))) + "\x7f"
SPECIALS = set(encode_name(FORBIDDEN + CONTROLS)) | set(CONTROLS) | {ESCAPE, "\u2420", "\u2024"}


@given(st.text())
def test_decode_inverts_encode_for_every_string(text: str) -> None:
    assert decode_name(encode_name(text)) == text
    assert decode_path(encode_path(text)) == text


@given(st.lists(st.text(min_size=1).filter(lambda s: "/" not in s), min_size=1, max_size=4))
def test_encoded_names_are_names_baidu_accepts(parts: list[str]) -> None:
    for part in parts:
        assert unmappable_reason(encode_name(part)) is None
    path = "/".join(parts)
    assert decode_path(encode_path(path)) == path


ordinary = st.text(st.characters(blacklist_characters=sorted(SPECIALS | set(FORBIDDEN) | {"/"})), min_size=1)


@given(ordinary.filter(lambda s: s[0] != " " and s[-1] not in " ."))
def test_ordinary_cloud_names_map_to_themselves(name: str) -> None:
    assert encode_name(name) == name
    assert decode_name(name) == name


def test_chinese_fullwidth_punctuation_is_left_alone() -> None:
    for name in ("第一章：概述.docx", "问题？答案＊＂＜＞｜＼.txt", "报告（终稿）　.pdf"):
        assert encode_name(name) == name
        assert decode_name(name) == name


def test_forbidden_characters_become_lookalikes() -> None:
    encoded = encode_name("notes: todo?.txt")
    assert not set(encoded) & set(FORBIDDEN)
    assert " " in encoded  # an inner space is fine at Baidu and stays
    assert encode_name(" x.") != " x."
    assert unmappable_reason("a:b") is not None
    assert unmappable_reason("a. ") is not None


def test_forbidden_names_upload_and_list_back_under_their_local_names(
    remote: BaiduRemote, tmp_path: Path, fakepcs: FakePCS
) -> None:
    names = [
        "notes: todo?.txt",
        " lead and trail. ",
        'a|b*c"d<e>f\\g',
        "第一章：概述.docx",
        "x\u2420\u201by:",
    ]
    source = tmp_path / "src.txt"
    source.write_bytes(b"payload")
    for name in names:
        remote.upload(source, remote.to_remote_name(f"dir: 1/{name}"))
    listed = {remote.from_remote_name(e.name) for e in remote.list_tree()}
    assert listed == {"dir: 1"} | {f"dir: 1/{n}" for n in names}
    assert fakepcs.exists(cloud("dir\ua789 1/第一章：概述.docx"))


def test_check_name_explains_what_cannot_be_held(remote: BaiduRemote) -> None:
    assert remote.check_name(remote.to_remote_name("fine: name?.txt")) is None
    assert remote.check_name("raw:colon") is not None
    long_path = "/".join(["d" * 200] * 5)
    reason = remote.check_name(long_path)
    assert reason is not None and "1000" in reason
    assert remote.check_name("x" * 300) is not None
    assert remote.caps.case_sensitive is False
    assert remote.caps.max_path_chars == 1000 - len(cloud()) - 1
