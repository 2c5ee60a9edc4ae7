"""A sync root or a NAS folder that is itself a symbolic link (a folder kept on another disk) is
followed; a symbolic link anywhere below either is still never entered."""

from __future__ import annotations

import os
from pathlib import Path

from tests.e2e.harness import Client, snapshot

REMOTES = ["file"]


def test_linked_roots_sync_and_links_below_them_stay_out(tmp_path: Path) -> None:
    disk = tmp_path / "另一块硬盘"
    (disk / "文档").mkdir(parents=True)
    (disk / "网盘").mkdir()
    outside = tmp_path / "别处"
    outside.mkdir()
    (outside / "秘密.txt").write_text("不该上传", encoding="utf-8")
    cloud = tmp_path / "cloud"
    cloud.symlink_to(disk / "网盘")
    alice = Client(tmp_path, "alice", cloud.as_uri())
    alice.root.parent.mkdir(parents=True, exist_ok=True)
    alice.root.symlink_to(disk / "文档")
    alice.write("报告/第一章。txt", "你好，世界".encode())
    os.symlink(outside, alice.root / "报告" / "链接")

    result = alice.sync()

    assert result.converged
    assert set(snapshot(disk / "网盘")) == {"报告", "报告/第一章。txt"}
    assert [issue.rel_path for issue in result.issues] == ["报告/链接"]
    (disk / "网盘" / "报告" / "第二章.txt").write_text("云端新建", encoding="utf-8")
    os.symlink(outside, disk / "网盘" / "报告" / "云端链接")
    second = alice.sync()
    assert second.converged
    assert alice.read("报告/第二章.txt") == "云端新建"
    assert not (alice.root / "报告" / "云端链接").exists()
    assert "报告/云端链接" in {issue.rel_path for issue in second.issues}
