"""Roots that are not what they should be: a local root gone, emptied without its marker, marked
for another folder, or a file; a remote root that is a file. Each stops the folder with one clear
message and deletes nothing on either side; `--force` does not change that."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pansync.errors import PanSyncError, RootMissing
from tests.bad_inputs._support import assert_kept
from tests.e2e.harness import Client, snapshot

REMOTES = ["file", "baidu"]


def _unmount(root: Path) -> None:
    shutil.rmtree(root)


def _empty_mount_point(root: Path) -> None:
    shutil.rmtree(root)
    root.mkdir()


def _marker_of_another_folder(root: Path) -> None:
    marker = root / ".pansync.root"
    data = json.loads(marker.read_text(encoding="utf-8"))
    marker.write_text(json.dumps({**data, "folder_id": "someone-else"}), encoding="utf-8")
    for child in root.iterdir():
        if child.name != ".pansync.root":
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def _replaced_by_a_file(root: Path) -> None:
    shutil.rmtree(root)
    root.write_text("a file where the folder was")


ROOT_DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "gone": (_unmount, "is missing"),
    "empty-without-marker": (_empty_mount_point, "lacks its PanSync marker"),
    "marker-of-another-folder": (_marker_of_another_folder, "lacks its PanSync marker"),
    "a-file": (_replaced_by_a_file, "is a file, not a folder"),
}


@pytest.mark.parametrize("damage", sorted(ROOT_DAMAGE))
def test_a_local_root_that_is_not_the_synced_folder_deletes_nothing(
    alice: Client, bob: Client, cloud: Path, damage: str
) -> None:
    for i in range(12):
        alice.write(f"f{i:02}.txt", str(i))
    alice.sync()
    bob.sync()
    before_cloud, before_bob = snapshot(cloud), bob.tree()
    change, fragment = ROOT_DAMAGE[damage]
    change(alice.root)
    for force in (False, True):
        with pytest.raises(RootMissing) as stopped:
            alice.sync(force=force)
        assert str(alice.root) in stopped.value.message and fragment in stopped.value.message
        assert "Nothing was" in stopped.value.message
    assert snapshot(cloud) == before_cloud
    bob.sync()
    assert_kept(before_bob, bob.tree())


def test_a_first_sync_into_a_root_that_is_a_file_is_refused(
    alice: Client, cloud: Path, remote_kind: str
) -> None:
    alice.root.parent.mkdir(parents=True, exist_ok=True)
    alice.root.write_text("precious")
    with pytest.raises(RootMissing, match="is a file, not a folder"):
        alice.sync()
    assert alice.root.read_text() == "precious"


def test_a_remote_root_that_is_a_file_is_a_clear_error(
    make_client: Callable[..., Client], cloud: Path, remote_kind: str, fake_baidu: Any
) -> None:
    if remote_kind == "baidu":
        fake_baidu.put_file("/apps/bypy/pansync-test", b"a file where the folder should be")
    else:
        cloud.rmdir()
        cloud.write_text("a file where the folder should be")
    carol = make_client("carol")
    carol.write("mine.txt", "mine")
    with pytest.raises(PanSyncError) as stopped:
        carol.sync()
    message = str(stopped.value)
    assert "file" in message and ("pansync-test" in message or str(cloud) in message), message
    assert carol.read("mine.txt") == "mine"
    if remote_kind == "file":
        assert cloud.read_text() == "a file where the folder should be"
    else:
        assert fake_baidu.read_file("/apps/bypy/pansync-test") == b"a file where the folder should be"


def test_a_first_sync_after_the_state_was_lost_adopts_the_root(alice: Client, bob: Client) -> None:
    """A reinstall (or a wiped PANSYNC_HOME) leaves the old marker in the folder: the first sync
    of the new state merges with the cloud and marks the root as its own, so the next sync runs
    instead of calling the folder someone else's."""
    alice.write("资料/合同（终稿）.pdf", "signed")
    assert alice.sync().converged
    shutil.rmtree(alice.home / "state" / "folders")
    alice.write("资料/新的.txt", "after the reinstall")
    assert alice.sync().converged
    assert alice.sync().converged  # no "lacks its PanSync marker"
    bob.sync()
    assert (
        bob.read("资料/新的.txt") == "after the reinstall" and bob.read("资料/合同（终稿）.pdf") == "signed"
    )
