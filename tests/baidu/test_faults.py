"""The backend against a misbehaving service: ~10% faults, resets after the work was done, rate
limits and a token expiry, with the request count kept in check."""

from __future__ import annotations

import hashlib
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fakepcs import FakePCS
from pansync.remote.baidu import BaiduRemote

from .conftest import MakeRemote

MIB = 1024 * 1024
RAPID_MIN = 256 * 1024


def _make_files(folder: Path) -> dict[str, bytes]:
    rng = random.Random(42)
    folder.mkdir()
    files: dict[str, bytes] = {}
    for i in range(99):
        size = rng.choice([0, 10, 4096, 100_000, 300_000, 700_000])
        files[f"d{i % 7}/f{i:03d}.bin"] = rng.randbytes(size)
    files["huge/64mib.bin"] = hashlib.sha256(b"huge").digest() * (64 * MIB // 32)
    for rel, data in files.items():
        (folder / rel.replace("/", "_")).write_bytes(data)
    return files


def _expected_requests(files: dict[str, bytes]) -> int:
    """What a fault-free run costs: per file its upload calls, then download + CDN link."""
    total = 0
    for data in files.values():
        if len(data) > 20 * MIB:
            total += 1 + -(-len(data) // (4 * MIB)) + 1  # rapidupload, slices, createsuperfile
        elif len(data) > RAPID_MIN:
            total += 2  # rapidupload (31079) + upload
        else:
            total += 1
        total += 2
    return total


def test_hundred_files_under_faults(make_remote: MakeRemote, fakepcs: FakePCS, tmp_path: Path) -> None:
    files = _make_files(tmp_path / "src")
    remote: BaiduRemote = make_remote(concurrency=4)
    remote.ensure_root()
    fakepcs.reset_stats()
    started = time.monotonic()
    fakepcs.set_faults(seed=7, error_rate={"*": 0.1}, error_kind="5xx")
    fakepcs.fail_next("31034", count=6)
    fakepcs.fail_next("reset", count=6, methods=["upload.tmpfile", "createsuperfile", "rapidupload"])
    fakepcs.fail_next("reset_request", count=3, methods="upload")
    names = sorted(files)

    def put(rel: str) -> int:
        if rel == names[50]:
            fakepcs.expire_token()  # once, while the other workers are busy
        result = remote.upload(tmp_path / "src" / rel.replace("/", "_"), rel)
        assert result.md5 == hashlib.md5(files[rel]).hexdigest()
        return result.payload_bytes

    with ThreadPoolExecutor(4) as pool:
        sent = sum(pool.map(put, names))
    assert sent >= sum(len(d) for d in files.values())
    fakepcs.set_faults(error_kind="reset", error_rate={"download": 0.1, "*": 0.05})
    fakepcs.fail_next("truncate", count=4, methods="download")
    fakepcs.fail_next("31034", count=3, methods="download")
    out = tmp_path / "out"
    out.mkdir()
    for rel in names:
        dest = out / rel.replace("/", "_")
        remote.download(rel, dest)
        assert dest.read_bytes() == files[rel], rel
    elapsed = time.monotonic() - started
    stats = fakepcs.stats()
    total = stats["total"]["requests"]
    expected = _expected_requests(files)
    print(f"requests: {total} (fault-free {expected}); {elapsed:.1f}s; {stats['requests']}")
    grants = [r["status"] for r in fakepcs.request_log() if r["key"] == "oauth.token"]
    assert grants.count(200) == 1 and len(grants) <= 3  # one renewal for all four workers
    # (the injected 5xx may hit the token endpoint too: that attempt is retried)
    assert remote.client.throttle.penalties >= 6  # 31034 lowered the concurrency (and it recovered)
    assert total <= 1.5 * expected + 30  # retries, not a storm
    assert {e.name for e in remote.list_tree() if e.kind.value == "file"} == set(files)


def test_lost_replies_do_not_break_non_idempotent_calls(
    remote: BaiduRemote, fakepcs: FakePCS, tmp_path: Path
) -> None:
    """A reset after the server did the work: the retry must not fail nor leave duplicates."""
    src = tmp_path / "f"
    src.write_bytes(b"content")
    fakepcs.fail_next("reset", methods="upload")
    remote.upload(src, "up.txt")
    fakepcs.fail_next("reset", methods="mkdir")
    remote.mkdir("dir")
    fakepcs.fail_next("reset", methods="move")
    remote.move("up.txt", "dir/moved.txt")
    fakepcs.fail_next("reset", methods="copy")
    remote.copy("dir/moved.txt", "copy.txt")
    fakepcs.fail_next("reset", methods="delete")
    remote.delete("copy.txt")
    fakepcs.fail_next("reset", methods="upload")
    assert remote.create_meta_exclusive(".config/lock.txt", b"mine") is True
    fakepcs.fail_next("reset", methods="upload")
    assert remote.create_meta_exclusive(".config/lock.txt", b"other") is False
    assert fakepcs.tree("/apps/bypy/docs") == [
        "/apps/bypy/docs/.pansync",
        "/apps/bypy/docs/.pansync/.config",
        "/apps/bypy/docs/.pansync/.config/lock.txt",
        "/apps/bypy/docs/dir",
        "/apps/bypy/docs/dir/moved.txt",
    ]
    assert fakepcs.read_file("/apps/bypy/docs/.pansync/.config/lock.txt") == b"mine"
