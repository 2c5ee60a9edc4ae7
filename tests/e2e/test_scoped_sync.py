"""Syncs scoped to the paths the watcher saw change (`SyncOptions.scope`), as the agent runs them.

A scoped sync must decide exactly as a full one would for its paths, leave everything else alone,
keep the shared index equal to the cloud, and widen to a full sync whenever looking at the paths
alone could mislead it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pansync.index_store import load_index
from pansync.remote.base import Remote
from tests.conftest import file_only
from tests.e2e.harness import Client, snapshot

REMOTES = ["file", "baidu"]


def _index_agrees_with(cloud_remote: Remote, cloud: Path) -> None:
    index = load_index(cloud_remote)
    assert index is not None
    live = {key for key, entry in index.entries.items() if not entry.deleted}
    assert live == set(snapshot(cloud))


def test_a_scoped_sync_syncs_its_paths_and_nothing_else(
    alice: Client, cloud: Path, cloud_remote: Remote
) -> None:
    alice.write("文档/第一章：概述.md", "一")
    alice.write("文档/第二章.md", "二")
    alice.write("照片/a.jpg", b"jpeg")
    alice.sync()
    alice.write("文档/第一章：概述.md", "一，改了")
    alice.write("照片/新的.jpg", b"new")  # changed too, but not in the scope

    result = alice.sync(scope={"文档/第一章：概述.md"})

    assert result.scoped and result.converged
    assert (cloud / "文档/第一章：概述.md").read_text(encoding="utf-8") == "一，改了"
    assert not (cloud / "照片/新的.jpg").exists()
    _index_agrees_with(cloud_remote, cloud)
    again = alice.sync()  # the full sync finds the rest
    assert not again.scoped
    assert (cloud / "照片/新的.jpg").read_bytes() == b"new"


def test_scoped_rename_delete_and_new_folder_with_files(
    alice: Client, bob: Client, cloud: Path, cloud_remote: Remote
) -> None:
    alice.write("a/旧名.txt", "内容")
    alice.write("a/gone.txt", "bye")
    alice.write("keep/x.txt", "x")
    alice.sync()
    bob.sync()
    alice.sync()  # alice has seen bob's commit: her next scoped sync may stay scoped
    (alice.root / "a/旧名.txt").rename(alice.root / "a/新名.txt")
    (alice.root / "a/gone.txt").unlink()
    alice.write("新文件夹/深/1.txt", "1")
    alice.write("新文件夹/2.txt", "2")

    result = alice.sync(scope={"a/旧名.txt", "a/新名.txt", "a/gone.txt", "新文件夹"})

    assert result.scoped and result.converged
    assert snapshot(cloud) == snapshot(alice.root)
    _index_agrees_with(cloud_remote, cloud)
    bob.sync()
    assert snapshot(bob.root) == snapshot(alice.root)


def test_a_commit_by_another_client_widens_to_a_full_sync(alice: Client, bob: Client, cloud: Path) -> None:
    alice.write("shared.txt", "v1")
    alice.sync()
    bob.sync()
    bob.write("from-bob.txt", "hello")
    bob.sync()
    alice.write("mine.txt", "mine")

    result = alice.sync(scope={"mine.txt"})

    assert not result.scoped  # bob committed since alice's last sync: his changes come down too
    assert alice.read("from-bob.txt") == "hello"
    assert (cloud / "mine.txt").read_text(encoding="utf-8") == "mine"


def test_both_sides_changed_in_scope_keeps_both_and_indexes_the_copy(
    alice: Client, cloud: Path, cloud_remote: Remote, remote_kind: str
) -> None:
    file_only(remote_kind, "edits the cloud folder's bytes directly")
    alice.write("报告.docx", "v1")
    alice.sync()
    (cloud / "报告.docx").write_text("web edit", encoding="utf-8")  # as Baidu's web app would
    alice.write("报告.docx", "my edit")

    result = alice.sync(scope={"报告.docx"})

    assert result.scoped and len(result.conflicts) == 1
    copy = result.conflicts[0].copy_key
    assert alice.read("报告.docx") == "web edit"
    assert alice.read(copy) == "my edit"
    assert (cloud / copy).read_text(encoding="utf-8") == "my edit"
    _index_agrees_with(cloud_remote, cloud)


def test_a_parent_deleted_in_the_cloud_widens_to_a_full_sync(
    alice: Client, cloud: Path, cloud_remote: Remote
) -> None:
    alice.write("项目/计划.txt", "plan")
    alice.write("项目/预算.txt", "budget")
    alice.sync()
    cloud_remote.move("项目", "归档")  # reorganised in the web app
    alice.write("项目/计划.txt", "plan, edited")

    result = alice.sync(scope={"项目/计划.txt"})

    assert not result.scoped
    assert result.converged
    assert snapshot(cloud) == snapshot(alice.root)
    assert alice.read("归档/计划.txt") == "plan, edited"  # the folder's move carries the edit along
    assert alice.read("归档/预算.txt") == "budget"


def test_a_scoped_deletion_of_a_folder_is_guarded_against_the_whole_folder(
    alice: Client, cloud: Path
) -> None:
    for i in range(30):
        alice.write(f"big/{i}.txt", str(i))
    for i in range(300):
        alice.write(f"rest/{i}.txt", str(i))
    alice.sync()
    import shutil

    shutil.rmtree(alice.root / "big")

    result = alice.sync(scope={"big"})  # 30 of 330 files (9%): under the default 50% limit

    assert result.scoped and result.converged
    assert not (cloud / "big").exists()


def test_a_case_twin_in_the_cloud_widens_to_a_full_sync(alice: Client, cloud: Path, remote_kind: str) -> None:
    if remote_kind != "baidu":
        pytest.skip("only a case-insensitive cloud finds README.md for Readme.md")
    alice.write("README.md", "upper")
    alice.sync()
    alice.write("Readme.md", "lower")

    result = alice.sync(scope={"Readme.md"})

    assert not result.scoped
    assert alice.read("README.md") == "upper"
    assert b"lower" in alice.tree().values()  # renamed aside as a case twin, never overwritten


def test_a_sync_that_finds_nothing_changed_never_decodes_the_index(
    alice: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pansync import folder_index

    decoded: list[int] = []
    real = folder_index.decode_index
    monkeypatch.setattr(folder_index, "decode_index", lambda data: decoded.append(1) or real(data))
    for i in range(5):
        alice.write(f"d/{i}.txt", str(i))
    alice.sync()
    decoded.clear()
    assert alice.sync().converged
    assert decoded == []  # 100,000 entries would cost a quarter second and 60 MB
    alice.write("d/new.txt", "new")
    assert alice.sync().converged
    assert decoded == []  # the commit appends its one entry to the index it began from
    alice.state().set_meta("index_generation", "0")  # as if another client had committed since
    alice.write("d/newer.txt", "newer")
    assert alice.sync().converged
    assert decoded == [1]  # that commit compares the whole index: it needs the entries


def test_a_cloud_file_replaced_by_a_symlink_is_frozen_in_a_scoped_sync_too(
    alice: Client, cloud: Path, remote_kind: str
) -> None:
    file_only(remote_kind, "a symlink in a NAS folder")
    alice.write("doc.txt", "important")
    alice.sync()
    (cloud / "doc.txt").unlink()
    os.symlink("/etc/hostname", cloud / "doc.txt")
    alice.write("doc.txt", "important, edited")

    result = alice.sync(scope={"doc.txt"})

    assert result.scoped
    assert alice.read("doc.txt") == "important, edited"
    assert any(i.rel_path == "doc.txt" and "symbolic link" in i.message for i in result.issues)
    assert (cloud / "doc.txt").is_symlink()  # left alone
