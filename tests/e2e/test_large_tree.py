"""A 10,000-file tree from the shared seeded generator: two clients converge, and a no-op sync
changes nothing and hashes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import Client, snapshot

MKTREE = Path(__file__).resolve().parents[3] / "shared" / "bench" / "mktree.py"


@pytest.mark.slow
@pytest.mark.skipif(not MKTREE.exists(), reason="../shared/bench/mktree.py is not beside the repo")
def test_ten_thousand_files(alice: Client, bob: Client, cloud: Path) -> None:
    subprocess.run(
        [sys.executable, str(MKTREE), str(alice.root), "--files", "10000", "--seed", "7", "--big-mib", "8"],
        check=True,
        capture_output=True,
    )
    first = alice.sync()
    assert not first.failed and first.converged
    again = alice.sync()
    assert not again.done
    second = bob.sync()
    assert not second.failed
    assert snapshot(bob.root) == snapshot(cloud) == snapshot(alice.root)
    subprocess.run(
        [sys.executable, str(MKTREE), str(alice.root), "--mutate", "100", "--seed", "8"],
        check=True,
        capture_output=True,
    )
    changed = alice.sync()
    assert not changed.failed
    bob.sync()
    assert snapshot(bob.root) == snapshot(alice.root)
