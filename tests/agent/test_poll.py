"""The remote poller on a real `file://` remote, with the clock passed in (no sleeping)."""

from __future__ import annotations

from pathlib import Path

from pansync.ignore import IgnoreRules
from pansync.index import SharedIndex, encode_index
from pansync.model import SyncedEntry
from pansync.poll import RemotePoller, remote_drift
from pansync.remote.local import LocalRemote

ME, OTHER = "a" * 32, "b" * 32


def commit(remote: LocalRemote, generation: int, writer: str) -> None:
    remote.write_meta(".index.dat", encode_index(SharedIndex(generation, writer, generation, {})))


def synced_of(remote: LocalRemote) -> dict[str, SyncedEntry]:
    """The synced tree a sync would leave: every remote entry, as listed."""
    return {
        e.name: SyncedEntry(e.kind, e.size, "", e.name, 0, 0, e.name, e.remote_id, e.mtime_ns)
        for e in remote.list_tree()
    }


def make(tmp_path: Path, synced: dict[str, SyncedEntry] | None = None) -> tuple[LocalRemote, RemotePoller]:
    root = tmp_path / "cloud"
    root.mkdir(exist_ok=True)
    remote = LocalRemote(root)
    remote.ensure_root()
    tree = synced if synced is not None else {}
    poller = RemotePoller(
        remote,
        client_id=ME,
        poll_interval=30,
        full_scan_interval=600,
        synced=lambda: tree,
        ignore=IgnoreRules,
        now=0.0,
    )
    return remote, poller


def test_the_first_check_is_a_baseline_then_another_clients_commit_is_news(tmp_path: Path) -> None:
    remote, poller = make(tmp_path)
    commit(remote, 1, OTHER)
    assert poller.poll(0.0) is None  # baseline: the startup sync covers the past
    assert poller.next_due() == 30.0
    assert poller.poll(29.0) is None  # not due: nothing read
    commit(remote, 2, OTHER)
    reason = poller.poll(30.0)
    assert reason is not None and "generation 2" in reason
    assert poller.poll(60.0) is None  # seen once is enough


def test_our_own_commit_is_not_news(tmp_path: Path) -> None:
    remote, poller = make(tmp_path)
    commit(remote, 1, OTHER)
    poller.poll(0.0)
    commit(remote, 2, OTHER)
    commit(remote, 3, ME)  # our sync took the lock after theirs, so it saw generation 2 too
    assert poller.poll(30.0) is None


def test_a_folder_made_on_the_nas_itself_is_news_until_a_sync_notes_it(tmp_path: Path) -> None:
    _, poller = make(tmp_path)
    poller.poll(0.0)
    (tmp_path / "cloud" / "made-on-the-nas").mkdir()
    assert poller.poll(30.0) == "folders in the remote changed"
    (tmp_path / "cloud" / "ours").mkdir()  # a sync of ours made this...
    poller.note_synced()  # ...and says so when it ends
    assert poller.poll(60.0) is None


def test_the_full_check_compares_the_listing_with_the_synced_tree(tmp_path: Path) -> None:
    root = tmp_path / "cloud"
    root.mkdir()
    (root / "docs").mkdir()
    (root / "docs" / "a.txt").write_text("a")
    remote = LocalRemote(root)
    synced = synced_of(remote)
    ignore = IgnoreRules(["*.tmp"])
    assert remote_drift(remote, synced, ignore) is None
    (root / "junk.tmp").write_text("ignored")
    assert remote_drift(remote, synced, ignore) is None
    (root / "docs" / "a.txt").write_text("edited deep down, outside PanSync")
    assert remote_drift(remote, synced, ignore) == "changed in the cloud: docs/a.txt"
    (root / "docs" / "a.txt").unlink()
    assert remote_drift(remote, synced, ignore) == "gone from the cloud: docs/a.txt"
    assert remote_drift(remote, synced, ignore, excluded=["docs"]) is None
    (root / "new.txt").write_text("n")
    assert remote_drift(remote, {}, ignore) is not None


def test_full_checks_run_on_their_own_period_with_extra_checks(tmp_path: Path) -> None:
    root = tmp_path / "cloud"
    root.mkdir()
    remote = LocalRemote(root)
    calls: list[int] = []

    def local_side(synced: object) -> str | None:
        calls.append(1)
        return "changed on this computer: x" if len(calls) > 1 else None

    poller = RemotePoller(
        remote,
        client_id=ME,
        poll_interval=30,
        full_scan_interval=600,
        synced=dict,
        ignore=IgnoreRules,
        extra_full_checks=[local_side],
        now=0.0,
    )
    assert poller.poll(0.0) is None and calls == []
    assert poller.next_due() == 30.0
    assert poller.poll(600.0) is None and calls == [1]
    assert poller.next_due() == 630.0
    assert poller.poll(1200.0) == "changed on this computer: x"


class FeedRemote(LocalRemote):
    """A remote with a change feed, like Baidu's `changes_since`."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.pending = False
        self.asked = 0

    def changes_since(self, cursor: str | None) -> tuple[bool | None, str | None]:
        self.asked += 1
        if cursor is None:
            return None, "c1"
        changed, self.pending = self.pending, False
        return changed, cursor + "+"


def test_a_change_feed_is_asked_instead_of_reading_the_index(tmp_path: Path) -> None:
    root = tmp_path / "cloud"
    root.mkdir()
    remote = FeedRemote(root)
    poller = RemotePoller(
        remote, client_id=ME, poll_interval=30, full_scan_interval=600, synced=dict, ignore=IgnoreRules
    )
    poller.poll(0.0)  # no cursor yet: falls back to the index for this once
    assert poller.poll(30.0) is None
    remote.pending = True
    assert poller.poll(60.0) == "the cloud's change feed reports changes"
    remote.pending = True  # our own sync wrote...
    poller.note_synced()  # ...and moved the cursor past it
    assert poller.poll(90.0) is None


def test_an_unreachable_remote_is_no_news(tmp_path: Path) -> None:
    _, poller = make(tmp_path)
    (tmp_path / "cloud" / ".pansync").mkdir(exist_ok=True)
    (tmp_path / "cloud" / ".pansync" / ".index.dat").mkdir()  # reading it fails with an OSError
    assert poller.poll(0.0) is None
