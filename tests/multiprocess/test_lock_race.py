"""Real OS processes racing for one lease on a local-folder remote: mutual exclusion and fencing."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pansync.index_store import load_index
from pansync.lock import Lease, read_lock
from pansync.remote.local import LocalRemote

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 500
PROCESSES = 3


def worker(*args: object, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.multiprocess._lock_worker", *map(str, args)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["file", "fakepcs"])
def test_three_processes_never_overlap_and_generations_increase(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    log = tmp_path / "fencing.log"
    env = None
    server = None
    if backend == "fakepcs":
        sys.path.insert(0, str(REPO / "contrib"))
        from fakepcs.testing import start_server

        from pansync.auth import store_tokens

        server = start_server(tmp_path / "fakepcs")
        store_tokens(tmp_path / "state", server.token, server.refresh_token)
        env = {
            **os.environ,
            "PANSYNC_RACE_BAIDU": server.url,
            "PANSYNC_RACE_STATE": str(tmp_path / "state"),
        }
    shares = [ROUNDS // PROCESSES + (i < ROUNDS % PROCESSES) for i in range(PROCESSES)]
    try:
        procs = [worker("race", root, f"client-{i}", n, log, env=env) for i, n in enumerate(shares)]
        for proc in procs:
            _, err = proc.communicate(timeout=280)
            assert proc.returncode == 0, err
    finally:
        if server is not None:
            server.stop()

    holds = sorted(
        (int(start), int(end), int(gen), client)
        for gen, client, start, end in (line.split() for line in log.read_text().splitlines())
    )
    assert len(holds) == ROUNDS
    assert {client for *_, client in holds} == {f"client-{i}" for i in range(PROCESSES)}
    for (_, end1, gen1, _), (start2, _, gen2, _) in itertools.pairwise(holds):
        assert end1 < start2, "two holds overlapped"
        assert gen1 < gen2, "fencing generations did not strictly increase"
    if backend == "file":
        assert read_lock(LocalRemote(root)) is None


@pytest.mark.timeout(60)
def test_a_killed_holder_is_taken_over_after_the_ttl(tmp_path: Path) -> None:
    ttl = 1.5
    holder = worker("hold", tmp_path, "doomed", ttl)
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line.startswith("HELD "), holder.stderr.read() if holder.stderr else line
        held_generation = int(line.split()[1])
        os.kill(holder.pid, signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        holder.kill()
        holder.wait()

    remote = LocalRemote(tmp_path)
    info = read_lock(remote)
    assert info is not None and info.record is not None and info.record.client_id == "doomed"
    lease = Lease.acquire(
        remote, client_id="survivor", client_name="survivor", ttl_s=ttl, wait_s=20, poll_s=0.1
    )
    waited = time.monotonic() - killed_at
    assert lease.generation == held_generation + 1
    assert waited >= ttl - info.age_s - 0.1  # not before the lease had expired by the server clock
    lease.check()
    lease.release()


@pytest.mark.timeout(120)
def test_fenced_commits_lose_nothing_across_takeovers(tmp_path: Path) -> None:
    """Holders stall past a 0.4 s TTL and get taken over; every commit that reported success is in
    the final index, generations are never reused, and stalled holders' commits are refused."""
    log = tmp_path / "commits.log"
    procs = [worker("commit", tmp_path, f"client-{i}", 20, log) for i in range(PROCESSES)]
    for proc in procs:
        _, err = proc.communicate(timeout=110)
        assert proc.returncode == 0, err

    results = [line.split() for line in log.read_text().splitlines()]
    committed = [(int(r[1]), r[2]) for r in results if r[0] == "ok"]
    assert len(results) == 20 * PROCESSES
    generations = sorted(g for g, _ in committed)
    assert generations == list(range(1, len(committed) + 1)), "a generation was reused or skipped"
    final = load_index(LocalRemote(tmp_path))
    assert final is not None and final.generation == len(committed)
    assert set(final.entries) == {key for _, key in committed}, "a successful commit was lost"
