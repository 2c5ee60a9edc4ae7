"""The cloud trash: batch names sort by time, and batches past the retention are purged."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from pansync.remote.local import LocalRemote
from pansync.trash import list_cloud_trash, new_batch_name, purge_cloud_trash, trash_path


def test_purge_removes_only_batches_past_retention(tmp_path: Path) -> None:
    remote = LocalRemote(tmp_path)
    now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    old = new_batch_name("小明", now - timedelta(days=31))
    recent = new_batch_name("小明", now - timedelta(days=29))
    for batch in (old, recent):
        path = tmp_path / trash_path(batch, "文档/a.txt")
        path.parent.mkdir(parents=True)
        path.write_text(batch)
    removed = purge_cloud_trash(remote, retention_s=30 * 86400, now=now)
    assert removed == [old]
    assert [i.batch for i in list_cloud_trash(remote)] == [recent]


def test_batch_names_sort_by_time_and_never_collide() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    names = {new_batch_name("a/b c", now) for _ in range(100)}
    assert len(names) == 100
    assert all(n.startswith("20261126-120000-a_b_c-") for n in names)
    assert new_batch_name("x", now) < new_batch_name("x", now + timedelta(seconds=1))


def test_purge_leaves_folders_that_are_not_batches_alone(tmp_path: Path) -> None:
    """The cloud's trash folder may hold anything: a name that only looks like a date, or a
    folder a person made, is neither a crash nor a deletion."""
    remote = LocalRemote(tmp_path)
    now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    old = new_batch_name("小明", now - timedelta(days=40))
    for batch in (old, "20261399-250000-小明-abcd", "相册备份（手动）"):
        path = tmp_path / trash_path(batch, "照片/1.jpg")
        path.parent.mkdir(parents=True)
        path.write_text(batch)
    assert purge_cloud_trash(remote, retention_s=30 * 86400, now=now) == [old]
    assert (tmp_path / trash_path("20261399-250000-小明-abcd", "照片/1.jpg")).exists()
    assert (tmp_path / trash_path("相册备份（手动）", "照片/1.jpg")).exists()
