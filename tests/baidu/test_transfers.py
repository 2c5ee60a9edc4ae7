"""Uploads (rapid, single, sliced, resumed) and downloads (ranges, truncation, resets) end to end."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from fakepcs import FakePCS
from pansync.errors import ItemError
from pansync.remote.baidu import BaiduRemote

from .conftest import MakeRemote, cloud

MIB = 1024 * 1024


def _file(path: Path, size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB, distinct per seed
    data = (block * (size // len(block) + 1))[:size]
    path.write_bytes(data)
    return data


def test_small_upload_hashes_what_it_sends(remote: BaiduRemote, fakepcs: FakePCS, tmp_path: Path) -> None:
    data = _file(tmp_path / "s", 1000)
    moved: list[int] = []
    result = remote.upload(tmp_path / "s", "s.txt", moved.append)
    assert result.md5 == hashlib.md5(data).hexdigest() == result.entry.md5
    assert result.payload_bytes == 1000 == sum(moved)
    assert fakepcs.requests("rapidupload") == 0  # not worth it at this size
    assert fakepcs.read_file(cloud("s.txt")) == data


def test_medium_upload_tries_rapid_then_sends(remote: BaiduRemote, fakepcs: FakePCS, tmp_path: Path) -> None:
    data = _file(tmp_path / "m", 300 * 1024)
    result = remote.upload(tmp_path / "m", "m.bin")
    assert fakepcs.requests("rapidupload") == 1 and fakepcs.requests("upload") == 1
    assert result.payload_bytes == len(data) and fakepcs.read_file(cloud("m.bin")) == data


def test_rapid_upload_moves_no_payload(remote: BaiduRemote, fakepcs: FakePCS, tmp_path: Path) -> None:
    data = _file(tmp_path / "known", 2 * MIB, seed=7)
    fakepcs.add_known_content(data)
    fakepcs.reset_stats()
    result = remote.upload(tmp_path / "known", "known.bin")
    assert result.payload_bytes == 0
    assert result.md5 == hashlib.md5(data).hexdigest()
    assert fakepcs.bytes_in() == 0 and fakepcs.requests("upload") == 0
    assert fakepcs.read_file(cloud("known.bin")) == data


def test_rapid_upload_31023_switches_it_off(remote: BaiduRemote, fakepcs: FakePCS, tmp_path: Path) -> None:
    fakepcs.set_faults(rapidupload_31023=True)
    for i in range(2):
        _file(tmp_path / f"r{i}", 400 * 1024, seed=i)
        remote.upload(tmp_path / f"r{i}", f"r{i}.bin")
    assert fakepcs.requests("rapidupload") == 1 and fakepcs.requests("upload") == 2


def test_sliced_upload_over_20_mib(remote: BaiduRemote, fakepcs: FakePCS, tmp_path: Path) -> None:
    data = _file(tmp_path / "big", 21 * MIB + 3, seed=3)
    moved: list[int] = []
    result = remote.upload(tmp_path / "big", "big.bin", moved.append)
    assert fakepcs.requests("upload.tmpfile") == 6 and fakepcs.requests("createsuperfile") == 1
    assert fakepcs.requests("upload") == 0  # slices only: no single upload of the whole
    assert result.payload_bytes == len(data) == sum(moved)
    entry = fakepcs.entry(cloud("big.bin"))
    assert entry is not None and entry["content_md5"] == result.md5 == hashlib.md5(data).hexdigest()
    assert not list((remote_state(tmp_path)).glob("*.json"))  # progress dropped once merged


def remote_state(tmp_path: Path) -> Path:
    return tmp_path / "state" / "baidu" / "slices"


def test_413_on_single_upload_falls_back_to_slices(
    make_remote: MakeRemote, fakepcs: FakePCS, tmp_path: Path
) -> None:
    remote = make_remote(slice_size=256 * 1024)
    remote.ensure_root()
    fakepcs.set_policy(max_single_upload=400 * 1024)
    data = _file(tmp_path / "f", 1 * MIB, seed=9)
    remote.upload(tmp_path / "f", "f.bin")
    assert fakepcs.read_file(cloud("f.bin")) == data
    assert fakepcs.requests("createsuperfile") == 1


class Crash(Exception):
    pass


def test_interrupted_sliced_upload_resends_only_missing_slices(
    make_remote: MakeRemote, fakepcs: FakePCS, tmp_path: Path
) -> None:
    slices = 12
    data = _file(tmp_path / "big", slices * MIB, seed=5)
    first = make_remote(slice_size=MIB, slice_threshold=2 * MIB, concurrency=3)
    first.ensure_root()
    fakepcs.set_faults(rapidupload_31023=True)
    done: list[int] = []

    def crash_after_four(n: int) -> None:
        done.append(n)
        if len(done) == 4:
            raise Crash

    with pytest.raises(Crash):
        first.upload(tmp_path / "big", ".pansync.tmp-aaaa", crash_after_four)
    sent_first = fakepcs.requests("upload.tmpfile")
    bytes_first = fakepcs.stats()["bytes_in"]["upload.tmpfile"]
    assert 4 <= sent_first < slices
    assert not fakepcs.exists(cloud(".pansync.tmp-aaaa"))
    # a new process (new remote, same state dir) uploads to a new temp name, as the engine does
    second = make_remote(slice_size=MIB, slice_threshold=2 * MIB, concurrency=3)
    result = second.upload(tmp_path / "big", ".pansync.tmp-bbbb")
    assert fakepcs.requests("upload.tmpfile") == slices  # no slice went twice
    total_in = fakepcs.stats()["bytes_in"]["upload.tmpfile"]
    assert total_in - bytes_first < (slices - sent_first + 1) * MIB
    assert result.payload_bytes == (slices - sent_first) * MIB
    assert result.md5 == hashlib.md5(data).hexdigest()
    assert fakepcs.read_file(cloud(".pansync.tmp-bbbb")) == data


def test_expired_slices_are_sent_again(make_remote: MakeRemote, fakepcs: FakePCS, tmp_path: Path) -> None:
    data = _file(tmp_path / "big", 4 * MIB, seed=6)
    remote = make_remote(slice_size=MIB, slice_threshold=2 * MIB)
    remote.ensure_root()
    fakepcs.set_faults(rapidupload_31023=True)
    with pytest.raises(Crash):
        remote.upload(tmp_path / "big", "x.bin", lambda n: (_ for _ in ()).throw(Crash()))
    fakepcs.expire_blocks()  # the server forgot them (issue #735): createsuperfile says 31363
    remote.upload(tmp_path / "big", "x.bin")
    assert fakepcs.read_file(cloud("x.bin")) == data


def test_download_survives_truncation_and_resets(
    remote: BaiduRemote, fakepcs: FakePCS, tmp_path: Path
) -> None:
    data = os.urandom(3 * MIB + 11)
    fakepcs.put_file(cloud("d.bin"), data)
    fakepcs.fail_next("truncate", count=2, methods="download")
    fakepcs.fail_next("reset", count=2, methods="download")
    dest = tmp_path / "d"
    remote.download("d.bin", dest)
    assert dest.read_bytes() == data
    ranges = [r["range"] for r in fakepcs.request_log() if r["key"] == "cdn"]
    assert len(ranges) == 5 and ranges[0] == "bytes=0-" and all(r.startswith("bytes=") for r in ranges)
    # each retry asked only for the rest: far less than 5 whole copies went out
    assert fakepcs.stats()["bytes_out"]["download"] < 2 * len(data)


def test_file_over_the_account_cap_is_skipped(make_remote: MakeRemote, tmp_path: Path) -> None:
    remote = make_remote(max_file_size=100)
    _file(tmp_path / "f", 200)
    with pytest.raises(ItemError, match="larger than"):
        remote.upload(tmp_path / "f", "f.bin")
    assert remote.caps.max_file_size == 100
