"""The local disk misbehaving: files that cannot be read (real permissions, as `nobody`, and an
injected error), a folder replaced by a file in the middle of a scan, one folder of 10,000 entries,
and a sparse file. `file://` only: these are properties of the local side."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import pansync.session
from pansync.hashing import md5_file
from pansync.ignore import IgnoreRules
from pansync.model import Kind
from pansync.names import is_under
from pansync.scan import ScanResult, scan_local
from tests.bad_inputs._support import assert_kept, issues
from tests.e2e.harness import Client, cloud_trash, snapshot

NOBODY = 65534


def issues_of(result: ScanResult) -> dict[str, str]:
    return {i.rel_path: i.message for i in result.issues}


def _as_nobody(client: Client, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**client.env, "HOME": str(client.home)}  # root's home is closed to nobody
    become = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run(
        [*become, sys.executable, "-m", "pansync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def world_base() -> Iterator[Path]:
    """A folder `nobody` can enter (pytest's tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="pansync-nobody-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv to become nobody"
)
def test_an_unreadable_file_is_skipped_and_retried_with_real_permissions(world_base: Path) -> None:
    cloud = world_base / "cloud"
    cloud.mkdir()
    client = Client(world_base, "nobody", cloud.as_uri())
    client.write("ok.txt", "ok")
    locked = client.write("private/locked.txt", "secret")
    for path in [world_base, *world_base.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    reach = _as_nobody(client, "--version")
    if reach.returncode != 0:  # e.g. a checkout inside a 0700 folder: nobody cannot import PanSync
        pytest.skip(f"user nobody cannot run PanSync from this checkout: {reach.stderr.strip()[:120]}")
    locked.chmod(0)  # even its owner may not read it
    out = _as_nobody(client, "sync")
    assert out.returncode == 0, out.stderr
    assert "private/locked.txt" in out.stdout and "Permission denied" in out.stdout, out.stdout
    assert snapshot(cloud) == {"ok.txt": b"ok", "private": None}
    locked.chmod(0o600)
    out = _as_nobody(client, "sync")
    assert out.returncode == 0, out.stderr
    assert (cloud / "private" / "locked.txt").read_text() == "secret"


def test_a_file_that_fails_to_read_is_skipped_and_its_cloud_copy_kept(
    alice: Client, bob: Client, cloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice.write("ok.txt", "ok")
    alice.write("locked.txt", "v1")
    alice.sync()
    alice.write("locked.txt", "v2 that cannot be read")

    def hasher(path: Path) -> str:
        if path.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return md5_file(path)

    monkeypatch.setattr(pansync.session, "scan_local", functools.partial(scan_local, hasher=hasher))
    result = alice.sync()
    assert "Permission denied" in issues(result)["locked.txt"]
    assert (cloud / "locked.txt").read_text() == "v1"  # frozen: neither deleted nor replaced
    bob.sync()
    assert bob.read("locked.txt") == "v1"
    monkeypatch.undo()
    alice.sync()
    assert (cloud / "locked.txt").read_text() == "v2 that cannot be read"


def _swap_folder_for_a_file_while_hashing(root: Path) -> functools.partial[ScanResult]:
    """A scan during which the folder `d` becomes a file, after the walk has seen it as a folder:
    hashing `z.txt` (names are taken in order: `a.txt`, `d`, `z.txt`) swaps it."""
    swapped: list[Path] = []

    def hasher(path: Path) -> str:
        if path.name == "z.txt" and not swapped:
            shutil.rmtree(root / "d")
            (root / "d").write_text("d is a file now")
            swapped.append(path)
        return md5_file(path)

    return functools.partial(scan_local, hasher=hasher)


def test_a_folder_replaced_by_a_file_during_the_scan_leaves_its_content_frozen(tmp_path: Path) -> None:
    for rel in ["a.txt", "d/f0.txt", "d/sub/f1.txt", "z.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    result = _swap_folder_for_a_file_while_hashing(tmp_path)(tmp_path, {}, IgnoreRules())
    assert (tmp_path / "d").is_file()
    for rel in ["d/f0.txt", "d/sub/f1.txt"]:  # whether the walk or the hashing found out:
        assert any(is_under(rel, frozen) for frozen in result.frozen), (rel, result.frozen)
    assert any(is_under(k, "d") for k in issues_of(result)), result.issues  # reported
    files = {k: e for k, e in result.tree.items() if e.kind is Kind.FILE}
    assert all(e.md5 for e in files.values()) and set(files) >= {"a.txt", "z.txt"}


def test_a_folder_replaced_by_a_file_during_a_sync_loses_nothing(
    alice: Client, bob: Client, cloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice.write("z.txt", "z")
    for i in range(3):
        alice.write(f"d/f{i}.txt", f"in d {i}")
    alice.sync()
    bob.sync()
    alice.write("z.txt", "z changed")  # so that the next scan hashes it
    monkeypatch.setattr(pansync.session, "scan_local", _swap_folder_for_a_file_while_hashing(alice.root))
    result = alice.sync()
    monkeypatch.undo()
    assert not result.failed
    cloud_now, trash = snapshot(cloud), cloud_trash(cloud)
    for i in range(3):  # each file of d/ is still in the cloud, or recoverable from its trash
        rel, data = f"d/f{i}.txt", f"in d {i}".encode()
        assert data in (cloud_now.get(rel), trash.get(rel)), rel
    assert not alice.sync().failed  # a calm scan sees d as the file it now is: a type change (row 8)
    assert (cloud / "d").read_text() == "d is a file now"
    trash = cloud_trash(cloud)
    assert {k: trash[k] for k in trash if k.startswith("d/")} == {
        f"d/f{i}.txt": f"in d {i}".encode() for i in range(3)
    }
    bob.sync()
    assert bob.read("d") == "d is a file now" and bob.read("z.txt") == "z changed"


def test_ten_thousand_entries_in_one_folder(alice: Client, bob: Client, cloud: Path) -> None:
    flat = alice.root / "flat"
    flat.mkdir(parents=True)
    for i in range(9_995):
        (flat / f"e{i:05}").mkdir()
    for i in range(5):
        (flat / f"f{i}.txt").write_text(str(i))
    assert not alice.sync().failed
    assert not bob.sync().failed
    assert len(os.listdir(bob.root / "flat")) == 10_000
    again = alice.sync()
    assert not again.done and not again.failed


@pytest.mark.skipif(
    not os.environ.get("PANSYNC_BIG_FILES"), reason="2 GiB each on three sides; set PANSYNC_BIG_FILES=1"
)
def test_a_two_gib_sparse_file_round_trips(alice: Client, bob: Client, cloud: Path) -> None:
    alice.root.mkdir(parents=True)
    size = 2 * 1024**3
    with open(alice.root / "sparse.img", "wb") as f:
        f.truncate(size)
        f.seek(size - 5)
        f.write(b"tail!")
    assert not alice.sync().failed
    assert not bob.sync().failed
    assert os.path.getsize(bob.root / "sparse.img") == size
    assert md5_file(bob.root / "sparse.img") == md5_file(alice.root / "sparse.img")


def test_a_sparse_file_with_data_after_a_hole_round_trips(alice: Client, bob: Client) -> None:
    alice.root.mkdir(parents=True)
    size = 48 * 1024**2 + 7
    with open(alice.root / "holes.img", "wb") as f:
        f.write(b"head")
        f.truncate(size)
        f.seek(size - 5)
        f.write(b"tail!")
    before = alice.tree()
    assert not alice.sync().failed
    assert not bob.sync().failed
    assert md5_file(bob.root / "holes.img") == md5_file(alice.root / "holes.img")
    assert_kept(before, alice.tree())
