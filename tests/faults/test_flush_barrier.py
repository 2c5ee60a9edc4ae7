"""Uploads are recorded as synced only after a `Remote.flush` that covers them: a record never says
the cloud holds bytes a power cut could still take away. A flush that fails leaves its uploads
unrecorded, and the next round records them without a conflict or a second upload."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from pansync.errors import RemoteError
from pansync.remote.base import Progress, Remote, UploadResult
from tests.e2e.harness import Client, snapshot
from tests.faults._wrap import RemoteWrapper

REMOTES = ["file", "baidu"]

FILES = {f"报告/第{i}季度.txt": f"第{i}季度：收入、支出。".encode() * 50 for i in range(1, 41)}


class _Barrier(RemoteWrapper):
    """A remote that notes which uploads returned since its last flush, and checks at each flush
    that none of them is recorded yet; `fail` makes the flush fail as a full or gone disk would."""

    def __init__(self, inner: Remote, state_db: Path, fail: list[bool]) -> None:
        super().__init__(inner)
        self.state_db = state_db
        self.fail = fail
        self.unflushed: set[str] = set()
        self.early: set[str] = set()
        self.flushes = 0

    def upload(self, local_path: Path, rel_path: str, progress: Progress | None = None) -> UploadResult:
        result = self.inner.upload(local_path, rel_path, progress)
        self.unflushed.add(local_path.name)
        return result

    def flush(self) -> None:
        self.flushes += 1
        with sqlite3.connect(self.state_db) as db:
            recorded = {Path(str(key)).name for (key,) in db.execute("SELECT key FROM synced")}
        self.early |= self.unflushed & recorded
        if self.fail[0]:
            raise RemoteError("cannot flush the remote folder to disk: Input/output error")
        self.inner.flush()
        self.unflushed.clear()


@pytest.fixture
def alice(make_client: Callable[..., Client]) -> tuple[Client, list[_Barrier], list[bool]]:
    barriers: list[_Barrier] = []
    fail = [False]

    def wrap(remote: Remote) -> Remote:
        barrier = _Barrier(remote, client.home / "state" / "folders" / "main" / "state.sqlite3", fail)
        barriers.append(barrier)
        return barrier  # type: ignore[return-value]

    client = make_client("alice", wrap_remote=wrap)
    return client, barriers, fail


def test_no_upload_is_recorded_before_a_flush_covers_it(
    alice: tuple[Client, list[_Barrier], list[bool]], cloud: Path
) -> None:
    client, barriers, _ = alice
    for rel, data in FILES.items():
        client.write(rel, data)

    result = client.sync()

    assert result.converged
    assert barriers[-1].flushes >= 1
    assert barriers[-1].early == set()
    assert client.state().synced_keys() >= set(FILES)
    assert {k: v for k, v in snapshot(cloud).items() if k in FILES} == FILES


def test_a_failed_flush_records_no_upload_and_nothing_is_sent_twice(
    alice: tuple[Client, list[_Barrier], list[bool]], cloud: Path
) -> None:
    """The failed flush's uploads go unrecorded; the sync's next round finds the same bytes on both
    sides and records them as they are: one upload per file, no conflict copy, nothing lost."""
    client, barriers, fail = alice
    for rel, data in FILES.items():
        client.write(rel, data)
    fail[0] = True

    result = client.sync()

    assert result.rounds >= 2
    assert result.uploaded_bytes == sum(len(data) for data in FILES.values())  # each file sent once
    assert result.converged
    assert barriers[-1].early == set()
    assert client.state().synced_keys() >= set(FILES)
    assert {k: v for k, v in snapshot(cloud).items() if k in FILES} == FILES
    assert client.tree() == {"报告": None, **FILES}  # no conflict copies
