"""A first sync hashes only the local files the cloud also has (to compare them); the rest are
read once, by their upload, and recorded with the MD5 of the bytes sent. Nothing is decided
differently: an equal pair is recorded as it is, a differing pair is a conflict, keeping both."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.e2e.harness import Client, snapshot

REMOTES = ["file", "baidu"]


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_a_first_sync_against_a_filled_cloud(cloud: Path, alice: Client, bob: Client) -> None:
    alice.write("相册/毕业照.jpg", b"\xff\xd8 same photo")
    alice.write("相册/旅行（云南）.jpg", b"\xff\xd8 alice's edit")
    alice.write("文档/只在爱丽丝这里.txt", "新文件。".encode())
    assert alice.sync().converged
    bob.write("相册/毕业照.jpg", b"\xff\xd8 same photo")  # bob's copy of the same bytes
    bob.write("相册/旅行（云南）.jpg", b"\xff\xd8 bob's own version")
    bob.write("文档/只在鲍勃这里.txt", "另一个新文件。".encode())

    result = bob.sync()

    assert not result.failed
    assert [c.key for c in result.conflicts] == ["相册/旅行（云南）.jpg"]
    synced = bob.state().load_synced()
    assert synced["相册/毕业照.jpg"].md5 == _md5(b"\xff\xd8 same photo")
    assert synced["文档/只在鲍勃这里.txt"].md5 == _md5("另一个新文件。".encode())
    assert snapshot(cloud)["文档/只在鲍勃这里.txt"] == "另一个新文件。".encode()
    kept = {v for k, v in snapshot(cloud).items() if k.startswith("相册/旅行")}
    assert kept == {b"\xff\xd8 alice's edit", b"\xff\xd8 bob's own version"}  # both versions kept
    assert result.uploaded_bytes < 200  # the equal photo was recorded, not sent again
