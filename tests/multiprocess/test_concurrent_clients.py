"""Three computers editing one folder at the same time, including the same file, syncing as three
OS processes at once: they converge, and where two changed a file, both versions survive."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.harness import Client, snapshot

ROUNDS = 4


def sync_all_at_once(clients: list[Client]) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pansync", "sync"],
            env=c.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in clients
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err


@pytest.mark.timeout(600)
def test_three_clients_editing_concurrently_converge_with_conflict_copies(
    make_client: Callable[..., Client], cloud: Path
) -> None:
    clients = [make_client(name) for name in ("甲", "乙", "丙")]
    clients[0].write("共享/同一个文件.txt", "base")
    sync_all_at_once(clients)
    sync_all_at_once(clients)
    versions: set[bytes] = {b"base"}
    for n in range(ROUNDS):
        for client in clients:
            text = f"round {n} by {client.name}"
            client.write("共享/同一个文件.txt", text)  # everyone edits the same file
            client.write(f"{client.name}/notes-{n}.md", text)  # and a file of their own
            versions.add(text.encode())
        sync_all_at_once(clients)
    for _ in range(3):  # then quietly, one after another, until nothing moves
        for client in clients:
            out = client.cli("sync")
            assert out.returncode == 0, out.stderr
    final = snapshot(cloud)
    for client in clients:
        assert snapshot(client.root) == final, client.name
    kept = {v for v in final.values() if v}
    last_versions = {f"round {ROUNDS - 1} by {c.name}".encode() for c in clients}
    assert last_versions <= kept, "a concurrent edit was lost"
    copies = [k for k in final if "conflicted copy" in k]
    assert copies, "concurrent edits of one file must leave conflict copies"
    for client in clients:
        for n in range(ROUNDS):
            assert final[f"{client.name}/notes-{n}.md"] == f"round {n} by {client.name}".encode()
