"""The scans' `unchanged` keys (the planner's `quiet` hint) are exactly the keys whose entry is the
one their synced record describes, on both backends and through the forked listing: an edit, a
rename, a touch or a renamed folder on either side takes its key out of the hint."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from pansync import forked, remote_tree
from pansync.ignore import IgnoreRules
from pansync.remote_tree import list_remote, listing_ahead, take
from pansync.scan import scan_local
from tests.e2e.harness import Client
from tests.unchanged import unchanged_keys

REMOTES = ["file", "baidu"]

UNTOUCHED = {"报告", "报告/第一章.md", "报告/附录：数据.csv", "照片/春节.jpg"}


def test_only_entries_equal_to_their_records_are_unchanged(
    make_client: Callable[..., Client], remote_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = make_client("alice")
    for rel in UNTOUCHED - {"报告"}:
        alice.write(rel, f"{rel} 的内容。")
    for rel in ("本地改.txt", "本地改名.txt", "本地碰.txt", "云端改.txt", "云端删.txt", "旧文件夹/说明.txt"):
        alice.write(rel, f"{rel}，第一版。")
    assert alice.sync().converged

    alice.write("本地改.txt", "本地改过，第二版。")
    (alice.root / "本地改名.txt").rename(alice.root / "本地改名（新）.txt")
    os.utime(alice.root / "本地碰.txt", ns=(1_700_000_000_000_000_000,) * 2)
    (alice.root / "旧文件夹").rename(alice.root / "新文件夹")
    alice.write("新文件.txt", "新的。")
    bob = make_client("bob")  # the cloud changes through another client (fakepcs keeps its own records)
    assert bob.sync().converged
    bob.write("云端改.txt", "鲍勃改的。")
    (bob.root / "云端删.txt").unlink()
    assert bob.sync().converged

    runner = alice.runner()
    try:
        synced = runner.state.load_synced()
        ignore = IgnoreRules.for_root(runner.root, runner.folder.exclude)
        scan = scan_local(runner.root, synced, ignore)
        listed = list_remote(runner.remote, lambda: None, synced, ignore)
        if remote_kind == "file" and forked.can_fork():
            monkeypatch.setattr(remote_tree, "FORK_MIN", 0)
            with listing_ahead(
                runner.remote, lambda: None, lambda: synced, ignore, count=len(synced)
            ) as child:
                ahead = take(child, runner.remote, lambda: synced)
            assert ahead is not None
            assert ahead.unchanged == unchanged_keys(ahead.tree, synced)
            assert ahead.unchanged >= UNTOUCHED
    finally:
        runner.close()

    assert set(scan.unchanged) == unchanged_keys(scan.tree, synced)
    assert listed.unchanged == unchanged_keys(listed.tree, synced)
    assert set(scan.unchanged) >= UNTOUCHED and listed.unchanged >= UNTOUCHED
    assert not {"本地改.txt", "本地改名（新）.txt", "本地碰.txt", "新文件夹", "新文件.txt"} & set(
        scan.unchanged
    )
    assert "云端改.txt" not in listed.unchanged and "云端改.txt" in set(scan.unchanged)
