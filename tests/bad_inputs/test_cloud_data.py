"""Untrusted cloud data (DESIGN §2): listings that hold NUL, control characters, bytes that are not
UTF-8, paths that climb out of the root, names that differ only in Unicode form, and symlinks in a
`file://` cloud folder. Each is skipped with a message naming it; nothing is written outside the
root, nothing is written through a local symlink, and nothing is deleted on either side.

`file://` only: the entries are injected into the listing (a `Hooked` remote) or made directly in
the cloud folder, which a real Baidu listing could not carry as such."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from pansync.model import Kind, RemoteEntry
from pansync.remote.base import Remote
from pansync.session import FolderResult
from tests.bad_inputs._support import Hooks, assert_kept, hooked, issues
from tests.e2e.harness import Client, snapshot


def _injected(name: str) -> RemoteEntry:
    return RemoteEntry(name, Kind.FILE, 4, 1_700_000_000 * 10**9, f"fake-{abs(hash(name))}", "")


def _sync_with_listing(
    make_client: Callable[..., Client], cloud: Path, names: list[str]
) -> tuple[Client, FolderResult]:
    hooks = Hooks(extra_entries=[_injected(n) for n in names])
    carol = make_client("carol", wrap_remote=hooked(hooks))
    carol.write("ok.txt", "ok")
    return carol, carol.sync()


@pytest.mark.parametrize(
    "name",
    ["nul\x00byte.txt", "esc\x1b[2Jclear.txt", "tab\tname.txt", "line\nbreak.txt", "dir\x7f/ok\x01.txt"],
    ids=["nul", "ansi-escape", "tab", "newline", "control-in-path"],
)
def test_cloud_names_with_nul_or_control_characters_are_skipped(
    make_client: Callable[..., Client],
    cloud: Path,
    name: str,
) -> None:
    carol, result = _sync_with_listing(make_client, cloud, [name])
    found = issues(result)
    assert name in found and "unsafe name in the cloud listing" in found[name], found
    assert not result.failed
    assert not result.done["Download"]
    assert carol.tree() == {"ok.txt": b"ok"}
    assert snapshot(cloud) == {"ok.txt": b"ok"}


ESCAPES = [
    "../escape.txt",
    "/abs-escape.txt",
    "a/../../up-escape.txt",
    "./dot.txt",
    "a//b.txt",
    "..\\win.txt",
]


def test_cloud_paths_that_climb_out_of_the_root_are_refused(
    make_client: Callable[..., Client],
    cloud: Path,
    tmp_path: Path,
) -> None:
    carol, result = _sync_with_listing(make_client, cloud, ESCAPES)
    found = issues(result)
    for name in ESCAPES:
        assert name in found and "unsafe name" in found[name], (name, found)
    assert not result.done["Download"]
    written = [p for p in tmp_path.rglob("*escape*")] + [p for p in tmp_path.rglob("w.txt")]
    assert written == [], written
    assert carol.tree() == {"ok.txt": b"ok"}


def test_a_cloud_path_through_a_local_symlink_is_not_followed(
    alice: Client, bob: Client, cloud: Path, cloud_remote: Remote, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    (outside / "b" / "mine.txt").write_text("outside the root")
    source = tmp_path / "payload"
    source.write_text("from the cloud")
    cloud_remote.upload(source, "a/b/c.txt")
    cloud_remote.upload(source, "x/y/z.txt")
    alice.write("ok.txt", "ok")
    (alice.root / "x").mkdir()
    os.symlink(outside, alice.root / "a")  # the root's child is a link out of the root
    os.symlink(outside / "b", alice.root / "x" / "y")  # and deeper down
    before_outside = snapshot(outside)
    result = alice.sync()
    found = issues(result)
    assert "symbolic link" in found["a"] and "symbolic link" in found["x/y"], found
    assert snapshot(outside) == before_outside  # nothing written through either link
    assert (cloud / "a" / "b" / "c.txt").read_text() == "from the cloud"  # nor deleted up there
    assert (cloud / "x" / "y" / "z.txt").exists()
    bob.sync()
    assert bob.read("a/b/c.txt") == "from the cloud" and bob.read("ok.txt") == "ok"


def test_a_cloud_name_that_is_not_utf8_is_refused(alice: Client, cloud: Path) -> None:
    alice.write("ok.txt", "ok")
    alice.sync()
    with open(os.path.join(os.fsencode(cloud), b"latin1-caf\xe9.txt"), "wb") as f:
        f.write(b"bytes")
    for _ in range(2):
        result = alice.sync()
        assert "not valid UTF-8" in issues(result)["latin1-caf\\xe9.txt"], issues(result)
        assert not result.failed and not result.done
    assert os.listdir(os.fsencode(alice.root)).count(b"latin1-caf\xe9.txt") == 0
    assert b"latin1-caf\xe9.txt" in os.listdir(os.fsencode(cloud))


def test_a_local_name_that_is_not_utf8_is_reported_not_a_crash(alice: Client, cloud: Path) -> None:
    alice.write("ok.txt", "ok")
    with open(os.path.join(os.fsencode(alice.root), b"caf\xe9.txt"), "wb") as f:
        f.write(b"bytes")
    result = alice.sync()
    assert "not valid UTF-8" in issues(result)["caf\\xe9.txt"]
    assert snapshot(cloud) == {"ok.txt": b"ok"}
    status = alice.cli("status")
    assert status.returncode == 0, status.stderr
    assert "caf\\xe9.txt" in status.stdout
    assert b"caf\xe9.txt" in os.listdir(os.fsencode(alice.root))


def test_unicode_twins_in_the_cloud_are_reported_and_neither_is_lost(alice: Client, cloud: Path) -> None:
    alice.write("ok.txt", "ok")
    alice.sync()
    nfc = unicodedata.normalize("NFC", "café.txt")
    nfd = unicodedata.normalize("NFD", "café.txt")
    (cloud / nfc).write_text("composed")
    (cloud / nfd).write_text("decomposed")
    before = snapshot(cloud)
    result = alice.sync()
    assert "Unicode form" in issues(result)[nfc], issues(result)
    assert not (alice.root / nfc).exists() and not (alice.root / nfd).exists()
    alice.sync()
    assert_kept(before, snapshot(cloud))


def test_unicode_twin_folders_on_disk_sync_one_and_report_the_other(alice: Client, cloud: Path) -> None:
    nfc = unicodedata.normalize("NFC", "Ångström")
    nfd = unicodedata.normalize("NFD", "Ångström")
    alice.write(f"{nfc}/composed.txt", "c")
    alice.write(f"{nfd}/decomposed.txt", "d")
    before = alice.tree()
    result = alice.sync()
    assert any("another Unicode form" in m for m in issues(result).values()), issues(result)
    assert (cloud / nfc / "composed.txt").exists()
    assert not any("decomposed" in rel for rel in snapshot(cloud))
    alice.sync()
    assert_kept(before, alice.tree())


def test_a_symlink_in_the_cloud_folder_is_never_followed(
    alice: Client, bob: Client, cloud: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("private")
    alice.write("ok.txt", "ok")
    alice.sync()
    os.symlink(secret, cloud / "linked-dir")
    os.symlink(secret / "key.txt", cloud / "linked-file.txt")
    for client in (alice, bob):
        assert not client.sync().failed
    for client in (alice, bob):
        assert set(client.tree()) == {"ok.txt"}, client.name
    assert (cloud / "linked-dir").is_symlink() and (secret / "key.txt").read_text() == "private"


def test_a_symlink_in_the_cloud_folder_is_reported_and_frozen(alice: Client, cloud: Path) -> None:
    alice.write("doc.txt", "important")
    alice.sync()
    (cloud / "doc.txt").unlink()  # replaced in the cloud folder by a link: not a deletion
    os.symlink("/etc/hostname", cloud / "doc.txt")
    result = alice.sync()
    assert alice.read("doc.txt") == "important"  # today: moved to the local trash
    assert "symbolic link" in issues(result)["doc.txt"]  # today: no message at all


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
def test_special_files_in_the_local_root_are_skipped(alice: Client, cloud: Path, kind: str) -> None:
    import socket
    import stat

    alice.write("ok.txt", "ok")
    path = alice.root / f"special-{kind}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    else:
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
    result = alice.sync()
    assert "not a regular file" in issues(result)[path.name]
    assert snapshot(cloud) == {"ok.txt": b"ok"}
    assert path.exists()
