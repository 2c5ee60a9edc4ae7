"""A lock contender run as its own OS process by `test_lock_race.py`.

    python -m tests.multiprocess._lock_worker race ROOT CLIENT_ID ROUNDS LOG
    python -m tests.multiprocess._lock_worker hold ROOT CLIENT_ID TTL_S
    python -m tests.multiprocess._lock_worker commit ROOT CLIENT_ID ROUNDS LOG

`race` takes the lock ROUNDS times on the local-folder remote at ROOT and, while holding it, enters
a critical section guarded by an exclusive marker file and appends `generation client start end` to
LOG. `hold` takes the lock, prints `HELD <generation>` and waits to be killed. `commit` holds a
short lease, sometimes stalls past its TTL (so a rival takes over), then tries a fenced commit of
the shared index with one new entry, logging `ok <generation> <key>` or `lost`.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
from pathlib import Path

import structlog

from pansync.errors import LockLost
from pansync.index import IndexEntry, SharedIndex
from pansync.index_store import commit_index, load_index
from pansync.lock import Lease, MetaStore
from pansync.model import Kind
from pansync.remote.local import LocalRemote


def _quiet_logs() -> None:
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def _remote(root: Path) -> MetaStore:
    """The local-folder remote at ROOT, or with PANSYNC_RACE_BAIDU set, fakepcs's `baidu:` folder
    (ROOT then only holds the local critical-section marker)."""
    endpoint = os.environ.get("PANSYNC_RACE_BAIDU")
    if not endpoint:
        return LocalRemote(root)
    from pansync.remote.baidu import BaiduRemote

    return BaiduRemote("/apps/bypy/race", state_dir=Path(os.environ["PANSYNC_RACE_STATE"]), endpoint=endpoint)


def race(root: Path, client_id: str, rounds: int, log: Path) -> None:
    remote = _remote(root)
    marker = root / "critical-section"
    for _ in range(rounds):
        with Lease.acquire(
            remote,
            client_id=client_id,
            client_name=client_id,
            ttl_s=20,
            wait_s=60,
            poll_s=0.003,
            settle_s=0.01,
        ) as lease:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                sys.exit(f"{client_id}: OVERLAP: another holder is inside the critical section")
            os.close(fd)
            start = time.time_ns()
            lease.check()
            end = time.time_ns()
            with open(log, "a", encoding="utf-8") as out:
                out.write(f"{lease.generation} {client_id} {start} {end}\n")
            os.unlink(marker)


def hold(root: Path, client_id: str, ttl_s: float) -> None:
    lease = Lease.acquire(LocalRemote(root), client_id=client_id, client_name=client_id, ttl_s=ttl_s)
    print(f"HELD {lease.generation}", flush=True)
    while True:
        time.sleep(60)


def commit(root: Path, client_id: str, rounds: int, log: Path) -> None:
    remote = LocalRemote(root)
    rng = random.Random(client_id)
    ttl = 0.4
    for n in range(rounds):
        with Lease.acquire(
            remote,
            client_id=client_id,
            client_name=client_id,
            ttl_s=ttl,
            wait_s=60,
            poll_s=0.02,
            settle_s=0.02,
        ) as lease:
            base = load_index(remote) or SharedIndex(0, "", 0, {})
            if rng.random() < 0.15:
                time.sleep(ttl * 1.5)  # stalled: a rival may take over meanwhile
            key = f"{client_id}/{n}"
            entries = dict(base.entries)
            entries[key] = IndexEntry(key, Kind.FILE, n, 0, "", str(n), False, base.generation + 1, client_id)
            try:
                done = commit_index(
                    remote, SharedIndex(0, "", 0, entries), expected_generation=base.generation, lease=lease
                )
                result = f"ok {done.generation} {key}"
            except LockLost:
                result = "lost"
        with open(log, "a", encoding="utf-8") as out:
            out.write(result + "\n")


if __name__ == "__main__":
    _quiet_logs()
    mode, root, client = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    if mode == "race":
        race(root, client, int(sys.argv[4]), Path(sys.argv[5]))
    elif mode == "commit":
        commit(root, client, int(sys.argv[4]), Path(sys.argv[5]))
    else:
        hold(root, client, float(sys.argv[4]))
