"""The user keeps working while a sync runs: a file renamed or saved the moment a download has put it
in place is recorded as the download left it, so the next sync sees the rename or the save.

The sink's `finish` runs right after a transfer lands and before its record is written: the
narrowest window there is, and the one the agent met (a rename right after a download became a
second copy under the old name)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pansync.transfer_sink import TransferSink
from tests.e2e.harness import Client, snapshot

REMOTES = ["file", "baidu"]


class _Meddler(TransferSink):
    """Does `act` to the first download's key once it has landed."""

    def __init__(self, act: Callable[[str], None]) -> None:
        self.act = act
        self.done = False
        self.downloads: set[str] = set()

    def start(self, key: str, direction: str, size: int) -> None:
        if direction == "down":
            self.downloads.add(key)

    def finish(self, key: str) -> None:
        if key in self.downloads and not self.done:
            self.done = True
            self.act(key)


def _meddle_with_a_download(alice: Client, bob: Client, key: str, act: Callable[[Path], None]) -> None:
    """Alice edits `key` twice; bob downloads the second version, and `act` runs on bob's copy the
    moment it lands; then both sync until nothing is left to do."""
    alice.write(key, "第一版")
    _settle(alice, bob)
    alice.write(key, "第二版，更长一些")
    alice.sync()
    meddler = _Meddler(lambda landed: act(bob.root / landed))
    runner = bob.runner()
    runner.sink = meddler
    try:
        runner.run()
    finally:
        runner.close()
    assert meddler.done
    _settle(bob, alice)


def _settle(*clients: Client) -> None:
    for _ in range(3):
        for c in clients:
            assert not c.sync().failed


def test_a_file_renamed_as_its_download_lands_is_a_rename(alice: Client, bob: Client, cloud: Path) -> None:
    _meddle_with_a_download(
        alice, bob, "笔记/会议纪要.txt", lambda path: path.rename(path.with_name("会议纪要（定稿）.txt"))
    )
    expected = {"笔记": None, "笔记/会议纪要（定稿）.txt": "第二版，更长一些".encode()}
    assert snapshot(cloud) == expected  # one file under its new name: no copy under the old one
    assert alice.tree() == bob.tree() == expected


def test_a_file_saved_as_its_download_lands_is_an_edit(alice: Client, bob: Client, cloud: Path) -> None:
    def save(path: Path) -> None:
        path.write_text("本地刚保存的版本", encoding="utf-8")
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))

    _meddle_with_a_download(alice, bob, "草稿.md", save)
    expected = {"草稿.md": "本地刚保存的版本".encode()}
    assert snapshot(cloud) == expected  # the save is not mistaken for the download's bytes
    assert alice.tree() == bob.tree() == expected
