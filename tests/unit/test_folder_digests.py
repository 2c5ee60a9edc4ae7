"""The folder digests' file and digest: a digest is the same in every process, and stored digests are
given back only for the synced table's stamp and the walk's shape they were made under, whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pansync import folder_digests
from pansync.folder_digests import DigestRow, Digests, digest_of, drop_written

ROWS: list[DigestRow] = [
    ("报告.docx", 0o100644, 52_311, 1_790_000_000_123_456_789, 4_242),
    ("报告.docx", 0o100644, 52_311, 1_790_000_000_123_456_789, 4_242),  # equal objects twice
    ("照片（2026）", 0o040755, 0, 0, 77),
    ("a\udcffb", 0o100600, 0, 1, 2**40),  # a name that is not UTF-8 on disk
]
STAMP = ("9f1c0de5", 41)
SHAPE = folder_digests.fingerprint("0.1.0", "/home/小明/同步", "file:///mnt/nas/同步")


def test_a_digest_is_the_same_in_another_process() -> None:
    code = (
        "import sys; from pansync.folder_digests import digest_of; "
        f"sys.stdout.write(digest_of({ROWS!r}).hex())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout == digest_of(ROWS).hex()
    assert digest_of(ROWS) == digest_of([tuple(row) for row in ROWS])  # type: ignore[misc]


@pytest.mark.parametrize(
    "change",
    [
        lambda r: (r[0] + "x", *r[1:]),
        lambda r: (r[0], r[1] ^ 0o100, *r[2:]),
        lambda r: (*r[:2], r[2] + 1, *r[3:]),
        lambda r: (*r[:3], r[3] + 1, r[4]),
        lambda r: (*r[:4], r[4] + 1),
    ],
    ids=["name", "mode", "size", "mtime", "identity"],
)
def test_any_field_of_any_row_changes_the_digest(change: object) -> None:
    for i in range(len(ROWS)):
        changed = list(ROWS)
        changed[i] = change(ROWS[i])  # type: ignore[operator]
        assert digest_of(changed) != digest_of(ROWS)
    assert digest_of(ROWS[:-1]) != digest_of(ROWS)
    assert digest_of(list(reversed(ROWS))) != digest_of(ROWS)


def _stored(tmp_path: Path) -> Path:
    path = tmp_path / "state.digests"
    folder_digests.save(path, STAMP, SHAPE, Digests(3, {"": b"L" * 16, "照片": b"P" * 16}, {"": b"R" * 16}))
    return path


def test_digests_come_back_for_their_stamp_and_shape(tmp_path: Path) -> None:
    loaded = folder_digests.load(_stored(tmp_path), STAMP, SHAPE)
    assert loaded == Digests(3, {"": b"L" * 16, "照片": b"P" * 16}, {"": b"R" * 16})


@pytest.mark.parametrize(
    ("stamp", "shape"),
    [
        (("9f1c0de5", 42), SHAPE),  # a record written since
        (("0a0a0a0a", 41), SHAPE),  # another database at the same path
        (STAMP, folder_digests.fingerprint("0.1.0", "/home/小明/同步", "file:///mnt/usb/同步")),
    ],
    ids=["written-since", "other-database", "other-shape"],
)
def test_digests_of_another_state_or_shape_are_none(
    tmp_path: Path, stamp: tuple[str, int], shape: str
) -> None:
    assert folder_digests.load(_stored(tmp_path), stamp, shape) is None


def test_a_damaged_or_missing_file_is_no_digests(tmp_path: Path) -> None:
    path = _stored(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert folder_digests.load(path, STAMP, SHAPE) is None
    path.write_bytes(bytes(data[:10]))
    assert folder_digests.load(path, STAMP, SHAPE) is None
    folder_digests.remove(path)
    assert folder_digests.load(path, STAMP, SHAPE) is None
    folder_digests.remove(path)  # already gone: nothing to do


def test_a_written_key_drops_its_folder_and_itself() -> None:
    folders = {"": b"0", "文档": b"1", "文档/旧": b"2", "照片": b"3"}
    drop_written(folders, ["文档/旧/说明.txt", "照片"])
    assert folders == {"文档": b"1"}  # "照片" itself and its parent "" went too
