"""After folder renames, folder deletions and new files, the committed index holds exactly the
synced tree (the sync patches its in-memory copy of that tree instead of reading it again)."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from pansync import synced_snapshot
from pansync.actions import Forget
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
    assert not [a for a in result.actions if isinstance(a, Forget)]  # no stale record was left to forget
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
    parts = synced_snapshot.read_parts(database.with_name("state.synced"), stamp)
    assert parts is not None
    keys = {row[0] for part in parts for row in part}
    assert keys == alice.state().synced_keys() >= {"相册/一月/封面.txt", "相册/4月/新.txt"}
