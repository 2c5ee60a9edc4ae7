"""The synced tree's snapshot file: used while it holds the table as it is, never once it does not."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pansync import synced_snapshot
from pansync.model import Kind, SyncedEntry
from pansync.state import StateStore


def record(name: str, size: int = 3, md5: str = "a" * 32) -> SyncedEntry:
    return SyncedEntry(
        Kind.FILE, size, md5, name, 1_700_000_000_000_000_000, 42, name, "7", 1_700_000_000_000
    )


TREE = {
    "文档": SyncedEntry(Kind.DIR, 0, "", "文档", 1, 2, "文档", "3", 4),
    "文档/报告（终稿）.txt": record("文档/报告（终稿）.txt"),
    "笔记.md": record("笔记.md", size=9),
}


def saved_store(path: Path) -> StateStore:
    """A store holding TREE, with its snapshot written the way a sync writes it."""
    store = StateStore(path)
    store.put_many(TREE.items())
    tree = store.load_synced()
    assert store.save_snapshot(tree, store.loaded_version)
    return store


def forge(path: Path, rows: list[synced_snapshot.Row]) -> None:
    """A snapshot with other rows but the database's present stamp: what `load_synced` returns then
    tells whether it read the copy or the table."""
    with sqlite3.connect(path) as db:
        db_id, writes = db.execute("SELECT db_id, writes FROM synced_writes").fetchone()
    synced_snapshot.save(path.with_name(path.stem + ".synced"), (db_id, writes), len(rows), iter(rows))


FORGED: list[synced_snapshot.Row] = [("假的.txt", "file", 1, "b" * 32, "假的.txt", 5, 6, "假的.txt", "8", 5)]


def test_a_new_store_loads_the_tree_from_the_snapshot(tmp_path: Path) -> None:
    saved_store(tmp_path / "state.sqlite3").close()
    assert StateStore(tmp_path / "state.sqlite3").load_synced() == TREE

    forge(tmp_path / "state.sqlite3", FORGED)
    assert list(StateStore(tmp_path / "state.sqlite3").load_synced()) == ["假的.txt"]  # the copy was read


def test_a_write_by_any_connection_makes_the_snapshot_stale(tmp_path: Path) -> None:
    saved_store(tmp_path / "state.sqlite3").close()
    # What an older PanSync, knowing nothing of snapshots, would do: the triggers count it all the same.
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        db.execute("UPDATE synced SET size = 10 WHERE key = ?", ("笔记.md",))
    assert StateStore(tmp_path / "state.sqlite3").load_synced()["笔记.md"].size == 10


def test_own_writes_are_saved_and_another_connections_stop_the_save(tmp_path: Path) -> None:
    store = saved_store(tmp_path / "state.sqlite3")
    tree = store.load_synced()
    since = store.loaded_version
    added = record("新建 文件夹/新.txt")
    store.put("新建 文件夹/新.txt", added)
    tree["新建 文件夹/新.txt"] = added  # the caller patches its tree with what it wrote
    assert store.save_snapshot(tree, since)
    assert not store.save_snapshot(tree, since)  # the copy is already this state
    assert StateStore(tmp_path / "state.sqlite3").load_synced() == tree

    other = StateStore(tmp_path / "state.sqlite3")
    other.delete_tree("笔记.md")
    store.put("另一个.txt", record("另一个.txt"))
    assert not store.save_snapshot(tree, since)  # the tree in hand lacks what the other wrote
    assert "笔记.md" not in StateStore(tmp_path / "state.sqlite3").load_synced()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:-10] + bytes(10), id="zeroed tail"),
        pytest.param(lambda data: data.replace(b"bbbb", b"cbbb"), id="one byte of a string"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: b"\xff" * 64, id="garbage"),
    ],
)
def test_a_damaged_snapshot_is_ignored(tmp_path: Path, damage: object) -> None:
    saved_store(tmp_path / "state.sqlite3").close()
    forge(tmp_path / "state.sqlite3", FORGED)
    copy = tmp_path / "state.synced"
    copy.write_bytes(damage(copy.read_bytes()))  # type: ignore[operator]
    assert StateStore(tmp_path / "state.sqlite3").load_synced() == TREE


def test_malformed_rows_with_a_good_checksum_are_ignored(tmp_path: Path) -> None:
    saved_store(tmp_path / "state.sqlite3").close()
    forge(tmp_path / "state.sqlite3", [("缺字段.txt", "file", 1)])  # type: ignore[list-item]
    assert StateStore(tmp_path / "state.sqlite3").load_synced() == TREE
    forge(tmp_path / "state.sqlite3", [("怪.txt", "symlink", 1, "", "怪.txt", 1, 1, "怪.txt", "", 1)])
    assert StateStore(tmp_path / "state.sqlite3").load_synced() == TREE


def test_a_snapshot_of_a_database_made_again_is_ignored(tmp_path: Path) -> None:
    saved_store(tmp_path / "state.sqlite3").close()
    for leftover in tmp_path.glob("state.sqlite3*"):
        leftover.unlink()  # the user reset the state; the copy stayed behind
    store = StateStore(tmp_path / "state.sqlite3")
    assert store.load_synced() == {}
    fresh = {f"新{i}.txt": record(f"新{i}.txt") for i in range(len(TREE))}
    store.put_many(fresh.items())  # as many writes as the copy counts: the database id tells them apart
    assert StateStore(tmp_path / "state.sqlite3").load_synced() == fresh


# -- deltas: a sync that changed a few records writes those, beside the whole copy -------------------

BIG = {f"卷{i // 10}/第{i}章.txt": record(f"卷{i // 10}/第{i}章.txt", size=i) for i in range(40)}


def synced_like_a_sync(
    store: StateStore, tree: dict[str, SyncedEntry], since: int, changed: set[str]
) -> bool:
    """What a sync does after writing: its patched tree and the keys it patched."""
    return store.save_snapshot(tree, since, changed)


def test_a_few_changes_are_saved_as_a_delta_and_loaded_with_the_copy(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    store = StateStore(db)
    store.put_many(BIG.items())
    assert store.save_snapshot(store.load_synced(), store.loaded_version)
    copy = (tmp_path / "state.synced").read_bytes()

    tree = store.load_synced()
    since = store.loaded_version
    edited = record("卷0/第3章.txt", size=333)
    store.put("卷0/第3章.txt", edited)
    store.delete_tree("卷1/第12章.txt")
    tree["卷0/第3章.txt"] = edited
    del tree["卷1/第12章.txt"]
    assert store.save_snapshot(tree, since, {"卷0/第3章.txt", "卷1/第12章.txt"})  # as a sync saves it

    assert (tmp_path / "state.synced").read_bytes() == copy  # the whole copy was not written again
    assert (tmp_path / "state.synced.delta").exists()
    fresh = StateStore(db)
    assert fresh.load_synced() == tree
    forge(db, FORGED)  # the copy, not the delta, now names the present stamp
    assert list(StateStore(db).load_synced()) == ["假的.txt"]


def test_deltas_accumulate_until_they_cover_an_eighth_of_the_tree(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    StateStore(db).put_many(BIG.items())
    store = StateStore(db)
    store.save_snapshot(store.load_synced(), store.loaded_version)
    keys = list(BIG)
    for round_, key in enumerate(keys[:6]):
        store = StateStore(db)  # each sync a new process, as `pansync sync` is
        tree = store.load_synced()
        since = store.loaded_version
        changed = record(key, size=1000 + round_)
        store.put(key, changed)
        tree[key] = changed
        assert store.save_snapshot(tree, since, {key})
        assert StateStore(db).load_synced() == tree
        delta = tmp_path / "state.synced.delta"
        # 5 keys fit in a delta of a 40-entry tree; the sixth makes it whole again
        assert delta.exists() == (round_ < 5), round_


def test_a_delta_is_never_trusted_beyond_its_own_state(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    store = StateStore(db)
    store.put_many(BIG.items())
    store.save_snapshot(store.load_synced(), store.loaded_version)
    tree = store.load_synced()
    since = store.loaded_version
    edited = record("卷2/第20章.txt", size=2020)
    store.put("卷2/第20章.txt", edited)
    tree["卷2/第20章.txt"] = edited
    assert store.save_snapshot(tree, since, {"卷2/第20章.txt"})
    delta = tmp_path / "state.synced.delta"
    good = delta.read_bytes()

    with sqlite3.connect(db) as raw:  # a write the delta does not hold
        raw.execute("UPDATE synced SET size = 7 WHERE key = ?", ("卷3/第30章.txt",))
    assert StateStore(db).load_synced()["卷3/第30章.txt"].size == 7

    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE synced SET size = 30 WHERE key = ?", ("卷3/第30章.txt",))
    for damaged in (good[: len(good) // 2], good[:-3] + b"\0\0\0", b""):
        delta.write_bytes(damaged)
        # whatever the delta, the tree read is the table's, never the copy's stale row
        assert StateStore(db).load_synced()["卷2/第20章.txt"].size == 2020


def test_a_tree_read_from_the_table_is_saved_whole(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    store = StateStore(db)  # one store throughout, as the agent keeps it from sync to sync
    store.put_many(BIG.items())
    store.save_snapshot(store.load_synced(), store.loaded_version)
    other = StateStore(db)
    other.put("卷0/第1章.txt", record("卷0/第1章.txt", size=11))  # the copy is stale now
    tree = store.load_synced()  # read from the table
    since = store.loaded_version
    store.put("卷0/第2章.txt", record("卷0/第2章.txt", size=22))
    tree["卷0/第2章.txt"] = record("卷0/第2章.txt", size=22)
    # A delta of the one key this tree changed would drop the other connection's write.
    assert store.save_snapshot(tree, since, {"卷0/第2章.txt"})
    assert not (tmp_path / "state.synced.delta").exists()
    loaded = StateStore(db).load_synced()
    assert loaded == tree and loaded["卷0/第1章.txt"].size == 11


def test_a_reader_reads_the_tree_and_writes_nothing(tmp_path: Path) -> None:
    """What a forked child opens (`StateStore.reader`): its own read-only connection, also where
    the state directory's name needs escaping in a URI."""
    path = tmp_path / "状态 #1?%20&x" / "state.sqlite3"
    store = saved_store(path)
    reader = StateStore.reader(path)
    try:
        assert reader.load_synced() == TREE
        assert reader.synced_stamp() == store.synced_stamp()
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.put_many(TREE.items())
    finally:
        reader.close()
        store.close()
