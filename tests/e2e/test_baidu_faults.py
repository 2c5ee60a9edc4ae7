"""A real sync through fakepcs while it misbehaves like Baidu on a bad day: 10% of requests fail
(5xx pages, resets, 31034 rate limits) and the token expires once. The sync completes, both sides
are equal, nothing is lost, and the retries stay a bounded multiple of the requests needed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Client, snapshot

REMOTES = ["baidu"]
MIB = 1024 * 1024


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_five_hundred_files_and_a_big_one_under_faults(
    make_client: Callable[..., Client], cloud: Path, fake_baidu: Any
) -> None:
    alice, bob = make_client("alice"), make_client("bob")
    for i in range(500):
        alice.write(f"资料/{i // 50:02}/文件-{i:03}.txt", f"内容 {i} " * (i % 40 + 1))
    alice.write("视频/big.mp4", os.urandom(64 * MIB))

    files = len([v for v in snapshot(alice.root).values() if v is not None])
    fake_baidu.set_faults(seed=3, error_rate={"*": 0.1}, error_kind="5xx")
    fake_baidu.fail_next("31034", count=2)  # a burst of rate limiting: the client slows down
    # Resets after the server did the work; not on the token endpoint, where a lost answer to a
    # refresh costs the single-use refresh token (only `pansync auth` recovers; tested in tests/baidu).
    fake_baidu.fail_next("reset", count=2, methods=["upload", "file", "list"])
    fake_baidu.expire_token()
    first = alice.sync()
    assert not first.failed, first.failed[:3]
    # fakepcs holds one token pair; Bob's computer authorizes on its own after Alice's renewal.
    from pansync.auth import store_tokens

    store_tokens(bob.home / "state", fake_baidu.token, fake_baidu.refresh_token)
    fake_baidu.set_faults(error_kind="reset", error_rate={"file": 0.1, "download": 0.1, "cdn": 0.1})
    second = bob.sync()
    assert not second.failed, second.failed[:3]
    fake_baidu.clear_faults()
    assert snapshot(bob.root) == snapshot(alice.root)
    assert (bob.root / "视频" / "big.mp4").read_bytes() == (alice.root / "视频" / "big.mp4").read_bytes()
    # Each file needs a few requests each way; retries add about 10%. A storm would be many times more.
    assert fake_baidu.requests() < 12 * files, (fake_baidu.requests(), files)
