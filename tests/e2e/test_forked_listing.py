"""A whole listing of a local-folder remote made in a forked child (`remote_tree.listing_ahead`) is
the very tree the in-process listing gives, issues and frozen keys included, and a sync that uses
it converges as one that does not."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pansync import forked, remote_tree
from pansync.ignore import IgnoreRules
from pansync.model import Kind
from pansync.remote_tree import RemoteTree, list_remote, listing_ahead, take
from tests.e2e.harness import Client, snapshot

pytestmark = pytest.mark.skipif(not forked.can_fork(), reason="forks only on Linux, single-threaded")


def _tree(client: Client, *, ahead: bool) -> RemoteTree:
    runner = client.runner()
    try:
        synced = runner.state.load_synced()
        ignore = IgnoreRules.for_root(runner.root, runner.folder.exclude)
        if ahead:
            with listing_ahead(
                runner.remote, lambda: None, lambda: synced, ignore, count=len(synced)
            ) as child:
                assert child is not None
                listed = take(child, runner.remote, lambda: synced)
            assert listed is not None
            return listed
        return list_remote(runner.remote, lambda: None, synced, ignore)
    finally:
        runner.close()


def test_the_forked_listing_is_the_in_process_one(
    make_client: Callable[..., Client], cloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote_tree, "FORK_MIN", 0)
    alice = make_client("alice")
    for i in range(30):
        alice.write(f"项目/文档{i}.txt", f"第{i}版，草稿。".encode())
    alice.write("照片/2026年/春节.jpg", b"\xff\xd8" * 500)
    alice.write("临时/缓存.tmp", b"x")
    alice.write(".pansyncignore", "临时/\n")
    assert alice.sync().converged
    # the cloud changes behind PanSync's back, as Baidu's web app would change it
    (cloud / "项目" / "文档3.txt").write_bytes("网页上改的。".encode())
    (cloud / "项目" / "文档4.txt").unlink()
    (cloud / "项目" / "新建：会议纪要.md").write_text("# 会议纪要\n", encoding="utf-8")
    os.symlink(cloud / "照片", cloud / "照片的链接")
    (cloud / "临时").mkdir()
    (cloud / "临时" / "别传.bin").write_bytes(b"ignored")

    forked_tree = _tree(alice, ahead=True)
    in_process = _tree(alice, ahead=False)

    assert forked_tree.tree == in_process.tree
    assert forked_tree.issues == in_process.issues
    assert forked_tree.frozen == in_process.frozen
    assert "项目/新建：会议纪要.md" in forked_tree.tree and "项目/文档4.txt" not in forked_tree.tree
    assert [i.rel_path for i in forked_tree.issues] == ["照片的链接"]
    assert not any(key.startswith("临时") for key in forked_tree.tree)


def test_the_child_passes_over_nothing_its_folder_decides(
    make_client: Callable[..., Client], cloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child sends the keys of entries it finds unchanged without judging them: every case
    where an unchanged-looking entry's fate depends on its folder or on rules must still match."""
    monkeypatch.setattr(remote_tree, "FORK_MIN", 0)
    alice = make_client("alice")
    files = {
        "项目/café.txt": "咖啡",
        "项目/说明.md": "说明，第一版。",
        "档案/Résumé/履历.pdf": "PDF",
        "档案/Résumé/照片.png": "PNG",
        "档案/合同.pdf": "合同",
        "相册/2025/春节.jpg": "JPG",
        "相册/2025/元宵.jpg": "JPG2",
        "日志/运行.log": "log",
        "日志/备注.txt": "备注",
        "旧/文件.txt": "旧的",
        "副本/原件.txt": "原件",
    }
    for rel, text in files.items():
        alice.write(rel, text.encode())
    assert alice.sync().converged

    (cloud / "项目" / "cafe\u0301.txt").write_text("另一种写法", encoding="utf-8")  # a twin
    (cloud / "档案" / "Re\u0301sume\u0301").mkdir()  # a twin folder, holding a name the NFC one has
    (cloud / "档案" / "Re\u0301sume\u0301" / "履历.pdf").write_text("PDF", encoding="utf-8")
    (cloud / "相册" / "2025").rename(cloud / "相册" / "二〇二五")  # a folder renamed in the web app
    (cloud / "旧" / "文件.txt").unlink()
    (cloud / "旧").rmdir()
    (cloud / "旧").write_text("文件取代了文件夹", encoding="utf-8")
    original = cloud / "副本" / "原件.txt"
    copy = cloud / "副本" / "原件.tmp"
    copy.write_bytes(original.read_bytes())  # same size and mtime, a new identity
    st = original.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
    copy.replace(original)
    (cloud / "日志" / "坏\\名.txt").write_text("反斜杠", encoding="utf-8")  # a name PanSync refuses
    alice.write(".pansyncignore", "*.log\n")  # a synced file the rules now leave out

    forked_tree = _tree(alice, ahead=True)
    in_process = _tree(alice, ahead=False)

    assert forked_tree.tree == in_process.tree
    assert forked_tree.issues == in_process.issues
    assert forked_tree.frozen == in_process.frozen
    assert "日志/运行.log" not in forked_tree.tree and "日志/备注.txt" in forked_tree.tree
    assert forked_tree.tree["旧"].kind is Kind.FILE
    assert {"相册/二〇二五/春节.jpg", "项目/café.txt"} <= forked_tree.tree.keys()
    assert forked_tree.tree["副本/原件.txt"].remote_id == str(original.stat().st_ino)
    assert {i.rel_path for i in forked_tree.issues} >= {"项目/café.txt", "档案/Résumé", "日志/坏\\名.txt"}


def test_syncs_with_the_forked_listing_converge(
    make_client: Callable[..., Client], cloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote_tree, "FORK_MIN", 0)
    forks: list[bool] = []
    real_take = remote_tree.take

    def counting_take(*args: object, **kwargs: object) -> RemoteTree | None:
        listed = real_take(*args, **kwargs)  # type: ignore[arg-type]
        forks.append(listed is not None)
        return listed

    monkeypatch.setattr("pansync.session.take", counting_take)
    alice, bob = make_client("alice"), make_client("bob")
    alice.write("共享/计划.txt", "第一版".encode())
    assert alice.sync().converged
    assert bob.sync().converged
    bob.write("共享/计划.txt", "鲍勃改过，第二版".encode())
    bob.write("共享/预算（草案）.xlsx", b"PK" * 100)
    assert bob.sync().converged
    (alice.root / "共享" / "计划.txt").unlink()

    assert alice.sync().converged

    assert any(forks)
    assert alice.tree() == bob.tree()
    assert alice.read("共享/计划.txt") == "鲍勃改过，第二版"  # an edit she had not seen beats her delete
    assert snapshot(cloud).keys() >= {"共享", "共享/预算（草案）.xlsx"}
