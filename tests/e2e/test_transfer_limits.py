"""`transfer.upload_limit` and `transfer.download_limit` hold for every backend (lower bounds only:
a limit can be measured as "not faster than", never flakily as "exactly")."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.harness import Client

REMOTES = ["file", "baidu"]
MIB = 1024 * 1024


def test_upload_and_download_limits(make_client: Callable[..., Client], cloud: Path) -> None:
    limited = "transfer:\n  upload_limit: 1MiB/s\n  download_limit: 1MiB/s\n"
    alice = make_client("alice", extra_config=limited)
    bob = make_client("bob", extra_config=limited)
    alice.write("a.bin", os.urandom(3 * MIB))
    started = time.monotonic()
    assert not alice.sync().failed
    assert time.monotonic() - started >= 1.8  # 3 MiB at 1 MiB/s, the first second's burst free
    started = time.monotonic()
    assert not bob.sync().failed
    assert time.monotonic() - started >= 1.8
    assert (bob.root / "a.bin").read_bytes() == (alice.root / "a.bin").read_bytes()
