"""Uploads, slices, superfiles, and exact Range downloads over plain HTTP."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import pytest

from fakepcs import FakePCS, encmd5

APP = "/apps/bypy"
DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def stored(fakepcs: FakePCS) -> str:
    fakepcs.put_file(f"{APP}/r.bin", DATA)
    return f"{APP}/r.bin"


def test_download_redirects_then_serves(pcs: Any, stored: str) -> None:
    raw = pcs.http.get(
        pcs.url(),
        params={"method": "download", "path": stored, "access_token": pcs.server.token},
        allow_redirects=False,
        timeout=10,
    )
    assert raw.status_code == 302 and "/file/" in raw.headers["Location"]
    r = pcs.call("download", path=stored)
    assert r.status_code == 200 and r.content == DATA
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-MD5"] == hashlib.md5(DATA).hexdigest() and r.headers["Date"]


@pytest.mark.parametrize(
    "rng,first,last",
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, 10239),
        ("bytes=-10", 10230, 10239),
        ("bytes=10000-99999", 10000, 10239),
        ("bytes=10239-10239", 10239, 10239),
    ],
)
def test_range_exact(pcs: Any, stored: str, rng: str, first: int, last: int) -> None:
    r = pcs.call("download", path=stored, headers={"Range": rng})
    assert r.status_code == 206
    assert r.content == DATA[first : last + 1]
    assert r.headers["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert int(r.headers["Content-Length"]) == last - first + 1


def test_range_unsatisfiable_and_ignored(pcs: Any, stored: str, fakepcs: FakePCS) -> None:
    r = pcs.call("download", path=stored, headers={"Range": "bytes=10240-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == "bytes */10240"
    r = pcs.call("download", path=stored, headers={"Range": "bytes=0-1,5-6"})
    assert r.status_code == 200 and r.content == DATA
    fakepcs.set_policy(download_redirect=False)
    r = pcs.call("download", path=stored, headers={"Range": "bytes=1-2"})
    assert r.status_code == 206 and r.content == DATA[1:3] and not r.history


def test_json_looking_file_is_not_labelled_json(pcs: Any, fakepcs: FakePCS) -> None:
    body = b'{"error_code":31066,"error_msg":"file does not exist"}'
    fakepcs.put_file(f"{APP}/trap.json", body)
    r = pcs.call("download", path=f"{APP}/trap.json")
    assert r.content == body and "json" not in r.headers["Content-Type"]


def test_single_upload_reply_fields(pcs: Any, fakepcs: FakePCS) -> None:
    r = pcs.upload(f"{APP}/u/a.bin", DATA, ondup="overwrite")
    body = r.json()
    assert r.status_code == 200
    assert set(body) >= {"path", "size", "ctime", "mtime", "md5", "fs_id", "request_id"}
    assert body["size"] == len(DATA) and body["md5"] == encmd5.encode(hashlib.md5(DATA).hexdigest())
    assert fakepcs.read_file(f"{APP}/u/a.bin") == DATA
    r2 = pcs.upload(f"{APP}/u/a.bin", b"new", ondup="overwrite").json()
    assert r2["fs_id"] != body["fs_id"] and fakepcs.read_file(f"{APP}/u/a.bin") == b"new"
    r3 = pcs.upload(f"{APP}/u", b"x", ondup="overwrite")  # a directory is never overwritten
    assert r3.status_code == 400 and r3.json()["error_code"] == 31061
    assert pcs.upload(f"{APP}/u/empty", b"").json()["size"] == 0


@pytest.mark.parametrize("policy", ["baidu", "enc", "plain"])
def test_superfile_md5_policy(pcs: Any, fakepcs: FakePCS, policy: str) -> None:
    fakepcs.set_policy(superfile_md5=policy)
    parts = [os.urandom(5000), os.urandom(3000), b"tail"]
    md5s = [pcs.tmpfile(p).json()["md5"] for p in parts]
    assert md5s == [hashlib.md5(p).hexdigest() for p in parts]
    r = pcs.call(
        "createsuperfile",
        "POST",
        path=f"{APP}/sf.bin",
        ondup="overwrite",
        data={"param": json.dumps({"block_list": md5s})},
    )
    whole = b"".join(parts)
    content = hashlib.md5(whole).hexdigest()
    expected = {"enc": encmd5.encode(content), "plain": content}.get(policy)
    md5 = r.json()["md5"]
    if expected:
        assert md5 == expected
    else:
        assert md5 != encmd5.encode(content) and encmd5.is_enc_md5(md5)
    assert fakepcs.read_file(f"{APP}/sf.bin") == whole
    assert fakepcs.entry(f"{APP}/sf.bin")["block_list"] == md5s


def test_413_for_oversized_single_upload(pcs: Any, fakepcs: FakePCS) -> None:
    fakepcs.set_policy(max_single_upload=1000)
    r = pcs.upload(f"{APP}/huge", b"x" * 5000)
    assert r.status_code == 413 and b"nginx" in r.content
    assert not fakepcs.exists(f"{APP}/huge")


def test_upload_without_file_part_is_param_error(pcs: Any) -> None:
    r = pcs.call("upload", "POST", path=f"{APP}/x", data={"notfile": "1"})
    assert r.status_code == 400 and r.json()["error_code"] == 31023


def test_chunked_request_body(pcs: Any, fakepcs: FakePCS) -> None:
    boundary = "XyZ"
    body = (
        (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n').encode()
        + DATA
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def gen() -> Any:
        for i in range(0, len(body), 999):
            yield body[i : i + 999]

    r = pcs.call(
        "upload",
        "POST",
        path=f"{APP}/chunked",
        data=gen(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 200, r.text
    assert fakepcs.read_file(f"{APP}/chunked") == DATA
