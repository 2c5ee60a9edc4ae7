"""The real bypy 1.8.9 against fakepcs: the return codes and cloud state it gets from Baidu.

Codes: 0 OK, 60 hash mismatch, 130 not found, 140 max retries (bypy's const.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fakepcs import FakePCS, encmd5

MIB = 1024 * 1024
APP = "/apps/bypy"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def keys(server: FakePCS) -> list[str]:
    return [r["key"] for r in server.request_log()]


def test_info_and_whoami(bypy: Any) -> None:
    assert bypy.info() == 0
    assert bypy.jsonq[-1]["quota"] == 2 * 1024**4
    assert bypy.whoami() == 0
    assert bypy.jsonq[-1]["username"] == "fakepcs"


def test_mkdir_twice_is_ok_like_baidu(bypy: Any, fakepcs: FakePCS) -> None:
    assert bypy.mkdir("文档/第一章") == 0
    assert fakepcs.entry(f"{APP}/文档/第一章")["isdir"] == 1
    assert bypy.mkdir("文档/第一章") == 0  # 31061 is turned into success by bypy
    assert fakepcs.request_log()[-1]["error_code"] == 31061


@pytest.mark.parametrize("name", ["第一章：概述.docx", "报告 2024（终稿）.txt", "plain.txt"])
def test_upload_small_file(bypy: Any, fakepcs: FakePCS, tmp_path: Path, name: str) -> None:
    data = ("内容 " + name).encode() * 50
    local = write(tmp_path / "src" / name, data)
    assert bypy.upload(str(local), f"上传/{name}") == 0
    remote = f"{APP}/上传/{name}"
    assert fakepcs.read_file(remote) == data
    assert fakepcs.entry(remote)["md5"] == encmd5.encode(hashlib.md5(data).hexdigest())
    assert keys(fakepcs)[-1] == "upload"  # small files skip rapidupload


def test_upload_over_256k_tries_rapidupload_first(bypy: Any, fakepcs: FakePCS, tmp_path: Path) -> None:
    data = os.urandom(300 * 1024)
    local = write(tmp_path / "mid.bin", data)
    assert bypy.upload(str(local), "u/mid.bin") == 0
    log = [(r["key"], r["status"]) for r in fakepcs.request_log()]
    assert ("rapidupload", 404) in log and log[-1] == ("upload", 200)
    assert fakepcs.read_file(f"{APP}/u/mid.bin") == data


def test_sliced_upload_over_20mib(bypy_factory: Callable[..., Any], fakepcs: FakePCS, tmp_path: Path) -> None:
    data = os.urandom(20 * MIB + 4321)
    local = write(tmp_path / "大文件.bin", data)
    by = bypy_factory(verify=False)
    assert by.upload(str(local), "big/大文件.bin") == 0
    k = keys(fakepcs)
    assert k.count("upload.tmpfile") == 2 and k[-1] == "createsuperfile"
    remote = f"{APP}/big/大文件.bin"
    assert fakepcs.read_file(remote) == data
    entry = fakepcs.entry(remote)
    # like the live service, a superfile's md5 is not the content's enc-md5
    assert entry["md5"] != encmd5.encode(hashlib.md5(data).hexdigest())
    assert entry["block_list"] == [
        hashlib.md5(data[: 20 * MIB]).hexdigest(),
        hashlib.md5(data[20 * MIB :]).hexdigest(),
    ]

    out = tmp_path / "down.bin"
    assert by.downfile("big/大文件.bin", str(out)) == 0
    assert out.read_bytes() == data
    ranges = [r["range"] for r in fakepcs.request_log() if r["key"] == "cdn"]
    assert ranges == [f"bytes=0-{20 * MIB - 1}", f"bytes={20 * MIB}-"]


def test_sliced_upload_with_verify_reports_md5_mismatch(
    bypy_factory: Callable[..., Any], fakepcs: FakePCS, tmp_path: Path
) -> None:
    """Issues #616/#681/#711: verify=True fails on superfiles although the data is fine."""
    data = os.urandom(2 * MIB + 5)
    local = write(tmp_path / "s.bin", data)
    by = bypy_factory(slice_size=MIB, verify=True)
    assert by.upload(str(local), "s.bin") == 60
    assert fakepcs.read_file(f"{APP}/s.bin") == data
    assert keys(fakepcs).count("upload.tmpfile") == 3
    fakepcs.set_policy(superfile_md5="enc")
    assert by.upload(str(local), "s2.bin") == 0


def test_list_meta_and_get_file_info(bypy: Any, fakepcs: FakePCS) -> None:
    fakepcs.put_file(f"{APP}/d/b.txt", b"bb")
    fakepcs.put_file(f"{APP}/d/a.txt", b"a")
    fakepcs.mkdir(f"{APP}/d/sub")
    assert bypy.list("d", "$t $f $s") == 0
    assert bypy.file_list == ["D sub 0", "F a.txt 1", "F b.txt 2"]
    assert bypy.meta("d/a.txt", "$t $f $s $i") == 0
    assert bypy.file_list[0].startswith("F a.txt 1 ")
    assert bypy.get_file_info("d/b.txt") == 0 and bypy._remote_json["size"] == 2
    assert bypy.get_file_info("d/nope") == 130
    assert bypy.list("missing") == 31066


def test_list_pages_over_1000_entries(bypy: Any, fakepcs: FakePCS) -> None:
    for i in range(1003):
        fakepcs.put_file(f"{APP}/many/f{i:04d}", b"")
    assert bypy.list("many", "$f") == 0
    assert len(bypy.file_list) == 1003 and len(set(bypy.file_list)) == 1003
    limits = [r["params"]["limit"] for r in fakepcs.request_log() if r["key"] == "list"]
    assert limits == ["0-1000", "1000-2000"]


def test_downfile_small_and_empty(bypy: Any, fakepcs: FakePCS, tmp_path: Path) -> None:
    fakepcs.put_file(f"{APP}/dl/报告 2024（终稿）.txt", "终稿".encode() * 1000)
    fakepcs.put_file(f"{APP}/dl/empty", b"")
    assert bypy.downfile("dl/报告 2024（终稿）.txt", str(tmp_path) + "/") == 0
    assert (tmp_path / "报告 2024（终稿）.txt").read_bytes() == "终稿".encode() * 1000
    assert bypy.downfile("dl/empty", str(tmp_path / "e")) == 0
    assert (tmp_path / "e").read_bytes() == b""
    assert bypy.downfile("dl/absent", str(tmp_path / "x")) == 130


def test_compare_after_directory_upload(bypy: Any, fakepcs: FakePCS, tmp_path: Path) -> None:
    src = tmp_path / "tree"
    write(src / "第一章：概述.docx", b"chapter one")
    write(src / "sub" / "b.txt", os.urandom(1000))
    write(src / "sub" / "深" / "c.txt", b"")
    assert bypy.upload(str(src), "cmp") == 0
    assert bypy.compare("cmp", str(src)) == 0
    res = bypy.result
    assert res["diff"] == [] and res["local"] == [] and res["remote"] == []
    assert sorted(res["same"]) == sorted(
        [("F", "第一章：概述.docx"), ("D", "sub"), ("F", "sub/b.txt"), ("D", "sub/深"), ("F", "sub/深/c.txt")]
    )
    fakepcs.put_file(f"{APP}/cmp/sub/b.txt", b"changed size")
    fakepcs.put_file(f"{APP}/cmp/remote-only.txt", b"r")
    assert bypy.compare("cmp", str(src)) == 0
    assert bypy.result["diff"] == [("F", "sub/b.txt")]
    assert bypy.result["remote"] == [("F", "remote-only.txt")]


def test_move_copy_delete(bypy: Any, fakepcs: FakePCS) -> None:
    fakepcs.put_file(f"{APP}/m/a.txt", b"A")
    assert bypy.move("m/a.txt", "m/新/b.txt") is None  # bypy's move returns None on success
    assert not fakepcs.exists(f"{APP}/m/a.txt")
    assert fakepcs.read_file(f"{APP}/m/新/b.txt") == b"A"
    assert bypy.copy("m/新", "m/副本") == 0
    assert fakepcs.read_file(f"{APP}/m/副本/b.txt") == b"A"
    assert bypy.delete("m/新") == 0
    assert fakepcs.tree(f"{APP}/m") == [f"{APP}/m/副本", f"{APP}/m/副本/b.txt"]
    assert bypy.delete("m/新") == 31066
    assert bypy.copy("m/副本", "m/副本") == 0  # 31061 again faked to 0 by bypy


def test_rapidupload_hit_skips_the_transfer(
    bypy_factory: Callable[..., Any], fakepcs: FakePCS, tmp_path: Path
) -> None:
    data = os.urandom(400 * 1024)
    fakepcs.add_known_content(data)
    local = write(tmp_path / "known.bin", data)
    by = bypy_factory(verify=False)
    assert by.upload(str(local), "r/known.bin") == 0
    assert keys(fakepcs)[-1] == "rapidupload"
    assert fakepcs.stats()["bytes_in"] == {}
    assert fakepcs.read_file(f"{APP}/r/known.bin") == data


def test_rapidupload_31023_switch_falls_back(bypy: Any, fakepcs: FakePCS, tmp_path: Path) -> None:
    data = os.urandom(300 * 1024)
    fakepcs.add_known_content(data)
    fakepcs.set_faults(rapidupload_31023=True)
    assert bypy.upload(str(write(tmp_path / "k.bin", data)), "k.bin") == 0
    log = fakepcs.request_log()
    assert [r["error_code"] for r in log if r["key"] == "rapidupload"] == [31023]
    assert log[-1]["key"] == "upload"


def test_expired_token_is_refreshed_and_rotated(
    bypy_factory: Callable[..., Any], fakepcs: FakePCS, tmp_path: Path
) -> None:
    first = bypy_factory()
    stale = bypy_factory(retry=1)  # loaded the same tokens before the refresh
    fakepcs.expire_token()
    assert first.info() == 0
    assert fakepcs.tokens.refreshes == 1
    saved = json.loads((tmp_path / "bypycfg0" / "bypy.json").read_text())
    assert saved["access_token"] == fakepcs.token
    assert saved["refresh_token"] == fakepcs.refresh_token
    # the second instance holds the superseded token and the used refresh token
    with pytest.raises(SystemExit) as exc:
        stale.info()
    assert exc.value.code == -1
    assert any(r["error_code"] == "invalid_grant" for r in fakepcs.request_log())


def test_rate_limit_burst_exhausts_retries(bypy_factory: Callable[..., Any], fakepcs: FakePCS) -> None:
    fakepcs.set_faults(rate_limit_next=2)
    assert bypy_factory(retry=2).list("") == 140
    fakepcs.set_faults(rate_limit_next=2)
    assert bypy_factory(retry=3).list("") == 0


def test_reset_mid_download_is_retried(bypy: Any, fakepcs: FakePCS, tmp_path: Path) -> None:
    data = os.urandom(MIB)
    fakepcs.put_file(f"{APP}/r.bin", data)
    fakepcs.fail_next("reset", methods=["download"])
    fakepcs.fail_next("truncate", methods=["download"])
    assert bypy.downfile("r.bin", str(tmp_path / "r.bin")) == 0
    assert (tmp_path / "r.bin").read_bytes() == data
    assert [r["fault"] for r in fakepcs.request_log() if r["key"] == "cdn"] == ["reset", "truncate", None]


def test_syncup_then_syncdown_roundtrip(bypy: Any, fakepcs: FakePCS, tmp_path: Path) -> None:
    src = tmp_path / "up"
    write(src / "a.txt", b"a")
    write(src / "目录" / "b.txt", b"bb")
    (src / "empty").mkdir()
    assert bypy.syncup(str(src), "sync") == 0
    assert fakepcs.tree(f"{APP}/sync") == [
        f"{APP}/sync/a.txt",
        f"{APP}/sync/empty",
        f"{APP}/sync/目录",
        f"{APP}/sync/目录/b.txt",
    ]
    dst = tmp_path / "down"
    assert bypy.syncdown("sync", str(dst)) == 0
    assert (dst / "目录" / "b.txt").read_bytes() == b"bb" and (dst / "empty").is_dir()


def test_syncdown_deletes_local_files_when_listing_fails(
    bypy_factory: Callable[..., Any], fakepcs: FakePCS, tmp_path: Path
) -> None:
    """Reproduces §3.5 item 6: a rate-limited listing looks empty to bypy."""
    fakepcs.put_file(f"{APP}/sync/a.txt", b"a")
    local = tmp_path / "local"
    write(local / "a.txt", b"a")
    fakepcs.fail_next("31034", count=2, methods="list")
    assert bypy_factory(retry=2).syncdown("sync", str(local), True) == 0
    assert not (local / "a.txt").exists()
