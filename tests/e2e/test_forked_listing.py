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
from pansync.remote_tree import RemoteTree, list_remote, listing_ahead, take
from tests.e2e.harness import Client, snapshot

pytestmark = pytest.mark.skipif(not forked.can_fork(), reason="forks only on Linux, single-threaded")


def _tree(client: Client, *, ahead: bool) -> RemoteTree:
    runner = client.runner()
    try:
        synced = runner.state.load_synced()
        ignore = IgnoreRules.for_root(runner.root, runner.folder.exclude)
        if ahead:
            with listing_ahead(runner.remote, lambda: None, synced, ignore) as child:
                assert child is not None
                listed = take(child, runner.remote, synced)
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


def test_syncs_with_the_forked_listing_converge(
    make_client: Callable[..., Client], cloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote_tree, "FORK_MIN", 0)
    forks: list[bool] = []
    real_take = remote_tree.take

    def counting_take(*args: object) -> RemoteTree | None:
        listed = real_take(*args)  # type: ignore[arg-type]
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
