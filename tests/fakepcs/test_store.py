"""The on-disk side: root mapping, persistence across restarts, rescans, escapes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from fakepcs.testing import running_server

from fakepcs import FakePCS

APP = "/apps/bypy"


def test_cloud_paths_map_to_root(tmp_path: Path) -> None:
    with running_server(tmp_path / "c") as srv:
        srv.put_file(f"{APP}/a/第一章：概述.docx", b"doc")
        assert (tmp_path / "c" / "apps" / "bypy" / "a" / "第一章：概述.docx").read_bytes() == b"doc"
        assert (tmp_path / "c" / ".fakepcs" / "meta.sqlite3").exists()


def test_metadata_survives_restart(tmp_path: Path) -> None:
    root = tmp_path / "c"
    with running_server(root, clock=lambda: 1500000000.0) as srv:
        srv.put_file(f"{APP}/keep.txt", b"k")
        before = srv.entry(f"{APP}/keep.txt")
    with running_server(root) as srv:
        after = srv.entry(f"{APP}/keep.txt")
        assert after == before and after["mtime"] == 1500000000
        assert srv.put_file(f"{APP}/next", b"")["fs_id"] > before["fs_id"]


def test_files_written_into_root_are_adopted(tmp_path: Path) -> None:
    root = tmp_path / "c"
    (root / "apps" / "bypy" / "seed").mkdir(parents=True)
    (root / "apps" / "bypy" / "seed" / "s.txt").write_bytes(b"seeded")
    with running_server(root) as srv:
        assert srv.read_file(f"{APP}/seed/s.txt") == b"seeded"
        (root / "apps" / "bypy" / "seed" / "s.txt").unlink()
        (root / "apps" / "bypy" / "later.txt").write_bytes(b"L")
        assert srv.rescan() == 2
        assert srv.tree() == [f"{APP}/later.txt", f"{APP}/seed"]
        assert srv.entry(f"{APP}/later.txt")["size"] == 1


def test_requests_cannot_escape_root(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    (tmp_path / "c" / "apps" / "bypy").mkdir(parents=True)
    os.symlink(secret, tmp_path / "c" / "apps" / "bypy" / "link")
    with running_server(tmp_path / "c") as srv:
        base = f"{srv.url}/rest/2.0/pcs/file"
        for p in [
            f"{APP}/../../../secret.txt",
            f"{APP}/link",
            "/.fakepcs/meta.sqlite3",
            f"{APP}/%2e%2e/%2e%2e/secret.txt",
            f"{APP}/..\\..\\secret.txt",
        ]:
            r = requests.get(
                base, params={"method": "download", "path": p, "access_token": srv.token}, timeout=10
            )
            assert r.status_code in (400, 403, 404), p
            assert b"top secret" not in r.content
        assert not srv.exists(f"{APP}/link")  # symlinks are never adopted
        outside = tmp_path / "outside"
        outside.mkdir()
        os.symlink(outside, tmp_path / "c" / "apps" / "bypy" / "dirlink")
        r = requests.post(
            base,
            params={
                "method": "upload",
                "path": f"{APP}/dirlink/x",
                "access_token": srv.token,
                "ondup": "overwrite",
            },
            files={"file": ("file", b"escape")},
            timeout=10,
        )
        assert r.status_code == 403 and list(outside.iterdir()) == []


def test_stop_leaves_nothing_listening(tmp_path: Path) -> None:
    srv = FakePCS(tmp_path / "c").start()
    url = srv.url
    s = requests.Session()
    assert s.get(f"{url}/__admin/health", timeout=5).ok  # keep-alive connection open
    srv.stop()
    srv.stop()  # idempotent
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{url}/__admin/health", timeout=2)
    s.close()
