"""After folder renames, folder deletions and new files, the committed index holds exactly the
synced tree (the sync patches its in-memory copy of that tree instead of reading it again)."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from pansync import synced_snapshot
from pansync.index import decode_index
from tests.e2e.harness import Client, snapshot

REMOTES = ["file"]


def _live_index_keys(cloud: Path) -> set[str]:
    index = decode_index((cloud / ".pansync" / ".index.dat").read_bytes())
    return {key for key, entry in index.entries.items() if not entry.deleted}


def test_the_index_is_the_synced_tree_after_folder_moves(alice: Client, cloud: Path) -> None:
    for year in ("2025年", "2026年"):
        for month in range(1, 4):
            for day in range(1, 4):
                alice.write(f"日记/{year}/{month}月/{day}日.md", f"{year}{month}月{day}日：晴。".encode())
    alice.write("日记/草稿/未完成.md", "待续……".encode())
    assert alice.sync().converged

    (alice.root / "日记" / "2025年").rename(alice.root / "日记" / "去年")
    shutil.rmtree(alice.root / "日记" / "草稿")
    (alice.root / "日记" / "2026年" / "1月").rename(alice.root / "日记" / "一月（归档）")
    alice.write("日记/2026年/4月/1日.md", "愚人节。".encode())
    result = alice.sync()

    assert result.converged
    assert not result.done["Forget"]  # no stale record was left to forget
    synced = alice.state().synced_keys()
    assert _live_index_keys(cloud) == synced
    assert set(snapshot(cloud)) == synced == set(alice.tree())
    assert "日记/去年/2月/2日.md" in synced and not any(k.startswith("日记/2025年") for k in synced)
    assert not any(k.startswith("日记/草稿") for k in synced)


def test_the_synced_snapshot_is_the_table_after_folder_moves(alice: Client) -> None:
    """The snapshot is written from the same patched copy; the harness compares it with the table
    after every sync, this test makes sure there was a current one to compare."""
    for month in range(1, 4):
        alice.write(f"相册/{month}月/封面.txt", f"{month}月".encode())
    assert alice.sync().converged
    (alice.root / "相册" / "1月").rename(alice.root / "相册" / "一月")
    shutil.rmtree(alice.root / "相册" / "2月")
    alice.write("相册/4月/新.txt", "新".encode())
    assert alice.sync().converged

    database = alice.home / "state" / "folders" / "main" / "state.sqlite3"
    with closing(sqlite3.connect(database)) as db:
        stamp = db.execute("SELECT db_id, writes FROM synced_writes").fetchone()
    rows = synced_snapshot.read_rows(database.with_name("state.synced"), stamp)
    assert rows is not None
    assert rows.keys() == alice.state().synced_keys() >= {"相册/一月/封面.txt", "相册/4月/新.txt"}


def test_small_changes_to_a_large_tree_are_saved_as_snapshot_deltas(alice: Client) -> None:
    """A sync that changed a few records writes them beside the whole copy; each delta (and the
    copy it names) must give the table back, which the harness checks after every sync."""
    for book in range(10):
        for chapter in range(30):
            alice.write(f"书库/第{book}卷/第{chapter}章.txt", f"第{book}卷第{chapter}章。".encode())
    for name in ("附录", "注释"):
        for page in range(3):
            alice.write(f"书库/{name}/{page}.txt", f"{name}{page}".encode())
    assert alice.sync().converged
    delta = alice.home / "state" / "folders" / "main" / "state.synced.delta"
    assert not delta.exists()

    changes = [
        lambda: alice.write("书库/第0卷/第1章.txt", "改过了！".encode()),
        lambda: shutil.rmtree(alice.root / "书库" / "附录"),  # records and their folder go
        lambda: (alice.root / "书库" / "注释").rename(alice.root / "书库" / "注释（修订）"),
        lambda: alice.write("书库/新卷/序言.txt", "序。".encode()),
        lambda: (alice.root / "书库" / "第0卷" / "第2章.txt").unlink(),
    ]
    for change in changes:
        change()
        assert alice.sync().converged
        assert delta.exists()  # a delta was written: the copy stayed

    rows = alice.state().load_synced()
    assert "书库/注释（修订）/2.txt" in rows and "书库/附录/1.txt" not in rows
    assert "书库/第0卷/第2章.txt" not in rows and "书库/新卷/序言.txt" in rows
