"""The local disk fills up while a download runs: the sync names the file and says the disk is full,
the old local version stays intact, no temp file is left to eat the space, and the next sync once
there is room again brings the new version. Two ways to fill the disk: a real 2 MiB tmpfs as the
local root (needs root), and an injected ENOSPC from the remote's download (runs anywhere)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pansync.remote.base import Progress, Remote
from tests.bad_inputs._support import failures, temps_under
from tests.e2e.harness import Client
from tests.faults._wrap import RemoteWrapper

REMOTES = ["file", "baidu"]

MIB = 1024 * 1024
OLD = b"the old version, kept\n" * 100
NEW = os.urandom(3 * MIB)  # more than the 2 MiB the small disk holds


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[Path, str], None]]:
    """`mount(path, size)` makes `path` a tmpfs of `size` (remount to resize); all unmounted after."""
    mounted: list[Path] = []

    def mount(path: Path, size: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if path in mounted:
            subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)
            return
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=False)
        if done.returncode != 0:
            pytest.skip("cannot mount a tmpfs here")
        mounted.append(path)

    try:
        yield mount
    finally:
        for path in mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


def _share_old_version(alice: Client, bob: Client) -> None:
    alice.write("small.txt", "small")
    alice.write("big.bin", OLD)
    assert not alice.sync().failed
    assert not bob.sync().failed
    alice.write("big.bin", NEW)
    assert not alice.sync().failed


def _assert_disk_full_then_retried(bob: Client, make_room: Callable[[], None]) -> None:
    result = bob.sync()
    found = failures(result)
    assert "big.bin" in found and "disk is full" in found["big.bin"], result.failed
    assert (bob.root / "big.bin").read_bytes() == OLD  # the old file intact under its name
    assert not temps_under(bob.root)  # no partial file left to hold the little space there is
    assert bob.read("small.txt") == "small"
    make_room()
    again = bob.sync()
    assert not again.failed, again.failed
    assert (bob.root / "big.bin").read_bytes() == NEW
    assert not temps_under(bob.root)


@pytest.mark.skipif(not _can_mount(), reason="mounting a tmpfs needs root")
def test_a_real_full_disk_during_a_download(
    alice: Client, bob: Client, small_disk: Callable[[Path, str], None]
) -> None:
    small_disk(bob.root, "2m")
    _share_old_version(alice, bob)
    _assert_disk_full_then_retried(bob, lambda: small_disk(bob.root, "16m"))


class _FillsUp(RemoteWrapper):
    """A remote whose downloads write part of the bytes, then meet a full disk."""

    def __init__(self, inner: Remote, full: list[bool]) -> None:
        super().__init__(inner)
        self.full = full

    def download(self, rel_path: str, dest: Path, progress: Progress | None = None, offset: int = 0) -> None:
        if not self.full[0]:
            self.inner.download(rel_path, dest, progress, offset)
            return
        with open(dest, "ab" if offset else "wb") as out:
            out.write(b"\0" * 4096)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_an_injected_full_disk_during_a_download(make_client: Callable[..., Client], alice: Client) -> None:
    full = [False]
    bob = make_client("bob", wrap_remote=lambda remote: _FillsUp(remote, full))
    _share_old_version(alice, bob)
    full[0] = True

    def make_room() -> None:
        full[0] = False

    _assert_disk_full_then_retried(bob, make_room)
