"""Direct HTTP tests of error codes, token handling and naming rules."""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path
from typing import Any

import pytest
import requests

from fakepcs import FakePCS, encmd5

APP = "/apps/bypy"


def err(r: requests.Response) -> int:
    return int(r.json()["error_code"])


def assert_error(r: requests.Response, code: int, status: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error_code"] == code and body["error_msg"] and body["request_id"]
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers.get("Date")


def test_31061_mkdir_existing(pcs: Any) -> None:
    r = pcs.call("mkdir", "POST", path=f"{APP}/d")
    assert r.status_code == 200 and r.json()["path"] == f"{APP}/d" and r.headers["Date"]
    assert_error(pcs.call("mkdir", "POST", path=f"{APP}/d"), 31061, 400)


@pytest.mark.parametrize("path", ["/apps/other", "/", "/apps", "/apps/bypyx/a", "/etc/passwd"])
def test_31064_outside_the_app_folder(pcs: Any, path: str) -> None:
    assert_error(pcs.list(path), 31064, 403)
    assert_error(pcs.call("mkdir", "POST", path=path + "/x"), 31064, 403)
    assert_error(pcs.upload(path + "/f", b"x"), 31064, 403)


def test_31066_not_found(pcs: Any) -> None:
    assert_error(pcs.list(f"{APP}/nope"), 31066, 404)
    assert_error(pcs.call("meta", path=f"{APP}/nope"), 31066, 404)
    assert_error(pcs.call("download", path=f"{APP}/nope"), 31066, 404)
    assert_error(pcs.call("move", "POST", **{"from": f"{APP}/nope", "to": f"{APP}/x"}), 31066, 404)
    assert_error(pcs.call("delete", "POST", path=f"{APP}/nope"), 31066, 404)


def test_delete_missing_can_be_ok(pcs: Any, fakepcs: FakePCS) -> None:
    fakepcs.set_policy(delete_missing="ok")
    r = pcs.call("delete", "POST", path=f"{APP}/nope")
    assert r.status_code == 200 and r.json()["request_id"]


def test_31079_rapidupload_unknown_content(pcs: Any) -> None:
    data = os.urandom(300 * 1024)
    md5 = hashlib.md5(data).hexdigest()
    r = pcs.call(
        "rapidupload",
        "POST",
        path=f"{APP}/r",
        **{
            "content-length": len(data),
            "content-md5": encmd5.encode(md5),
            "slice-md5": hashlib.md5(data[:262144]).hexdigest(),
        },
    )
    assert_error(r, 31079, 404)
    assert "md5 not found" in r.json()["error_msg"]


def test_rapidupload_hit_accepts_plain_and_enc_md5(pcs: Any, fakepcs: FakePCS) -> None:
    data = os.urandom(300 * 1024)
    fakepcs.put_file(f"{APP}/orig.bin", data)
    md5 = hashlib.md5(data).hexdigest()
    common = {
        "content-length": len(data),
        "slice-md5": hashlib.md5(data[:262144]).hexdigest(),
        "content-crc32": hex(zlib.crc32(data) & 0xFFFFFFFF),
    }
    for i, form in enumerate([md5, encmd5.encode(md5)]):
        r = pcs.call(
            "rapidupload",
            "POST",
            path=f"{APP}/c{i}.bin",
            ondup="overwrite",
            **{"content-md5": form},
            **common,
        )
        assert r.status_code == 200 and r.json()["md5"] == encmd5.encode(md5)
        assert fakepcs.read_file(f"{APP}/c{i}.bin") == data
    bad = dict(common, **{"slice-md5": "0" * 32})
    assert_error(pcs.call("rapidupload", "POST", path=f"{APP}/c9", **{"content-md5": md5}, **bad), 31079, 404)
    assert_error(
        pcs.call(
            "rapidupload",
            "POST",
            path=f"{APP}/small",
            **{"content-length": 10, "content-md5": md5, "slice-md5": md5},
        ),
        31023,
        400,
    )
    fakepcs.set_faults(rapidupload_31023=True)
    assert_error(
        pcs.call("rapidupload", "POST", path=f"{APP}/c3.bin", **{"content-md5": md5}, **common), 31023, 400
    )


def test_31363_missing_block(pcs: Any, fakepcs: FakePCS) -> None:
    a, b = os.urandom(1000), os.urandom(2000)
    assert pcs.tmpfile(a).json()["md5"] == hashlib.md5(a).hexdigest()
    bl = [hashlib.md5(a).hexdigest(), hashlib.md5(b).hexdigest()]
    param = {"param": json.dumps({"block_list": bl})}  # bypy's spacing
    r = pcs.call("createsuperfile", "POST", path=f"{APP}/s", ondup="overwrite", data=param)
    assert_error(r, 31363, 403)
    pcs.tmpfile(b)
    r = pcs.call("createsuperfile", "POST", path=f"{APP}/s", ondup="overwrite", data=param)
    assert r.status_code == 200 and r.json()["size"] == 3000
    assert fakepcs.read_file(f"{APP}/s") == a + b
    assert fakepcs.expire_blocks() == 2
    assert_error(pcs.call("createsuperfile", "POST", path=f"{APP}/s2", data=param), 31363, 403)


def test_31034_burst_via_admin_endpoint(pcs: Any, fakepcs: FakePCS) -> None:
    r = requests.post(f"{fakepcs.url}/__admin/faults", json={"rate_limit_next": 2}, timeout=10)
    assert r.status_code == 200 and r.json()["armed"][0]["kind"] == "31034"
    assert_error(pcs.list(APP), 31034, 400)
    assert pcs.call("quota", route="quota").json()["error_msg"] == "hit frequence control"
    assert pcs.list(APP).status_code == 200
    fakepcs.set_faults(rate_limit_next=1, rate_limit_status=200)
    r = pcs.list(APP)
    assert r.status_code == 200 and err(r) == 31034


def test_token_errors_110_111(pcs: Any, fakepcs: FakePCS) -> None:
    assert_error(pcs.list(APP, token="bogus"), 110, 401)
    assert_error(pcs.list(APP, token=""), 110, 401)
    fakepcs.expire_token()
    assert_error(pcs.list(APP), 111, 401)
    assert pcs.list(APP).json()["error_msg"] == "Access token expired"
    fakepcs.set_policy(expired_status=200)
    r = pcs.list(APP)
    assert r.status_code == 200 and err(r) == 111


def test_refresh_rotates_and_reuse_is_invalid_grant(pcs: Any, fakepcs: FakePCS) -> None:
    url = f"{fakepcs.url}/oauth/2.0/token"
    old_access, old_refresh = fakepcs.token, fakepcs.refresh_token
    fakepcs.expire_token()
    q = {
        "grant_type": "refresh_token",
        "refresh_token": old_refresh,
        "client_id": "id",
        "client_secret": "secret",
        "access_token": old_access,
    }
    r = requests.post(url, params=q, timeout=10)
    new = r.json()
    assert r.status_code == 200 and new["access_token"] != old_access
    assert new["refresh_token"] != old_refresh and new["expires_in"] == 2592000
    assert pcs.list(APP, token=new["access_token"]).status_code == 200
    assert_error(pcs.list(APP, token=old_access), 111, 401)
    again = requests.post(url, params=q, timeout=10)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert "error_code" not in again.json()
    q2 = dict(q, refresh_token=new["refresh_token"])
    assert requests.post(url, data=q2, timeout=10).status_code == 200  # form body works too


@pytest.mark.parametrize(
    "name",
    ["a\\b", "a?b", "a|b", 'a"b', "a>b", "a<b", "a:b", "a*b", " lead", "trail ", "tab\t", "dot.", "..", "."],
)
def test_31062_forbidden_names(pcs: Any, fakepcs: FakePCS, name: str) -> None:
    assert_error(pcs.upload(f"{APP}/{name}", b"x"), 31062, 400)
    assert_error(pcs.call("mkdir", "POST", path=f"{APP}/d/{name}"), 31062, 400)
    assert fakepcs.tree() == []


def test_fullwidth_and_leading_dot_names_are_fine(pcs: Any, fakepcs: FakePCS) -> None:
    for name in ["第一章：概述.docx", "报告 2024（终稿）.txt", ".bypytemp", "a+b&c=d%20.txt"]:
        assert pcs.upload(f"{APP}/ok/{name}", name.encode()).status_code == 200, name
        assert fakepcs.read_file(f"{APP}/ok/{name}") == name.encode()


def test_path_length_limit(pcs: Any) -> None:
    ok = APP
    while len(ok) < 1000:
        ok += "/" + "a" * min(200, 999 - len(ok))
    assert len(ok) == 1000
    assert pcs.call("mkdir", "POST", path=ok).status_code == 200
    assert_error(pcs.call("mkdir", "POST", path=ok + "b"), 31062, 400)


def test_case_insensitive_case_preserving(pcs: Any, fakepcs: FakePCS) -> None:
    assert pcs.upload(f"{APP}/Docs/ReadMe.TXT", b"v1").status_code == 200
    meta = pcs.call("meta", path=f"{APP}/docs/readme.txt").json()["list"][0]
    assert meta["path"] == f"{APP}/Docs/ReadMe.TXT"
    assert_error(pcs.call("mkdir", "POST", path=f"{APP}/DOCS"), 31061, 400)
    r = pcs.upload(f"{APP}/DOCS/readme.txt", b"v2", ondup="overwrite")
    assert r.json()["path"] == f"{APP}/Docs/ReadMe.TXT"
    assert [e["path"] for e in pcs.list(f"{APP}/docs").json()["list"]] == [f"{APP}/Docs/ReadMe.TXT"]
    assert fakepcs.read_file(f"{APP}/Docs/ReadMe.TXT") == b"v2"
    assert_error(pcs.upload(f"{APP}/docs/README.txt", b"v3"), 31061, 400)  # no ondup
    r = pcs.call("move", "POST", **{"from": f"{APP}/docs/readme.txt", "to": f"{APP}/docs/readme.txt"})
    assert r.status_code == 200
    assert fakepcs.listdir(f"{APP}/Docs") == ["readme.txt"]


def test_ondup_newcopy_name(tmp_path: Path) -> None:
    clock = lambda: 1700000000.0  # noqa: E731 - 2023-11-15 06:13:20 in Beijing
    with FakePCS(tmp_path / "c", clock=clock) as srv:
        from tests.fakepcs.conftest import Pcs

        pcs = Pcs(srv)
        for _ in range(3):
            assert pcs.upload(f"{APP}/a.tar.gz", b"x", ondup="newcopy").status_code == 200
        assert srv.listdir(APP) == ["a.tar.gz", "a.tar_20231115_061320.gz", "a.tar_20231115_061320_1.gz"]
        e = srv.entry(f"{APP}/a.tar.gz")
        assert e["ctime"] == e["mtime"] == 1700000000
        pcs.close()


def test_parents_created_and_server_times(tmp_path: Path) -> None:
    now = [1600000000.0]
    with FakePCS(tmp_path / "c", clock=lambda: now[0]) as srv:
        from tests.fakepcs.conftest import Pcs

        pcs = Pcs(srv)
        now[0] += 100
        r = pcs.upload(f"{APP}/x/y/z.txt", b"z").json()
        assert r["ctime"] == r["mtime"] == 1600000100
        assert srv.entry(f"{APP}/x/y")["isdir"] == 1
        assert srv.entry(f"{APP}/x")["mtime"] == 1600000100
        pcs.close()
