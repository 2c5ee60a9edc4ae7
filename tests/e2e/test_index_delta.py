"""A re-sync appends what it changed to the shared index (a delta segment) instead of writing the
whole index again; whatever the path, the committed index holds exactly the synced tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pansync import folder_index, shared_index, synced_view
from pansync.errors import LockLost
from pansync.index import IndexHeader, decode_index, read_header
from pansync.model import Kind
from tests.e2e.harness import Client

REMOTES = ["file", "baidu"]


def _index_is_the_synced_tree(client: Client, cloud: Path) -> IndexHeader:
    """Every synced record has its live entry, every other entry is a tombstone; the header.

    A folder's mtime is left out: it moves with what is made inside it, the planner never reads
    it, and whichever client committed the folder last recorded the one it listed."""
    data = (cloud / ".pansync" / ".index.dat").read_bytes()
    index = decode_index(data)
    synced = client.state().load_synced()
    for key, record in synced.items():
        entry = index.entries.get(key)
        assert entry is not None and not entry.deleted, key
        assert (entry.kind, entry.size, entry.md5, entry.remote_id) == (
            record.kind,
            record.size,
            record.md5,
            record.remote_id,
        ), key
        assert entry.mtime_ns == record.remote_mtime_ns or entry.kind is Kind.DIR, key
    assert all(entry.deleted for key, entry in index.entries.items() if key not in synced)
    return read_header(data)


def _tree(client: Client) -> None:
    for i in range(12):
        client.write(f"相册/2026年/IMG_{i:04}.jpg", f"照片 {i}".encode())
        client.write(f"笔记/第{i}章：草稿.md", f"第{i}章，未完。".encode())


def test_a_resync_appends_its_changes_until_the_file_is_written_whole(
    alice: Client, cloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(alice)
    assert alice.sync().converged
    first = _index_is_the_synced_tree(alice, cloud)
    assert (first.segments, first.delta_entries) == (1, 0)

    alice.write("笔记/第0章：草稿.md", "改过了。".encode())  # a changed entry
    alice.write("笔记/附录（新）.md", "新的。".encode())  # a new one
    (alice.root / "相册" / "2026年" / "IMG_0001.jpg").unlink()  # a tombstone
    assert alice.sync().converged
    second = _index_is_the_synced_tree(alice, cloud)
    assert (second.segments, second.delta_entries) == (2, 3)
    assert second.generation == first.generation + 1 and second.entry_count == first.entry_count

    (alice.root / "相册" / "2026年").rename(alice.root / "相册" / "去年")  # 11 entries move
    assert alice.sync().converged
    third = _index_is_the_synced_tree(alice, cloud)
    assert third.segments == 3 and third.delta_entries > second.delta_entries + 11

    monkeypatch.setattr(shared_index, "MAX_SEGMENTS", 3)  # the file is full: the next commit rewrites it
    shutil.rmtree(alice.root / "相册")
    assert alice.sync().converged
    whole = _index_is_the_synced_tree(alice, cloud)
    assert (whole.segments, whole.delta_entries, whole.generation) == (1, 0, third.generation + 1)


def test_after_another_clients_commit_the_index_is_written_whole(
    alice: Client, bob: Client, cloud: Path
) -> None:
    _tree(alice)
    alice.sync()
    bob.sync()  # downloads, and commits its records whole (it began from alice's commit)
    assert alice.sync().converged and not alice.sync().done  # sees bob's commit: now its base
    alice.write("笔记/第1章：草稿.md", "alice 改的。".encode())
    alice.sync()
    assert _index_is_the_synced_tree(alice, cloud).segments == 2
    bob.write("笔记/第2章：草稿.md", "bob 改的。".encode())
    assert bob.sync().converged  # began from alice's commit, not its own: compared whole
    assert _index_is_the_synced_tree(bob, cloud).segments == 1
    alice.write("笔记/第3章：草稿.md", "alice 又改了。".encode())
    assert alice.sync().converged
    assert _index_is_the_synced_tree(alice, cloud).segments == 1
    alice.write("笔记/第4章：草稿.md", "alice 再改。".encode())
    assert alice.sync().converged  # now its own commit is the last one: appended
    assert _index_is_the_synced_tree(alice, cloud).segments == 2


def test_a_batch_whose_commit_was_lost_is_committed_by_the_next_sync(
    alice: Client, cloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(alice)
    alice.sync()
    alice.write("笔记/第5章：草稿.md", "丢了的提交。".encode())
    real = folder_index.commit_index

    def lost(*args: object, **kwargs: object) -> object:
        raise LockLost("the lease lapsed before the commit (test)")

    monkeypatch.setattr(folder_index, "commit_index", lost)
    assert not alice.sync().converged  # executed, not committed
    monkeypatch.setattr(folder_index, "commit_index", real)
    alice.write("笔记/第7章：草稿.md", "the watcher saw only this one")
    result = alice.sync(scope={"笔记/第7章：草稿.md"})  # as the agent asks: widened, written whole
    assert result.converged and not result.scoped
    assert _index_is_the_synced_tree(alice, cloud).segments == 1
    alice.write("笔记/第6章：草稿.md", "之后照常追加。".encode())
    assert alice.sync().converged
    assert _index_is_the_synced_tree(alice, cloud).segments == 2


def test_a_batch_too_large_to_patch_in_is_committed_whole(
    alice: Client, cloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `PATCH_MAX` written records the synced tree is read again whole, which forgets what
    the changed keys held before: such a batch cannot be told as a delta, and is written whole."""
    _tree(alice)
    alice.sync()
    monkeypatch.setattr(synced_view, "PATCH_MAX", 3)
    for i in range(6):
        alice.write(f"笔记/第{i}章：草稿.md", f"第{i}章，改了。".encode())
    (alice.root / "相册" / "2026年" / "IMG_0002.jpg").unlink()
    assert alice.sync().converged
    header = _index_is_the_synced_tree(alice, cloud)
    assert (header.segments, header.generation) == (1, 2)
