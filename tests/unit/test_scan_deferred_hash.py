"""A first sync's scan leaves files unhashed (`defer_hash`) and hashes only those the cloud also
has (`hash_deferred`); an unreadable file is still skipped by the scan, not met by its upload."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from pansync.ignore import IgnoreRules
from pansync.scan import hash_deferred, scan_local


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "合同").mkdir()
    (tmp_path / "合同" / "甲方（签字版）.pdf").write_bytes(b"%PDF signed")
    (tmp_path / "合同" / "乙方.pdf").write_bytes(b"%PDF other")
    (tmp_path / "说明.txt").write_bytes("请先读我。".encode())
    return tmp_path


def test_deferred_files_keep_no_md5_until_wanted(root: Path) -> None:
    scan = scan_local(root, {}, IgnoreRules(), defer_hash=True)

    assert {key for key, _ in scan.deferred} == {"合同/甲方（签字版）.pdf", "合同/乙方.pdf", "说明.txt"}
    assert all(scan.tree[key].md5 == "" for key, _ in scan.deferred)
    assert scan.hashed_files == 0

    hash_deferred(scan, lambda key: key == "合同/乙方.pdf")

    assert scan.tree["合同/乙方.pdf"].md5 == _md5(b"%PDF other")
    assert scan.tree["说明.txt"].md5 == ""
    assert scan.hashed_files == 1 and scan.deferred == []


def test_without_deferral_every_file_is_hashed(root: Path) -> None:
    scan = scan_local(root, {}, IgnoreRules())

    assert scan.deferred == []
    assert scan.tree["说明.txt"].md5 == _md5("请先读我。".encode())


def test_an_unreadable_deferred_file_is_skipped_by_the_scan(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = root / "合同" / "甲方（签字版）.pdf"
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads every file: deny it as the kernel would deny anyone else
        real_access = os.access
        monkeypatch.setattr(
            "pansync.scan.os.access", lambda path, mode: Path(path) != locked and real_access(path, mode)
        )
    try:
        scan = scan_local(root, {}, IgnoreRules(), defer_hash=True)
        hash_deferred(scan, lambda key: False)
    finally:
        locked.chmod(0o600)

    assert "合同/甲方（签字版）.pdf" not in scan.tree
    assert "合同/甲方（签字版）.pdf" in scan.frozen
    assert "Permission denied" in scan.issues[0].message
    assert "合同/乙方.pdf" in scan.tree
