"""The persistent queue: coalescing, batches, backoff, permanent failures, and kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pansync.workqueue import (
    MAX_ATTEMPTS,
    SOURCE_LOCAL,
    SOURCE_REMOTE,
    WorkQueue,
    backoff_s,
)


def test_puts_coalesce_by_path(tmp_path: Path) -> None:
    q = WorkQueue(tmp_path / "q.sqlite3")
    q.put(["a", "b"], SOURCE_LOCAL, 1.0)
    q.put(["a"], SOURCE_LOCAL, 2.0)
    q.put([""], SOURCE_REMOTE, 2.0)
    assert q.depth() == 3
    assert {(i.source, i.key) for i in q.items()} == {("local", "a"), ("local", "b"), ("remote", "")}
    assert next(i for i in q.items() if i.key == "a").queued_at == 1.0  # the oldest change counts


def test_a_batch_settles_what_it_covered_and_keeps_what_came_during_it(tmp_path: Path) -> None:
    q = WorkQueue(tmp_path / "q.sqlite3")
    q.put(["a", "b"], SOURCE_LOCAL, 1.0)
    batch = q.take(1.0)
    assert batch is not None and batch.due == 2 and set(batch.sample) == {"a", "b"}
    q.put(["a"], SOURCE_LOCAL, 1.5)  # edited again while the sync ran
    q.complete(batch, {}, 2.0)
    assert [i.key for i in q.items()] == ["a"]
    assert q.take(2.0) is not None


def test_a_batch_of_a_few_local_paths_is_scoped_and_settles_only_them(tmp_path: Path) -> None:
    q = WorkQueue(tmp_path / "q.sqlite3")
    q.put(["文档/a.txt", "b"], SOURCE_LOCAL, 1.0)
    batch = q.take(1.0, scope_max=10)
    assert batch is not None and batch.scope == ("b", "文档/a.txt")
    assert q.take(1.0).scope is None  # type: ignore[union-attr]  # no scope_max: a full sync
    assert q.take(1.0, scope_max=1).scope is None  # type: ignore[union-attr]  # too many paths
    q.put(["late"], SOURCE_LOCAL, 1.5)  # queued during the batch, not in its scope
    q.complete(batch, {}, 2.0)
    assert [i.key for i in q.items()] == ["late"]


def test_a_remote_change_in_the_batch_means_a_full_sync(tmp_path: Path) -> None:
    q = WorkQueue(tmp_path / "q.sqlite3")
    q.put(["a"], SOURCE_LOCAL, 1.0)
    q.put([""], SOURCE_REMOTE, 1.0)
    batch = q.take(1.0, scope_max=10)
    assert batch is not None and batch.scope is None
    q.complete(batch, {}, 2.0)
    assert q.items() == []


def test_a_scoped_batch_leaves_rows_still_backing_off(tmp_path: Path) -> None:
    q = WorkQueue(tmp_path / "q.sqlite3")
    q.put(["bad"], SOURCE_LOCAL, 0.0)
    first = q.take(0.0, scope_max=10)
    assert first is not None
    q.complete(first, {"bad": "EACCES"}, 0.0)  # retried in 5 s
    q.put(["new"], SOURCE_LOCAL, 1.0)
    batch = q.take(1.0, scope_max=10)
    assert batch is not None and batch.scope == ("new",)
    q.complete(batch, {}, 1.5)
    assert [(i.key, i.attempts) for i in q.items()] == [("bad", 1)]


def test_failed_paths_back_off_and_never_block_the_rest(tmp_path: Path) -> None:
    q = WorkQueue(tmp_path / "q.sqlite3")
    q.put(["bad", "good"], SOURCE_LOCAL, 0.0)
    batch = q.take(0.0)
    assert batch is not None
    q.complete(batch, {"bad": "permission denied"}, 10.0)
    [item] = q.items()
    assert (item.key, item.attempts, item.next_try, item.last_error) == (
        "bad",
        1,
        10.0 + backoff_s(1),
        "permission denied",
    )
    assert q.take(10.0) is None  # waiting out its backoff
    q.put(["other"], SOURCE_LOCAL, 11.0)
    other = q.take(11.0)
    assert other is not None and other.due == 1  # the rest goes on
    q.complete(other, {"bad": "permission denied"}, 11.0)  # the full sync retried it too
    assert next(i for i in q.items() if i.key == "bad").attempts == 2


def test_backoff_doubles_up_to_a_cap_then_the_failure_is_kept_for_status(tmp_path: Path) -> None:
    assert [backoff_s(n) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert backoff_s(30) == 3600.0
    q = WorkQueue(tmp_path / "q.sqlite3")
    q.put(["bad"], SOURCE_LOCAL, 0.0)
    now = 0.0
    for _ in range(MAX_ATTEMPTS):
        batch = q.take(now)
        assert batch is not None
        q.complete(batch, {"bad": "nope"}, now)
        now += 4000.0
    assert q.take(now) is None and q.depth() == 0
    [failure] = q.failures()
    assert failure.failed and failure.attempts == MAX_ATTEMPTS
    q.put(["bad"], SOURCE_LOCAL, now)  # the user touched it: try again from scratch
    assert q.depth() == 1 and q.items()[0].attempts == 0


def test_a_later_successful_sync_clears_an_old_failure(tmp_path: Path) -> None:
    q = WorkQueue(tmp_path / "q.sqlite3")
    q.put(["bad"], SOURCE_LOCAL, 0.0)
    batch = q.take(0.0)
    assert batch is not None
    q.complete(batch, {"bad": "nope"}, 0.0)
    q.put([""], SOURCE_REMOTE, 1.0)
    batch = q.take(1.0)
    assert batch is not None
    q.complete(batch, {}, 1.0)  # the whole folder synced, "bad" included
    assert q.items() == []


def test_next_due_and_meta_survive_reopening(tmp_path: Path) -> None:
    q = WorkQueue(tmp_path / "q.sqlite3")
    assert q.next_due() is None
    q.put(["a"], SOURCE_LOCAL, 5.0)
    q.set_meta("last_run", "4.0")
    q.close()
    q = WorkQueue(tmp_path / "q.sqlite3")
    assert q.next_due() == 5.0 and q.get_meta("last_run") == "4.0"
    q.put(["b"], SOURCE_LOCAL, 6.0)
    assert [i.seq for i in q.items()] == sorted(i.seq for i in q.items())  # seq keeps growing


CHILD = """
import os, signal, sys
from pansync.workqueue import WorkQueue, SOURCE_LOCAL
q = WorkQueue(__import__("pathlib").Path(sys.argv[1]))
q.put([f"f{i}" for i in range(500)], SOURCE_LOCAL, 1.0)
batch = q.take(1.0)
print("taken", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_queue_survives_kill_9_mid_batch(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL and "taken" in proc.stdout
    q = WorkQueue(path)
    assert q.depth() == 500  # the batch was taken, never completed: all of it resumes
    batch = q.take(2.0)
    assert batch is not None and batch.due == 500
    assert os.path.exists(path)
