"""Watching: events to queued paths, own writes filtered, ignore rules, and the inotify fallback."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from watchdog.observers.api import BaseObserver

from pansync.ignore import IgnoreRules
from pansync.model import Kind, SyncedEntry
from pansync.state import StateStore
from pansync.watch import FolderWatch, SyncedLookup, Watcher, inotify_probe, local_drift


def record_of(path: Path) -> SyncedEntry:
    st = path.stat()
    kind = Kind.DIR if path.is_dir() else Kind.FILE
    size = 0 if kind is Kind.DIR else st.st_size
    return SyncedEntry(kind, size, "", path.name, st.st_mtime_ns, st.st_ino, path.name, "1", 0)


class Rig:
    """A root, its state database, and a FolderWatch whose clock the test moves."""

    def __init__(self, tmp_path: Path, delay: float = 1.0, exclude: tuple[str, ...] = ()) -> None:
        self.root = tmp_path / "root"
        self.root.mkdir()
        self.state = StateStore(tmp_path / "state.sqlite3")
        self.queued: list[str] = []
        self.rescans: list[str] = []
        self.now = 100.0
        self.watch = FolderWatch(
            "main",
            self.root,
            delay=delay,
            put=self.queued.extend,
            lookup=SyncedLookup(tmp_path / "state.sqlite3"),
            exclude=exclude,
            rescan=self.rescans.append,
            clock=lambda: self.now,
        )

    def event(self, kind: str, rel: str, is_dir: bool = False) -> None:
        self.watch.event(kind, str(self.root / rel), is_dir)

    def synced(self, rel: str) -> None:
        self.state.put(rel, record_of(self.root / rel))

    def settle(self) -> list[str]:
        self.now += 10
        return self.watch.pump(self.now)


def test_a_new_file_is_queued_once_after_its_burst(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    (rig.root / "a.txt").write_text("hello")
    for kind in ("created", "modified", "modified", "closed"):
        rig.event(kind, "a.txt")
    assert rig.watch.pump(rig.now) == []  # still in its quiet time
    assert rig.settle() == ["a.txt"] and rig.queued == ["a.txt"]


def test_an_editor_save_is_one_change_and_its_temp_file_is_dropped(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    (rig.root / "doc.txt").write_text("v1")
    rig.synced("doc.txt")
    temp = rig.root / ".goutputstream-X1Y2"
    temp.write_text("v2, longer")
    rig.event("created", temp.name)
    rig.event("modified", temp.name)
    os.replace(temp, rig.root / "doc.txt")
    rig.watch.event("moved", str(temp), False)
    rig.event("moved", "doc.txt")
    assert rig.settle() == ["doc.txt"]


def test_the_agents_own_download_is_not_echoed(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    (rig.root / "sub").mkdir()
    (rig.root / "sub" / "got.bin").write_bytes(b"from the cloud")
    rig.synced("sub")
    rig.synced("sub/got.bin")  # the executor commits the download's record right after the rename
    rig.event("created", "sub/.pansync.tmp-123")
    rig.event("moved", "sub/got.bin")
    rig.event("modified", "sub", is_dir=True)
    assert rig.settle() == []
    (rig.root / "sub" / "got.bin").write_bytes(b"then the user edits it")
    rig.event("modified", "sub/got.bin")
    assert rig.settle() == ["sub/got.bin"]


def test_own_deletions_and_moves_are_not_echoed_but_the_users_are(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    (rig.root / "gone.txt").write_text("x")
    rig.event("deleted", "never-synced.txt")  # created and deleted before anyone synced it
    rig.synced("gone.txt")
    (rig.root / "gone.txt").unlink()
    rig.event("deleted", "gone.txt")
    assert rig.settle() == ["gone.txt"]  # the user's deletion
    rig.state.delete_tree("gone.txt")  # ...or the agent's, which forgets the record as it trashes
    rig.event("deleted", "gone.txt")
    assert rig.settle() == []


def test_pansync_names_and_ignore_rules_are_never_queued(tmp_path: Path) -> None:
    rig = Rig(tmp_path, exclude=("build/",))
    for rel in (".pansync.root", ".pansync.tmp-9", "d/.pansync.tmp-1", ".DS_Store", "build/out.o", "x.swp"):
        (rig.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (rig.root / rel).write_text("x")
        rig.event("created", rel)
    assert rig.watch.pending() == 0
    (rig.root / ".pansyncignore").write_text("*.log\n")
    rig.event("modified", ".pansyncignore")
    assert rig.rescans == ["the ignore rules changed"]
    (rig.root / "app.log").write_text("x")
    rig.event("created", "app.log")
    assert rig.watch.pending() == 0


def test_a_missing_state_database_counts_as_news(tmp_path: Path) -> None:
    lookup = SyncedLookup(tmp_path / "nope.sqlite3")
    assert lookup.get("a") is False


def test_local_drift_finds_what_events_missed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f.txt").write_text("x")
    (root / ".pansync.root").write_text("{}")
    synced = {"d": record_of(root / "d"), "d/f.txt": record_of(root / "d" / "f.txt")}
    rules = IgnoreRules(["*.tmp"])
    assert local_drift(root, synced, rules) is None
    (root / "x.tmp").write_text("ignored")
    assert local_drift(root, synced, rules) is None
    (root / "d" / "f.txt").write_text("edited")
    assert local_drift(root, synced, rules) == "changed on this computer: d/f.txt"
    (root / "d" / "f.txt").unlink()
    assert local_drift(root, synced, rules) == "1 synced paths are gone from this computer"
    (root / "new").mkdir()
    assert local_drift(root, {}, rules) is not None


# -- real observers -----------------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_inotify_events_reach_the_debouncer(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    watcher = Watcher()
    try:
        assert watcher.add(rig.watch, 30) == "realtime"
        (rig.root / "deep" / "er").mkdir(parents=True)
        (rig.root / "deep" / "er" / "n.txt").write_text("x")
        assert wait_for(lambda: rig.watch.pending() >= 1)
    finally:
        watcher.stop()
    assert inotify_probe(tmp_path) in (0, None)


class ExhaustedObserver(BaseObserver):
    """An inotify observer on a system whose watch budget is spent."""

    def __init__(self) -> None:
        super().__init__(object)  # type: ignore[arg-type]

    def schedule(self, *args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")


@pytest.mark.parametrize("where", ["schedule", "probe"])
def test_the_inotify_limit_falls_back_to_scanning_with_one_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    rig = Rig(tmp_path)
    if where == "schedule":
        watcher = Watcher(observer_factory=ExhaustedObserver)
    else:  # watchdog gave up on sub-folders quietly; the probe after scheduling notices
        watcher = Watcher(probe=lambda path: errno.ENOSPC)
    try:
        assert watcher.add(rig.watch, 0.2) == "polling"
        err = capsys.readouterr().err
        assert (
            "fs.inotify.max_user_watches" in err and "sudo sysctl" in err and "scanning it every 0.2s" in err
        )
        assert "inotify watch limit" in watcher.problems["main"]
        (rig.root / "late.txt").write_text("seen by the scan")
        assert wait_for(lambda: rig.watch.pending() >= 1)
    finally:
        watcher.stop()


def test_a_missing_root_is_watched_once_it_appears(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.root.rmdir()
    watcher = Watcher()
    try:
        assert watcher.add(rig.watch, 30) == "off"
        rig.root.mkdir()
        watcher.recheck(rig.watch, 30)
        assert watcher.modes["main"] == "realtime"
    finally:
        watcher.stop()
