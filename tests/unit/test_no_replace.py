"""`rename_no_replace`: a file or folder moves onto a free name in one step, and a name already
taken is never replaced, on the kernel's renameat2 and on the link-and-unlink fallback alike."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pansync import no_replace
from pansync.no_replace import rename_no_replace


@pytest.fixture(params=["renameat2", "link-unlink"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(no_replace, "_fallback", request.param == "link-unlink")
    return str(request.param)


def test_a_file_moves_onto_a_free_name(tmp_path: Path, mode: str) -> None:
    source = tmp_path / ".pansync.tmp-草稿"
    source.write_text("第二版：已审阅。", encoding="utf-8")
    inode = source.stat().st_ino

    rename_no_replace(source, tmp_path / "报告（终稿）.docx")

    assert not source.exists()
    moved = tmp_path / "报告（终稿）.docx"
    assert moved.read_text(encoding="utf-8") == "第二版：已审阅。" and moved.stat().st_ino == inode


def test_a_taken_name_is_never_replaced(tmp_path: Path, mode: str) -> None:
    source, target = tmp_path / "上传中.tmp", tmp_path / "笔记.txt"
    source.write_text("我的版本", encoding="utf-8")
    target.write_text("刚出现的别人的版本", encoding="utf-8")

    with pytest.raises(FileExistsError):
        rename_no_replace(source, target)

    assert target.read_text(encoding="utf-8") == "刚出现的别人的版本"
    assert source.read_text(encoding="utf-8") == "我的版本"


def test_a_missing_source_is_reported_as_missing(tmp_path: Path, mode: str) -> None:
    with pytest.raises(FileNotFoundError):
        rename_no_replace(tmp_path / "不见了.txt", tmp_path / "目标.txt")


@pytest.mark.skipif(no_replace._renameat2() is None, reason="renameat2 is Linux's")
def test_the_kernel_call_moves_folders_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(no_replace, "_fallback", False)
    (tmp_path / "旧文件夹").mkdir()
    (tmp_path / "旧文件夹" / "说明.md").write_text("内容", encoding="utf-8")

    rename_no_replace(tmp_path / "旧文件夹", tmp_path / "新文件夹")

    assert (tmp_path / "新文件夹" / "说明.md").read_text(encoding="utf-8") == "内容"
    assert not no_replace._fallback  # the file system took the flag: no fallback from here on


def test_a_file_system_that_refuses_the_flag_gets_link_and_unlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(no_replace, "_fallback", False)
    monkeypatch.setattr(no_replace, "_renameat2", lambda: lambda source, target: errno.EINVAL)
    source = tmp_path / "照片.jpg.tmp"
    source.write_bytes(b"\xff\xd8")

    rename_no_replace(source, tmp_path / "照片.jpg")

    assert (tmp_path / "照片.jpg").read_bytes() == b"\xff\xd8" and not source.exists()
    assert no_replace._fallback
