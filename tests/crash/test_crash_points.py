"""Kill PanSync at each labelled crash point (as kill -9 would), restart, and check that the folders
converge, nothing is lost and no temp file is left behind."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pansync.crashpoints import CRASH_EXIT
from tests.e2e.harness import Client, cloud_trash, snapshot

FAST_LOCK = "lock:\n  ttl: 5s\n"


@pytest.fixture
def pair(make_client: Callable[..., Client]) -> tuple[Client, Client]:
    return make_client("alice", extra_config=FAST_LOCK), make_client("bob", extra_config=FAST_LOCK)


def crash(client: Client, label: str) -> None:
    env_before = dict(client.env)
    client.env["PANSYNC_CRASH_AT"] = label
    try:
        out = client.cli("sync")
    finally:
        client.env = env_before
    assert out.returncode == CRASH_EXIT, (out.returncode, out.stdout, out.stderr)
    assert f"crash point {label}" in out.stderr


def recover(*clients: Client) -> None:
    """After a crash the lock may still be held until its TTL runs out; then all converge."""
    for _ in range(4):
        actions = 0
        for c in clients:
            out = c.cli("sync", timeout=120)
            assert out.returncode == 0, out.stderr
            actions += 0 if "(0 actions" in out.stdout else 1
        if actions == 0:
            return
    raise AssertionError("no convergence after the crash")


def no_litter(*roots: Path) -> None:
    for root in roots:
        for dirpath, _, filenames in os.walk(root):
            assert not [f for f in filenames if f.startswith(".pansync.tmp")], dirpath


def all_contents(*trees: dict[str, bytes | None]) -> set[bytes]:
    return {v for t in trees for v in t.values() if v}


def test_crash_after_upload_before_commit(pair: tuple[Client, Client], cloud: Path) -> None:
    alice, bob = pair
    alice.write("报告.docx", "v1")
    alice.write("b.txt", "b")
    crash(alice, "after-upload")
    recover(alice, bob)
    assert snapshot(bob.root) == snapshot(alice.root) == snapshot(cloud)
    assert bob.read("报告.docx") == "v1"
    no_litter(alice.root, bob.root, cloud)


def test_crash_mid_download(pair: tuple[Client, Client], cloud: Path) -> None:
    alice, bob = pair
    alice.write("big.bin", os.urandom(3 << 20))
    recover(alice)
    crash(bob, "mid-download")
    assert not (bob.root / "big.bin").exists()  # never a torn file under the real name
    resumed = bob.sync()  # the same client, its dead process's lease taken at once
    assert 0 < resumed.downloaded_bytes < 3 << 20  # only the missing part moved
    recover(alice, bob)
    assert (bob.root / "big.bin").read_bytes() == (alice.root / "big.bin").read_bytes()
    no_litter(bob.root)


def test_crash_while_holding_the_lock(pair: tuple[Client, Client], cloud: Path) -> None:
    alice, bob = pair
    alice.write("a.txt", "a")
    crash(alice, "holding-lock")
    assert (cloud / ".pansync" / ".config" / "lock.txt").exists()
    recover(bob, alice)  # bob waits out the dead lease, then both converge
    assert bob.read("a.txt") == "a"


def test_crash_between_conflict_rename_and_upload(pair: tuple[Client, Client], cloud: Path) -> None:
    alice, bob = pair
    alice.write("计划.md", "base")
    recover(alice, bob)
    alice.write("计划.md", "alice")
    bob.write("计划.md", "bob")
    recover(alice)
    crash(bob, "after-conflict-rename")
    recover(alice, bob)
    tree = snapshot(bob.root)
    assert tree == snapshot(alice.root) == snapshot(cloud)
    assert {b"alice", b"bob"} <= all_contents(tree)


def test_crash_mid_trash_move(pair: tuple[Client, Client], cloud: Path) -> None:
    alice, bob = pair
    alice.write("old/1.txt", "one")
    alice.write("old/2.txt", "two")
    recover(alice, bob)
    (alice.root / "old" / "1.txt").unlink()
    (alice.root / "old" / "2.txt").unlink()
    crash(alice, "mid-trash-move")
    recover(alice, bob)
    assert snapshot(bob.root) == snapshot(alice.root) == snapshot(cloud)
    trash = cloud_trash(cloud)
    assert trash.get("old/1.txt") == b"one" and trash.get("old/2.txt") == b"two"


def test_crash_mid_index_write(pair: tuple[Client, Client], cloud: Path) -> None:
    alice, bob = pair
    alice.write("a.txt", "a")
    recover(alice, bob)
    alice.write("b.txt", "b")
    (alice.root / "a.txt").unlink()
    crash(alice, "mid-index-write")  # the cloud has the batch's changes; the index does not
    recover(alice, bob)
    assert snapshot(bob.root) == snapshot(alice.root) == snapshot(cloud) == {"b.txt": b"b"}
    assert cloud_trash(cloud)["a.txt"] == b"a"
