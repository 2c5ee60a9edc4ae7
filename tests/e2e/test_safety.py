"""The safety rails of DESIGN §2 and the bad-input rules: each refuses with a clear message and
loses nothing."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from pansync.errors import MassDeleteRefused, RootMissing
from pansync.remote.base import Remote
from pansync.remote.local import LocalRemote
from tests.conftest import file_only
from tests.e2e.harness import Client, snapshot
from tests.e2e.test_decisions import assert_same, converge

REMOTES = ["file", "baidu"]


def test_mass_delete_is_refused_then_forced(alice: Client, bob: Client, cloud: Path) -> None:
    for i in range(30):
        alice.write(f"docs/{i:02}.txt", str(i))
    converge(alice, bob)
    for i in range(20):
        (alice.root / "docs" / f"{i:02}.txt").unlink()
    with pytest.raises(MassDeleteRefused, match="--force"):
        alice.sync()
    assert len(list((cloud / "docs").iterdir())) == 30  # nothing changed
    cli = alice.cli("sync")
    assert cli.returncode == 2 and "Mass delete refused" in cli.stderr and "--force" in cli.stderr
    alice.sync(force=True)
    assert len(list((cloud / "docs").iterdir())) == 10
    bob.sync()  # the deletions are now in the cloud, plainly: bob follows them... within the guard?
    assert len(list((bob.root / "docs").iterdir())) == 10


def test_unmounted_local_root_deletes_nothing(alice: Client, cloud: Path) -> None:
    alice.write("a.txt", "a")
    alice.sync()
    shutil.rmtree(alice.root)
    with pytest.raises(RootMissing, match="missing"):
        alice.sync()
    alice.root.mkdir()  # an empty mount point: no marker
    with pytest.raises(RootMissing, match="marker"):
        alice.sync()
    assert (cloud / "a.txt").read_text() == "a"
    out = alice.cli("sync", "--force")
    assert out.returncode == 2 and "Sync root missing" in out.stderr


def test_remote_that_lost_its_metadata_deletes_nothing(alice: Client, cloud_remote: Remote) -> None:
    alice.write("a.txt", "a")
    alice.sync()
    cloud_remote.delete(".pansync")
    cloud_remote.delete("a.txt")
    with pytest.raises(RootMissing, match=r"\.pansync"):
        alice.sync()
    assert alice.read("a.txt") == "a"


def test_unreachable_remote_deletes_nothing(alice: Client, cloud: Path, remote_kind: str) -> None:
    file_only(remote_kind, "an unmounted folder; Baidu's outages are covered in tests/baidu")
    alice.write("a.txt", "a")
    alice.sync()
    shutil.rmtree(cloud)
    with pytest.raises(RootMissing, match="not reachable"):
        alice.sync()
    assert alice.read("a.txt") == "a"


def test_first_sync_sets_up_an_empty_remote(alice: Client, cloud: Path) -> None:
    shutil.rmtree(cloud, ignore_errors=True)
    alice.write("x.txt", "x")
    assert not alice.sync().failed
    assert (cloud / "x.txt").read_text() == "x"
    assert (cloud / ".pansync" / ".config" / "folder.json").exists()


def test_dry_run_prints_the_plan_and_touches_nothing(alice: Client, bob: Client, cloud: Path) -> None:
    alice.write("new.txt", "n")
    alice.sync()
    before = (snapshot(cloud), snapshot(alice.root))
    alice.write("other.txt", "o")
    out = alice.cli("sync", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "upload        other.txt" in out.stdout and "nothing changed" in out.stdout
    assert snapshot(cloud) == before[0]
    out = bob.cli("sync", "--dry-run")
    assert "download      new.txt" in out.stdout
    assert not (bob.root / "new.txt").exists()


def test_ignore_rules_and_builtin_litter(alice: Client, bob: Client, cloud: Path) -> None:
    alice.write(".pansyncignore", "build/\n*.tmp\n!keep.tmp\n")
    alice.write("build/out.o", "x")
    alice.write("a.tmp", "x")
    alice.write("keep.tmp", "kept")
    alice.write(".DS_Store", "x")
    alice.write("sub/Thumbs.db", "x")
    alice.write("~$report.docx", "x")
    alice.write(".report.docx.swp", "x")
    alice.write(".~lock.sheet.ods#", "x")
    alice.write("报告.docx", "real")
    converge(alice, bob)
    assert set(snapshot(cloud)) == {"keep.tmp", "sub", "报告.docx"}


def test_config_exclude_patterns(make_client, cloud: Path) -> None:  # type: ignore[no-untyped-def]
    carol = make_client("carol", extra_config="")
    carol.config_path.write_text(
        carol.config_path.read_text().replace("    remote:", "    exclude: ['*.iso', 'cache/']\n    remote:")
    )
    carol.write("disk.iso", "x")
    carol.write("cache/a", "x")
    carol.write("ok.txt", "x")
    carol.sync()
    assert set(snapshot(cloud)) == {"ok.txt"}


def test_symlinks_fifos_are_skipped_and_never_followed(
    alice: Client, cloud: Path, cloud_remote: Remote, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    alice.root.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, alice.root / "link")
    os.mkfifo(alice.root / "pipe")
    alice.write("ok.txt", "ok")
    result = alice.sync()
    reasons = {i.rel_path: i.message for i in result.issues}
    assert "symbolic link" in reasons["link"] and "FIFO" in reasons["pipe"]
    assert set(snapshot(cloud)) == {"ok.txt"}
    # A cloud folder with the link's name must not be written through the link.
    evil = tmp_path / "evil.txt"
    evil.write_text("evil")
    cloud_remote.upload(evil, "link/evil.txt")
    alice.sync()
    assert not (outside / "evil.txt").exists()


def test_unsafe_cloud_names_are_skipped(alice: Client, cloud: Path, remote_kind: str) -> None:
    file_only(remote_kind, "Baidu cannot hold these names at all")
    alice.write("ok.txt", "ok")
    alice.sync()
    (cloud / "back\\slash.txt").write_text("x")
    (cloud / "ctrl\x01.txt").write_text("x")
    result = alice.sync()
    assert {i.rel_path for i in result.issues} >= {"back\\slash.txt", "ctrl\x01.txt"}
    assert set(alice.tree()) == {"ok.txt"}


class NoQuestionMarks(LocalRemote):
    """A remote that cannot hold '?' in names and cannot map it (a stricter file system)."""

    def check_name(self, rel_path: str) -> str | None:
        return "'?' is not allowed here" if "?" in rel_path else super().check_name(rel_path)


def _strict(remote: Remote) -> Remote:
    assert isinstance(remote, LocalRemote)
    return NoQuestionMarks(remote.root)


def test_names_the_remote_cannot_hold_are_skipped_once_and_listed(  # type: ignore[no-untyped-def]
    make_client, cloud: Path, remote_kind: str
) -> None:
    file_only(remote_kind, "Baidu maps such names instead; see tests/baidu/test_names.py")
    dave = make_client("dave", wrap_remote=_strict)
    dave.write("what?.txt", "q")
    dave.write("fine.txt", "f")
    for _ in range(2):
        result = dave.sync()
        assert [i.rel_path for i in result.issues] == ["what?.txt"]
        assert not result.failed
    assert set(snapshot(cloud)) == {"fine.txt"}
    out = dave.cli("status")
    assert "what?.txt" in out.stdout and "cannot hold" in out.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file; see the injected-error test")
def test_unreadable_file_is_skipped_and_retried(alice: Client, cloud: Path) -> None:
    path = alice.write("locked.txt", "secret")
    alice.write("ok.txt", "ok")
    path.chmod(0)
    result = alice.sync()
    assert any(i.rel_path == "locked.txt" for i in result.issues)
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    alice.sync()
    assert (cloud / "locked.txt").read_text() == "secret"


def test_unreadable_file_injected_error(tmp_path: Path) -> None:
    from pansync.ignore import IgnoreRules
    from pansync.scan import scan_local

    (tmp_path / "ok.txt").write_text("ok")
    (tmp_path / "locked.txt").write_text("x")

    def hasher(path: Path) -> str:
        if path.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(path))
        from pansync.hashing import md5_file

        return md5_file(path)

    result = scan_local(tmp_path, {}, IgnoreRules(), hasher=hasher)
    assert set(result.tree) == {"ok.txt"}
    assert "locked.txt" in result.frozen
    assert "Permission denied" in result.issues[0].message


def test_a_file_deleted_in_the_cloud_is_not_deleted_while_it_is_being_edited(
    alice: Client, bob: Client, cloud: Path
) -> None:
    alice.write("a.txt", "v1")
    converge(alice, bob)
    (alice.root / "a.txt").unlink()
    alice.sync()
    bob.write("a.txt", "bob's new words")  # edited before bob learns of the deletion
    bob.sync()
    assert (cloud / "a.txt").read_text() == "bob's new words"
    converge(alice, bob)
    assert_same(alice, bob, cloud=cloud)
