"""Two agents, two processes, two PANSYNC_HOMEs, one `file://` remote: changes flow both ways."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pansync.workqueue import WorkQueue, queue_path
from tests.agent.conftest import AgentProcess, eventually
from tests.e2e.harness import Client, snapshot

Spawn = Callable[[Client], AgentProcess]


def same(a: Client, b: Client) -> Callable[[], bool]:
    return lambda: snapshot(a.root) == snapshot(b.root)


def test_create_edit_rename_delete_and_folders_propagate(
    fast_client: Callable[[str], Client], spawn: Spawn, cloud: Path
) -> None:
    alice, bob = fast_client("alice"), fast_client("bob")
    spawn(alice).start()
    spawn(bob).start()

    alice.write("notes.txt", "first")
    eventually(lambda: (bob.root / "notes.txt").exists() and bob.read("notes.txt") == "first", what="create")
    alice.write("notes.txt", "second, longer")
    eventually(lambda: bob.read("notes.txt") == "second, longer", what="edit")
    os.rename(bob.root / "notes.txt", bob.root / "renamed.txt")
    eventually(lambda: (alice.root / "renamed.txt").exists() and not (alice.root / "notes.txt").exists())
    alice.write("docs/报告 2026/summary.md", "# hi")
    eventually(lambda: (bob.root / "docs" / "报告 2026" / "summary.md").exists(), what="new folder")
    (alice.root / "renamed.txt").unlink()
    eventually(lambda: not (bob.root / "renamed.txt").exists(), what="delete")
    eventually(same(alice, bob), what="both trees equal")
    assert snapshot(cloud) == snapshot(alice.root)


def test_a_new_tree_of_1000_files_propagates(
    fast_client: Callable[[str], Client], spawn: Spawn, cloud: Path
) -> None:
    alice, bob = fast_client("alice"), fast_client("bob")
    spawn(alice).start()
    spawn(bob).start()
    for i in range(1000):
        alice.write(f"tree/d{i % 25:02}/sub{i % 3}/f{i:04}.txt", f"file {i}\n" * (i % 7))
    eventually(lambda: len(snapshot(bob.root)) == len(snapshot(alice.root)), 90, "1000 files at bob")
    eventually(same(alice, bob), 30, "equal trees")


def test_kill_9_mid_batch_then_restart_resumes_and_loses_nothing(
    fast_client: Callable[[str], Client], spawn: Spawn, cloud: Path
) -> None:
    alice, bob = fast_client("alice"), fast_client("bob")
    first = spawn(alice).start()
    payload = os.urandom(16 << 10)
    for i in range(1500):
        alice.write(f"batch/{i % 10}/f{i:04}.bin", payload[: 1024 + i])

    def uploaded() -> int:
        return sum(1 for p in (cloud / "batch").rglob("*.bin")) if (cloud / "batch").exists() else 0

    eventually(lambda: uploaded() >= 50, 60, "the batch to be under way")
    first.kill9()
    assert uploaded() < 1500, "the batch finished before the kill; make it bigger"
    queue = WorkQueue(queue_path(alice.home / "state", "main"))
    assert queue.depth() > 0  # the interrupted batch is still queued
    queue.close()

    spawn(alice).start()  # resumes the queue; its own dead lock is cleared at start
    spawn(bob).start()
    eventually(lambda: uploaded() == 1500, 90, "all files in the cloud")
    eventually(same(alice, bob), 90, "bob to have everything")
    assert not any(p.name.startswith(".pansync") for p in (cloud / "batch").rglob("*"))  # no temp left
    eventually(lambda: WorkQueue(queue_path(alice.home / "state", "main")).depth() == 0, 30, "empty queue")


def test_files_written_one_at_a_time_arrive_and_the_agent_settles_idle(
    fast_client: Callable[[str], Client], spawn: Spawn, cloud: Path
) -> None:
    alice = fast_client("alice")
    agent = spawn(alice).start()
    for i in range(4):
        alice.write(f"one/{i}.txt", str(i))
        eventually(lambda i=i: (cloud / "one" / f"{i}.txt").exists(), 10, f"file {i}")

    def settled() -> bool:
        folder = agent.status()["folders"]["main"]  # type: ignore[index]
        return bool(folder["queue"] == 0 and folder["state"] == "idle")

    eventually(settled, 15, "an idle agent with an empty queue")
    folder = agent.status()["folders"]["main"]  # type: ignore[index]
    assert folder["last_error"] is None and folder["watch"] == "realtime" and folder["runs"] >= 2
    assert folder["last_outcome"]["scoped"] is True  # a watched change syncs its own paths only


def test_a_scoped_change_and_a_change_from_another_computer_both_arrive(
    fast_client: Callable[[str], Client], spawn: Spawn, cloud: Path
) -> None:
    """Bob's commit makes Alice's next watched change widen to a full sync, which brings his down."""
    alice, bob = fast_client("alice"), fast_client("bob")
    alice_agent = spawn(alice).start()
    alice.write("a/第一.txt", "1")
    eventually(lambda: (cloud / "a" / "第一.txt").exists(), 10, "alice's first file")
    bob.write("b/来自bob.txt", "bob")
    bob.sync()  # a one-shot sync on the other computer: a new index generation
    alice.write("a/第二.txt", "2")
    eventually(lambda: (cloud / "a" / "第二.txt").exists(), 10, "alice's second file")
    eventually(lambda: (alice.root / "b" / "来自bob.txt").exists(), 10, "bob's file at alice")
    folder = alice_agent.status()["folders"]["main"]  # type: ignore[index]
    assert folder["last_error"] is None
