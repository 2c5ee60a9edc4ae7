"""Files that change while PanSync moves them (DESIGN §2, "changed during upload" and atomic local
writes): deleted, growing or rewritten in place during an upload; created locally or changed or
deleted in the cloud during a download. A torn version never lands under a real name, the item is
reported by name, and the next sync brings the final content."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pansync.remote.base import Remote
from tests.bad_inputs._support import Hooks, failures, hooked, temps_under
from tests.e2e.harness import Client, cloud_trash, snapshot

REMOTES = ["file", "baidu"]

MIB = 1024 * 1024
BIG = 3 * MIB + 5  # several progress callbacks on either backend, below Baidu's slice threshold


def _data(tag: bytes, size: int = BIG) -> bytes:
    return (tag * (size // len(tag) + 1))[:size]


def test_a_file_deleted_mid_upload_is_not_committed(make_client: Callable[..., Client], cloud: Path) -> None:
    hooks = Hooks(during_upload=lambda path: path.unlink() if path.name == "big.bin" else None)
    carol = make_client("carol", wrap_remote=hooked(hooks))
    carol.write("ok.txt", "ok")
    carol.write("big.bin", _data(b"doomed "))
    result = carol.sync()
    assert "vanished" in failures(result)["big.bin"], result.failed
    assert snapshot(cloud) == {"ok.txt": b"ok"} and not temps_under(cloud)
    hooks.during_upload = None
    again = carol.sync()
    assert not again.done and not again.failed
    assert carol.tree() == {"ok.txt": b"ok"}


def test_a_file_growing_mid_upload_is_never_committed_torn(
    make_client: Callable[..., Client], cloud: Path
) -> None:
    def grow(path: Path) -> None:
        with open(path, "ab") as f:
            f.write(b"appended while uploading\n")

    hooks = Hooks(during_upload=lambda path: grow(path) if path.name == "log.txt" else None)
    carol = make_client("carol", wrap_remote=hooked(hooks))
    carol.write("log.txt", _data(b"line\n"))
    carol.write("ok.txt", "ok")
    result = carol.sync()  # every round's upload sees it grow again: never committed
    assert "log.txt" in failures(result), result.failed
    assert "log.txt" not in snapshot(cloud) and not temps_under(cloud)
    hooks.during_upload = None  # the writer is done
    assert not carol.sync().failed
    assert (cloud / "log.txt").read_bytes() == (carol.root / "log.txt").read_bytes()
    assert not cloud_trash(cloud)  # no torn version was ever under the real name


def test_a_file_rewritten_in_place_mid_upload_is_caught_by_its_md5(
    make_client: Callable[..., Client], cloud: Path, cloud_remote: Remote
) -> None:
    """Same size, same mtime: only the MD5 of the bytes actually sent can tell."""
    rewrites: list[Path] = []

    def rewrite_tail(path: Path) -> None:
        if path.name != "db.bin" or rewrites:
            return
        st = os.stat(path)
        with open(path, "r+b") as f:
            f.seek(-MIB, os.SEEK_END)
            f.write(_data(b"NEW!", MIB))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        rewrites.append(path)

    carol = make_client("carol", wrap_remote=hooked(Hooks(during_upload=rewrite_tail)))
    carol.write("db.bin", _data(b"old."))
    carol.sync()
    assert rewrites
    final = (carol.root / "db.bin").read_bytes()
    assert (cloud / "db.bin").read_bytes() == final  # the retry in a later round sent it whole
    assert not temps_under(cloud)
    assert not cloud_trash(cloud)  # and the mix of old head and new tail was never committed


def test_a_local_file_created_during_its_download_is_kept(
    make_client: Callable[..., Client], alice: Client, cloud: Path
) -> None:
    alice.write("report.txt", "from the cloud")
    alice.sync()
    holder: list[Client] = []

    def create_locally(rel_path: str) -> None:
        if rel_path.endswith("report.txt") and len(holder) == 1:
            holder[0].write("report.txt", "typed here meanwhile")
            holder.append(holder[0])  # once

    bob = make_client("bob", wrap_remote=hooked(Hooks(before_download=create_locally)))
    holder.append(bob)
    bob.root.mkdir(parents=True)
    result = bob.sync()  # the download is not linked over it; a later round sees a conflict (row 6)
    assert len(holder) == 2 and not temps_under(bob.root)
    assert [c.key for c in result.conflicts] == ["report.txt"], (result.conflicts, result.failed)
    copy = result.conflicts[0].copy_key
    assert bob.read(copy) == "typed here meanwhile" and bob.read("report.txt") == "from the cloud"
    alice.sync()
    assert alice.read(copy) == "typed here meanwhile"  # both versions reach every side


def test_a_cloud_file_deleted_during_its_download_leaves_nothing_behind(
    make_client: Callable[..., Client], alice: Client, cloud: Path, cloud_remote: Remote
) -> None:
    alice.write("gone.bin", _data(b"gone"))
    alice.write("ok.txt", "ok")
    alice.sync()

    def delete_in_cloud(rel_path: str) -> None:
        if rel_path.endswith("gone.bin"):
            cloud_remote.delete(rel_path)

    bob = make_client("bob", wrap_remote=hooked(Hooks(before_download=delete_in_cloud)))
    result = bob.sync()
    assert "gone.bin" in failures(result), result.failed
    assert not (bob.root / "gone.bin").exists()
    recorded = {Path(path).name for side, path in bob.state().temps() if side == "local"}
    assert set(temps_under(bob.root)) <= recorded  # a partial kept for a retry is known, and cleaned
    assert bob.read("ok.txt") == "ok"
    before = alice.tree()
    alice.sync()  # the deletion reaches alice as a deletion, into her trash, recoverable
    assert set(alice.tree()) == set(before) - {"gone.bin"}


def test_a_cloud_file_changed_during_its_download_is_not_written_torn(
    make_client: Callable[..., Client], alice: Client, cloud: Path, cloud_remote: Remote, tmp_path: Path
) -> None:
    alice.write("doc.bin", _data(b"v1.."))
    alice.sync()
    newer = tmp_path / "newer"
    newer.write_bytes(_data(b"v2.."))
    changed: list[str] = []

    def replace_in_cloud(rel_path: str) -> None:
        if rel_path.endswith("doc.bin") and not changed:
            cloud_remote.delete(rel_path)
            cloud_remote.upload(newer, rel_path)
            changed.append(rel_path)

    bob = make_client("bob", wrap_remote=hooked(Hooks(before_download=replace_in_cloud)))
    bob.root.mkdir(parents=True)
    bob.write("doc.bin", _data(b"v0.."))  # bob's own older copy, never synced: must survive
    bob.sync()
    bob.sync()
    assert len(changed) == 1
    contents = sorted(v for v in bob.tree().values() if v is not None)
    assert contents == sorted([_data(b"v0.."), _data(b"v2..")])  # bob's own copy and the new one
    assert not temps_under(bob.root)
