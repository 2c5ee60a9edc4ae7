"""list paging and ordering, meta, search, recycle bin, and the diff cursor feed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fakepcs import FakePCS

APP = "/apps/bypy"


def names(r: Any) -> list[str]:
    return [e["server_filename"] for e in r.json()["list"]]


@pytest.fixture
def big_dir(fakepcs: FakePCS) -> str:
    d = f"{APP}/big"
    for i in range(2500):
        fakepcs.put_file(f"{d}/f{i:04d}.txt", b"")
    return d


def test_limit_is_half_open_and_capped_at_1000(pcs: Any, big_dir: str) -> None:
    pages = [
        names(pcs.list(big_dir, by="name", order="asc", limit=f"{s}-{s + 1000}")) for s in (0, 1000, 2000)
    ]
    assert [len(p) for p in pages] == [1000, 1000, 500]
    assert pages[0][0] == "f0000.txt" and pages[1][0] == "f1000.txt" and pages[2][-1] == "f2499.txt"
    assert names(pcs.list(big_dir, by="name", order="asc", limit="10-13")) == [
        "f0010.txt",
        "f0011.txt",
        "f0012.txt",
    ]
    assert len(names(pcs.list(big_dir))) == 1000  # no limit: still one page
    assert len(names(pcs.list(big_dir, limit="0-5000"))) == 1000
    assert names(pcs.list(big_dir, limit="3000-4000")) == []
    r = pcs.list(big_dir, limit="5-3")
    assert r.status_code == 400 and r.json()["error_code"] == 31023


def test_ordering(pcs: Any, fakepcs: FakePCS) -> None:
    now = [1000.0]
    fakepcs.store.clock = lambda: now[0]
    for name, size in [("b.txt", 3), ("A.txt", 1), ("c.txt", 2)]:
        now[0] += 10
        fakepcs.put_file(f"{APP}/o/{name}", b"x" * size)
    fakepcs.mkdir(f"{APP}/o/zdir")
    fakepcs.mkdir(f"{APP}/o/Adir")
    d = f"{APP}/o"
    assert names(pcs.list(d, by="name", order="asc")) == ["Adir", "zdir", "A.txt", "b.txt", "c.txt"]
    assert names(pcs.list(d, by="name", order="desc")) == ["zdir", "Adir", "c.txt", "b.txt", "A.txt"]
    assert names(pcs.list(d, by="size", order="asc"))[2:] == ["A.txt", "c.txt", "b.txt"]
    assert names(pcs.list(d, by="time", order="desc"))[2:] == ["c.txt", "A.txt", "b.txt"]
    assert names(pcs.list(d))[:2] == ["zdir", "Adir"]  # default: descending, dirs first
    assert names(pcs.list(d, by="name", desc="0"))[:2] == ["Adir", "zdir"]


def test_entry_fields(pcs: Any, fakepcs: FakePCS) -> None:
    fakepcs.put_file(f"{APP}/e/f.txt", b"hello world\n")
    fakepcs.mkdir(f"{APP}/e/sub")
    f, d = sorted(pcs.list(f"{APP}/e").json()["list"], key=lambda e: e["isdir"])
    assert f["md5"] == "225361daemf2cf43922578a3596abb24"  # enc-md5 of "hello world\n"
    assert f["block_list"] == ["6f5902ac237024bdd0c176cb93063dc4"]
    assert {"fs_id", "path", "server_filename", "ctime", "mtime", "isdir", "size"} <= set(d)
    assert d["size"] == 0 and "md5" not in d
    meta = pcs.call("meta", path=f"{APP}/e").json()["list"][0]
    assert meta["isdir"] == 1 and meta["ifhassubdir"] == 1
    r = pcs.call(
        "meta",
        "POST",
        data={"param": json.dumps({"list": [{"path": f"{APP}/e/f.txt"}, {"path": f"{APP}/e/sub"}]})},
    )
    assert [m["path"] for m in r.json()["list"]] == [f"{APP}/e/f.txt", f"{APP}/e/sub"]


def test_quota_used(pcs: Any, fakepcs: FakePCS) -> None:
    fakepcs.put_file(f"{APP}/q", b"x" * 1234)
    body = pcs.call("info", route="quota").json()
    assert body["used"] == 1234 and body["quota"] == 2 * 1024**4
    fakepcs.set_policy(quota=2000)
    r = pcs.upload(f"{APP}/q2", b"y" * 1000)
    assert r.status_code == 400 and r.json()["error_code"] == 31112


def test_search_recycle_restore(pcs: Any, fakepcs: FakePCS) -> None:
    fakepcs.put_file(f"{APP}/s/Hello.txt", b"1")
    fakepcs.put_file(f"{APP}/s/deep/hello2.txt", b"2")
    r = pcs.call("search", path=f"{APP}/s", wd="hello", re="1")
    assert sorted(names(r)) == ["Hello.txt", "hello2.txt"]
    assert names(pcs.call("search", path=f"{APP}/s", wd="hello", re="0")) == ["Hello.txt"]
    assert pcs.call("delete", "POST", path=f"{APP}/s/deep").status_code == 200
    bin_ = pcs.call("listrecycle").json()["list"]
    assert [e["path"] for e in bin_] == [f"{APP}/s/deep"]
    assert pcs.call("restore", "POST", fs_id=bin_[0]["fs_id"]).status_code == 200
    assert fakepcs.read_file(f"{APP}/s/deep/hello2.txt") == b"2"
    pcs.call("delete", "POST", path=f"{APP}/s/deep")
    pcs.call("delete", "POST", type="recycle")
    assert pcs.call("listrecycle").json()["list"] == []


def test_batch_copy_move_delete_param(pcs: Any, fakepcs: FakePCS) -> None:
    fakepcs.put_file(f"{APP}/b/1", b"1")
    fakepcs.put_file(f"{APP}/b/2", b"2")
    param = {"list": [{"from": f"{APP}/b/1", "to": f"{APP}/c/1"}, {"from": f"{APP}/b/2", "to": f"{APP}/c/2"}]}
    r = pcs.call("copy", "POST", data={"param": json.dumps(param)})
    assert r.status_code == 200 and len(r.json()["extra"]["list"]) == 2
    param["list"].append({"from": f"{APP}/b/missing", "to": f"{APP}/c/3"})
    r = pcs.call("move", "POST", data={"param": json.dumps(param)})
    assert r.json()["error_code"] == 31061  # the first pair's target exists
    r = pcs.call(
        "delete",
        "POST",
        data={"param": json.dumps({"list": [{"path": f"{APP}/c/1"}, {"path": f"{APP}/c/2"}]})},
    )
    assert r.status_code == 200 and fakepcs.listdir(f"{APP}/c") == []


def diff(pcs: Any, cursor: str) -> dict[str, Any]:
    r = pcs.call("diff", cursor=cursor)
    assert r.status_code == 200, r.text
    return r.json()


def test_diff_cursor_feed(pcs: Any, fakepcs: FakePCS) -> None:
    fakepcs.put_file(f"{APP}/a/x.txt", b"x")
    first = diff(pcs, "null")
    assert first["reset"] is True and first["has_more"] is False
    assert set(first["entries"]) == {"/apps", APP, f"{APP}/a", f"{APP}/a/x.txt"}
    cur = first["cursor"]
    empty = diff(pcs, cur)
    assert empty["entries"] == {} and empty["reset"] is False and empty["cursor"] == cur

    pcs.upload(f"{APP}/a/new.txt", b"n")
    pcs.call("move", "POST", **{"from": f"{APP}/a/x.txt", "to": f"{APP}/b/y.txt"})
    pcs.call("delete", "POST", path=f"{APP}/a")
    step = diff(pcs, cur)
    e = step["entries"]
    assert e[f"{APP}/a"]["isdelete"] == -1
    assert f"{APP}/a/new.txt" not in e and f"{APP}/a/x.txt" not in e  # superseded by the delete
    assert e[f"{APP}/b/y.txt"]["isdelete"] == 0 and e[f"{APP}/b"]["isdir"] == 1
    assert e[f"{APP}/b/y.txt"]["md5"] == fakepcs.entry(f"{APP}/b/y.txt")["md5"]
    assert diff(pcs, step["cursor"])["entries"] == {}


def test_diff_pages_and_repeated_paths(pcs: Any, fakepcs: FakePCS) -> None:
    fakepcs.set_policy(diff_page=3)
    for i in range(7):
        fakepcs.put_file(f"{APP}/p/{i}", b"")
    seen: dict[str, Any] = {}
    cur, pages = "null", 0
    while True:
        page = diff(pcs, cur)
        seen.update(page["entries"])
        cur, pages = page["cursor"], pages + 1
        if not page["has_more"]:
            break
    assert pages == 4 and len(seen) == 10  # /apps, app dir, p, 7 files
    pcs.upload(f"{APP}/p/0", b"v2", ondup="overwrite")
    pcs.upload(f"{APP}/p/0", b"v3", ondup="overwrite")
    one = diff(pcs, cur)
    assert one["has_more"] is True and list(one["entries"]) == [f"{APP}/p/0"]
    two = diff(pcs, one["cursor"])
    assert two["has_more"] is False and two["entries"][f"{APP}/p/0"]["size"] == 2


def test_diff_bad_cursor_and_lag(pcs: Any, fakepcs: FakePCS) -> None:
    r = pcs.call("diff", cursor="not-a-cursor")
    assert r.status_code == 400 and r.json()["error_code"] == 31023
    cur = diff(pcs, "null")["cursor"]
    fakepcs.set_policy(diff_lag=3600)
    fakepcs.put_file(f"{APP}/late", b"")
    assert diff(pcs, cur)["entries"] == {}
    fakepcs.set_policy(diff_lag=0)
    assert list(diff(pcs, cur)["entries"]) == [f"{APP}/late"]
