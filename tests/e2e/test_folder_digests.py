"""Folder digests (`folder_digests`, `clean_folders`): a whole sync in which every folder of both sides
is clean by its digest does nothing without reading the synced tree, and any change on either side
after such a sync is synced exactly as without digests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pansync import folder_digests, forked, remote_tree, session, state
from pansync.dirfd import open_folder
from pansync.ignore import IgnoreRules
from pansync.scan import scan_local
from tests.e2e.harness import Client, cloud_trash, snapshot

pytestmark = pytest.mark.skipif(not forked.can_fork(), reason="forks only on Linux, single-threaded")

FILES = {
    "报告/第一章.md": "# 第一章\n",
    "报告/附录：数据.csv": "年,数\n2026,1\n",
    "报告/草稿/想法.txt": "想法，未定。",
    "照片/春节.jpg": "JPG",
    "说明.txt": "说明。",
}


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Whole reads of the synced tree by syncs in this process (the forked child counts in its own
    copy of this list; a read there would make the parent read too, as the cloud was not quiet)."""
    monkeypatch.setattr(remote_tree, "FORK_MIN", 0)
    calls: list[str] = []
    syncing: list[bool] = []
    real_read, real_run = state.StateStore.load_synced, session.FolderSync.run

    def counted(self: state.StateStore) -> dict[str, object]:
        if syncing:
            calls.append("read")
        return real_read(self)  # type: ignore[return-value]

    def run(self: session.FolderSync, *args: object, **kwargs: object) -> object:
        syncing.append(True)
        try:
            return real_run(self, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            syncing.pop()

    monkeypatch.setattr(state.StateStore, "load_synced", counted)
    monkeypatch.setattr(session.FolderSync, "run", run)
    return calls


def _quiet_pair(make_client: Callable[..., Client]) -> Client:
    alice = make_client("alice")
    for rel, text in FILES.items():
        alice.write(rel, text)
    assert alice.sync().converged  # uploads: the folders written in are not clean yet
    assert alice.sync().converged  # finds every folder clean and keeps their digests
    return alice


def test_a_sync_of_clean_folders_reads_no_synced_tree(
    make_client: Callable[..., Client], reads: list[str]
) -> None:
    alice = _quiet_pair(make_client)
    reads.clear()

    result = alice.sync()

    assert result.converged and not result.done and not result.issues
    assert reads == []
    assert alice.tree().keys() >= FILES.keys()


def _touch(path: Path, seconds: int) -> None:
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))


LOCAL_CHANGES: dict[str, Callable[[Client, Path], None]] = {
    "edit": lambda c, cloud: c.write("报告/第一章.md", "# 第一章（修订）\n"),
    "same-size-edit": lambda c, cloud: (
        c.write("说明.txt", "说明！"),
        _touch(c.root / "说明.txt", 1_800_000_000),
    ),
    "touch": lambda c, cloud: _touch(c.root / "照片/春节.jpg", 1_800_000_000),
    "new-file-deep": lambda c, cloud: c.write("报告/草稿/新想法.txt", "新的。"),
    "delete": lambda c, cloud: (c.root / "报告/附录：数据.csv").unlink(),
    "rename": lambda c, cloud: (c.root / "说明.txt").rename(c.root / "说明（旧）.txt"),
    "new-folder": lambda c, cloud: (c.root / "空文件夹").mkdir(),
    "folder-replaced-by-file": lambda c, cloud: (
        (c.root / "照片/春节.jpg").unlink(),
        (c.root / "照片").rmdir(),
        c.write("照片", "现在是文件"),
    ),
}

CLOUD_CHANGES: dict[str, Callable[[Client, Path], None]] = {
    "edit": lambda c, cloud: (cloud / "报告/第一章.md").write_text("# 网页上改的\n", encoding="utf-8"),
    "new-file-deep": lambda c, cloud: (cloud / "报告/草稿/手机传的.txt").write_text("手机", encoding="utf-8"),
    "delete": lambda c, cloud: (cloud / "照片/春节.jpg").unlink(),
    "rename-folder": lambda c, cloud: (cloud / "报告/草稿").rename(cloud / "报告/定稿"),
    "same-size-new-identity": lambda c, cloud: _replace_keeping_size_and_mtime(cloud / "说明.txt", "明说。"),
}


def _replace_keeping_size_and_mtime(path: Path, text: str) -> None:
    st = path.stat()
    temp = path.with_name("替换中.tmp")
    temp.write_text(text, encoding="utf-8")
    os.utime(temp, ns=(st.st_atime_ns, st.st_mtime_ns))
    temp.replace(path)


CHANGES = {f"local-{k}": f for k, f in LOCAL_CHANGES.items()} | {
    f"cloud-{k}": f for k, f in CLOUD_CHANGES.items()
}


@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
def test_a_change_on_either_side_after_a_quiet_sync_is_synced(
    make_client: Callable[..., Client], cloud: Path, reads: list[str], change: str
) -> None:
    alice = _quiet_pair(make_client)
    CHANGES[change](alice, cloud)

    result = alice.sync()

    assert result.converged and result.done
    assert alice.tree() == snapshot(cloud)
    assert alice.sync().converged and not alice.sync().done


def test_a_symbolic_link_is_reported_by_every_sync(
    make_client: Callable[..., Client], cloud: Path, reads: list[str]
) -> None:
    alice = _quiet_pair(make_client)
    os.symlink(alice.root / "报告", alice.root / "报告/链接")
    os.symlink(cloud / "照片", cloud / "照片的链接")

    for _ in range(3):
        result = alice.sync()
        assert sorted(i.rel_path for i in result.issues) == ["报告/链接", "照片的链接"]


def test_a_rule_that_no_longer_leaves_a_file_out_uploads_it(
    make_client: Callable[..., Client], cloud: Path, reads: list[str]
) -> None:
    alice = make_client("alice", extra_config="    exclude: ['*.tmp']\n")
    for rel, text in FILES.items():
        alice.write(rel, text)
    alice.write("报告/缓存.tmp", "临时")
    alice.write(".pansyncignore", "报告/草稿/\n")
    assert alice.sync().converged and alice.sync().converged
    assert "报告/缓存.tmp" not in snapshot(cloud) and "报告/草稿/想法.txt" not in snapshot(cloud)
    alice.write(".pansyncignore", "")
    alice.config_path.write_text(alice.config_path.read_text("utf-8").replace("'*.tmp'", "'*.bak'"), "utf-8")

    assert alice.sync().converged

    assert {"报告/缓存.tmp", "报告/草稿/想法.txt"} <= snapshot(cloud).keys()


def test_digests_that_do_not_go_with_the_synced_tree_are_dropped(
    make_client: Callable[..., Client], cloud: Path, reads: list[str]
) -> None:
    """A digests file that vouches for a file the synced tree does not hold (it cannot happen while
    the stamp is checked; made here by hand) costs a second look, never the file."""
    alice = _quiet_pair(make_client)
    alice.write("报告/草稿/漏掉的.txt", "不能丢。")
    runner = alice.runner()
    try:
        stamp = runner.state.synced_stamp()
        path = runner.clean.path
        stored = folder_digests.load(path, stamp, _only_shape(path))
        assert stored is not None
        stored.local["报告/草稿"] = folder_digests.digest_listing(_listing(alice.root / "报告/草稿"))
        folder_digests.save(path, stamp, _only_shape(path), stored)
        trusting = scan_local(alice.root, runner.state.load_synced(), IgnoreRules(), digests=stored.local)
        assert "报告/草稿/漏掉的.txt" in trusting.quiet_files  # the forged digest is the walk's own
    finally:
        runner.close()

    result = alice.sync()

    assert result.converged
    assert snapshot(cloud)["报告/草稿/漏掉的.txt"] == "不能丢。".encode()


def test_a_sync_with_actions_keeps_the_digests_of_folders_it_did_not_write_in(
    make_client: Callable[..., Client], cloud: Path, reads: list[str]
) -> None:
    alice = _quiet_pair(make_client)
    (cloud / "照片/元宵.jpg").write_text("JPG2", encoding="utf-8")
    assert alice.sync().converged

    runner = alice.runner()
    try:
        stored = folder_digests.load(
            runner.clean.path, runner.state.synced_stamp(), _only_shape(runner.clean.path)
        )
    finally:
        runner.close()
    assert stored is not None
    assert "照片" not in stored.local and "照片" not in stored.remote
    assert {"报告", "报告/草稿"} <= stored.local.keys() & stored.remote.keys()
    assert not cloud_trash(cloud)

    reads.clear()
    assert not alice.sync().done  # judges "照片" entry by entry, finds it clean
    assert reads
    reads.clear()
    assert not alice.sync().done
    assert reads == []


def _only_shape(path: Path) -> str:
    """The shape the stored file was made under (the tests keep one)."""
    from pansync.synced_snapshot import read_frame

    with open(path, "rb") as source:
        value = read_frame(source)
    return str(value[3])


def _listing(folder: Path) -> list[tuple[str, os.stat_result]]:
    listed = open_folder(str(folder))
    try:
        return [(name, os.stat(name, dir_fd=listed.fd, follow_symlinks=False)) for name in listed.names]
    finally:
        listed.close()
