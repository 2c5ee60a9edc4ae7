"""Every `Remote` primitive of the Baidu backend, over real HTTP against fakepcs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from fakepcs import FakePCS
from pansync.errors import ListingError, RemoteError
from pansync.model import Kind
from pansync.remote.baidu import BaiduRemote
from pansync.remote.base import Remote

from .conftest import ROOT, MakeRemote, cloud


def test_is_a_remote(remote: BaiduRemote) -> None:
    assert isinstance(remote, Remote)
    assert remote.url == f"baidu:{ROOT}"


def test_root_missing_then_created(make_remote: MakeRemote, fakepcs: FakePCS) -> None:
    fresh = make_remote("/apps/bypy/new/place")
    assert fresh.exists() is False
    with pytest.raises(ListingError):
        list(fresh.list_tree())
    fresh.ensure_root()
    fresh.ensure_root()  # idempotent
    assert fresh.exists() is True
    assert list(fresh.list_tree()) == []
    with pytest.raises(RemoteError):
        make_remote("/elsewhere")


def test_listing_pages_nested_and_skips_internal_names(remote: BaiduRemote, fakepcs: FakePCS) -> None:
    for i in range(1100):
        fakepcs.put_file(cloud(f"many/f{i:04d}.txt"), b"x")
    fakepcs.put_file(cloud("a/b/c/deep.txt"), b"deep")
    fakepcs.put_file(cloud(".pansync/.index.dat"), b"idx")
    fakepcs.put_file(cloud("a/.pansync.tmp-123"), b"tmp")
    fakepcs.reset_stats()
    entries = list(remote.list_tree())
    names = [e.name for e in entries]
    assert len(names) == len(set(names)) == 1100 + 1 + 3 + 1
    assert "many/f1099.txt" in names and "a/b/c/deep.txt" in names
    assert not any(".pansync" in n for n in names)
    seen: set[str] = set()
    for name in names:  # every parent comes before its children
        parent = name.rpartition("/")[0]
        assert not parent or parent in seen
        seen.add(name)
    deep = next(e for e in entries if e.name == "a/b/c/deep.txt")
    assert deep.kind is Kind.FILE and deep.size == 4 and deep.remote_id
    # one page per folder, two for the folder of 1100: root, many(2), a, a/b, a/b/c
    assert fakepcs.requests("list") == 6
    limits = [r["params"]["limit"] for r in fakepcs.request_log() if r["key"] == "list"]
    assert "1000-2000" in limits


def test_listing_is_all_or_nothing(remote: BaiduRemote, fakepcs: FakePCS) -> None:
    for i in range(3):
        fakepcs.put_file(cloud(f"d{i}/f.txt"), b"x")
    fakepcs.fail_next("5xx", count=100, methods="list")
    with pytest.raises(ListingError):
        list(remote.list_tree())
    fakepcs.clear_faults()
    fakepcs.fail_next("error", code=31064, methods="list")  # a permanent refusal mid-walk
    got: list[str] = []
    with pytest.raises(ListingError):
        for entry in remote.list_tree():
            got.append(entry.name)
    assert len(got) < 6


def test_listed_md5_is_trusted_only_when_it_proves_itself(
    make_remote: MakeRemote, fakepcs: FakePCS, tmp_path: Path
) -> None:
    remote = make_remote(slice_threshold=1024 * 1024, slice_size=512 * 1024)
    remote.ensure_root()
    small = tmp_path / "small"
    small.write_bytes(b"hello world\n")
    big = tmp_path / "big"
    big.write_bytes(bytes(range(256)) * 8192)  # 2 MiB: sliced
    remote.upload(small, "small")
    remote.upload(big, "big")
    listed = {e.name: e for e in remote.list_tree()}
    assert listed["small"].md5 == "6f5902ac237024bdd0c176cb93063dc4"
    assert listed["big"].md5 == ""  # a superfile's listed md5 is not its content's
    assert remote.checksum("big") == fakepcs.entry(cloud("big"))["content_md5"]  # type: ignore[index]
    assert remote.caps.trusted_md5


def test_stat_mkdir_delete(remote: BaiduRemote, fakepcs: FakePCS, tmp_path: Path) -> None:
    assert remote.stat("nothing") is None
    made = remote.mkdir("x/y/z")
    assert made.kind is Kind.DIR and made.name == "x/y/z"
    assert remote.mkdir("x/y/z").remote_id == made.remote_id
    fakepcs.put_file(cloud("x/file"), b"abc")
    with pytest.raises(RemoteError):
        remote.mkdir("x/file")
    st = remote.stat("x/file")
    assert st is not None and st.size == 3 and st.kind is Kind.FILE
    listed = {e.name: e for e in remote.list_tree()}
    assert listed["x/file"].mtime_ns == st.mtime_ns and listed["x/file"].remote_id == st.remote_id
    remote.delete("x")
    remote.delete("x")  # already gone: fine
    assert remote.stat("x") is None


def test_upload_refuses_an_existing_target(remote: BaiduRemote, fakepcs: FakePCS, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"new")
    fakepcs.put_file(cloud("taken.txt"), b"old")
    with pytest.raises(RemoteError, match="already exists"):
        remote.upload(src, "taken.txt")
    assert fakepcs.read_file(cloud("taken.txt")) == b"old"
    assert fakepcs.listdir(cloud()) == ["taken.txt"]  # the newcopy was cleaned up


def test_download_with_offset_and_redirect(remote: BaiduRemote, fakepcs: FakePCS, tmp_path: Path) -> None:
    data = bytes(range(256)) * 4000
    fakepcs.put_file(cloud("f.bin"), data)
    dest = tmp_path / "out"
    moved: list[int] = []
    remote.download("f.bin", dest, moved.append)
    assert dest.read_bytes() == data and sum(moved) == len(data)
    assert fakepcs.requests("cdn") >= 1  # followed the 302 to the CDN-like link
    part = tmp_path / "part"
    part.write_bytes(data[:1000])
    remote.download("f.bin", part, offset=1000)
    assert part.read_bytes() == data
    ranges = [r["range"] for r in fakepcs.request_log() if r["key"] == "cdn"]
    assert "bytes=1000-" in ranges
    empty = tmp_path / "empty"
    fakepcs.put_file(cloud("empty"), b"")
    remote.download("empty", empty)
    assert empty.read_bytes() == b""
    with pytest.raises(RemoteError):
        remote.download("missing", tmp_path / "nope")


def test_move_copy_and_overwrite(remote: BaiduRemote, fakepcs: FakePCS, tmp_path: Path) -> None:
    fakepcs.put_file(cloud("a.txt"), b"A")
    fakepcs.put_file(cloud("b.txt"), b"B")
    with pytest.raises(RemoteError, match="already exists"):
        remote.move("a.txt", "b.txt")
    moved = remote.move("a.txt", "sub/dir/a2.txt")
    assert moved.name == "sub/dir/a2.txt" and fakepcs.read_file(cloud("sub/dir/a2.txt")) == b"A"
    copied = remote.copy("b.txt", ".pansync/trash/batch/b.txt")
    assert copied.size == 1 and fakepcs.read_file(cloud("b.txt")) == b"B"
    with pytest.raises(RemoteError):
        remote.copy("b.txt", "sub/dir/a2.txt")
    # the engine's replace: upload beside, then move over
    src = tmp_path / "new"
    src.write_bytes(b"new content")
    temp = remote.upload(src, ".pansync.tmp-0001").entry
    final = remote.move(temp.name, "b.txt", overwrite=True)
    assert fakepcs.read_file(cloud("b.txt")) == b"new content"
    assert final.size == len(b"new content") and not fakepcs.exists(cloud(".pansync.tmp-0001"))
    remote.mkdir("folder")
    with pytest.raises(RemoteError):
        remote.move("b.txt", "folder", overwrite=True)


def test_overwrite_of_a_sliced_temp_is_atomic(
    make_remote: MakeRemote, fakepcs: FakePCS, tmp_path: Path
) -> None:
    remote = make_remote(slice_threshold=512 * 1024, slice_size=256 * 1024)
    remote.ensure_root()
    fakepcs.put_file(cloud("big.bin"), b"old")
    src = tmp_path / "big"
    src.write_bytes(b"z" * (1024 * 1024 + 7))
    temp = remote.upload(src, ".pansync.tmp-big").entry
    fakepcs.reset_stats()
    remote.move(temp.name, "big.bin", overwrite=True)
    assert fakepcs.read_file(cloud("big.bin")) == src.read_bytes()
    # rebuilt from the temp's slices with ondup=overwrite; the target was never deleted
    assert fakepcs.requests("createsuperfile") == 1 and fakepcs.bytes_in() < 1000
    deletes = [r["params"]["path"] for r in fakepcs.request_log() if r["key"] == "delete"]
    assert deletes == [cloud(".pansync.tmp-big")]


def test_case_only_rename_goes_through_a_temp_name(remote: BaiduRemote, fakepcs: FakePCS) -> None:
    fakepcs.put_file(cloud("readme.md"), b"r")
    fakepcs.reset_stats()
    renamed = remote.move("readme.md", "README.md")
    assert renamed.name == "README.md"
    assert fakepcs.listdir(cloud()) == ["README.md"]
    moves = [r["params"] for r in fakepcs.request_log() if r["key"] == "move"]
    assert len(moves) == 2 and ".pansync.tmp-" in moves[0]["to"]


def test_meta_primitives(remote: BaiduRemote, fakepcs: FakePCS) -> None:
    assert remote.read_meta(".config/lock.txt") is None
    assert remote.list_meta(".config") == []
    assert remote.create_meta_exclusive(".config/lock.txt", b"one") is True
    assert remote.create_meta_exclusive(".config/lock.txt", b"two") is False
    data, mtime_ns = remote.read_meta(".config/lock.txt")  # type: ignore[misc]
    assert data == b"one" and mtime_ns > 0
    remote.write_meta(".config/lock.txt", b"three")
    remote.write_meta(".index.dat", b"\x00" * 5000)
    assert remote.read_meta(".config/lock.txt") == (b"three", pytest.approx(mtime_ns, abs=5 * 10**9))
    assert remote.list_meta(".config") == ["lock.txt"]
    assert remote.list_meta("") == [".config", ".index.dat"]
    remote.delete_meta(".config/lock.txt")
    remote.delete_meta(".config/lock.txt")
    assert remote.read_meta(".config/lock.txt") is None
    assert sorted(fakepcs.listdir(cloud(".pansync/.config"))) == []


def test_create_meta_exclusive_race_has_one_winner(make_remote: MakeRemote) -> None:
    remotes = [make_remote(), make_remote()]
    remotes[0].ensure_root()

    def contend(r: BaiduRemote, tag: bytes, n: int, barrier: threading.Barrier, results: list[bool]) -> None:
        barrier.wait()
        results.append(r.create_meta_exclusive(f".config/lock{n}.txt", tag))

    for round_ in range(5):
        barrier = threading.Barrier(2)
        results: list[bool] = []
        threads = [
            threading.Thread(target=contend, args=(r, bytes([i]), round_, barrier, results))
            for i, r in enumerate(remotes)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [False, True]
        assert remotes[0].list_meta(".config").count(f"lock{round_}.txt") == 1
        winner = remotes[results.index(True)] if len(results) == 2 else None
        got = remotes[0].read_meta(f".config/lock{round_}.txt")
        assert winner is not None and got is not None and got[0] in (b"\x00", b"\x01")


def test_server_time_comes_from_the_date_header(remote: BaiduRemote, fakepcs: FakePCS) -> None:
    fakepcs.reset_stats()
    now = remote.server_time_ns()
    assert abs(now - time.time_ns()) < 3 * 10**9
    assert now % 10**9 == 0  # whole seconds, as the header and PCS mtimes are
    assert fakepcs.requests("quota") == 1


def test_changes_since(remote: BaiduRemote, fakepcs: FakePCS, tmp_path: Path) -> None:
    changed, cursor = remote.changes_since(None)
    assert changed is None and cursor
    changed, cursor = remote.changes_since(cursor)
    assert changed is False
    fakepcs.put_file("/apps/bypy/elsewhere/x", b"x")  # outside the root: not ours
    remote.write_meta(".config/lock.txt", b"lock churn")
    changed, cursor = remote.changes_since(cursor)
    assert changed is False
    src = tmp_path / "f"
    src.write_bytes(b"f")
    remote.upload(src, "new.txt")
    changed, cursor = remote.changes_since(cursor)
    assert changed is True
    assert remote.changes_since("bm90IGEgY3Vyc29y")[0] is None  # a cursor the service never issued
