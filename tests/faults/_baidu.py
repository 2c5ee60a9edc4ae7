"""Clients on `baidu:` whose PCS layer is observable: a retry policy with short waits (same logic as
the defaults), every back-off pause recorded, every throttle kept for inspection."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pansync.remote.baidu import BaiduRemote
from pansync.remote.base import Remote
from pansync.remote.pcs import RetryPolicy
from tests.e2e.harness import Client

__all__ = ["FAST", "Observed", "make_folder", "observed_client"]

FAST = RetryPolicy(
    attempts=8, wait_base_s=0.02, wait_max_s=0.2, cooldown_s=0.5, connect_timeout_s=5, read_timeout_s=30
)
"""The default policy's logic with waits shrunk, so injected faults cost milliseconds."""

ROOT = "/apps/bypy/pansync-test"


@dataclass
class Observed:
    """What the PCS layers of one client's syncs did."""

    remotes: list[BaiduRemote] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)
    """Back-off pauses between retries, in seconds, in the order taken."""

    @property
    def penalties(self) -> int:
        """How often the service's rate limit made the client lower its concurrency."""
        return sum(r.client.throttle.penalties for r in self.remotes)

    def close(self) -> None:
        for remote in self.remotes:
            remote.close()


def observed_client(
    make_client: Callable[..., Client],
    name: str,
    fake_baidu: Any,
    *,
    policy: RetryPolicy = FAST,
    wrap: Callable[[Remote], Remote] | None = None,
    extra_config: str = "",
) -> tuple[Client, Observed]:
    """A client whose every sync talks to fakepcs through a `BaiduRemote` with `policy`."""
    observed = Observed()
    holder: list[Client] = []

    def sleep(seconds: float) -> None:
        observed.pauses.append(seconds)
        time.sleep(seconds)

    def rebuild(opened: Remote) -> Remote:
        if isinstance(opened, BaiduRemote):
            opened.close()
        remote = BaiduRemote(
            ROOT, state_dir=holder[0].home / "state", endpoint=fake_baidu.url, retry=policy, concurrency=4
        )
        remote.client._sleep = sleep  # the PCS client's back-off seam
        observed.remotes.append(remote)
        return wrap(remote) if wrap is not None else remote

    client = make_client(name, wrap_remote=rebuild, extra_config=extra_config)
    holder.append(client)
    return client, observed


def make_folder(root: Path, *, small: int = 200, big: int = 3, seed: int = 7) -> dict[str, bytes]:
    """`small` files of 0-3 KB in ten folders and `big` ones of 1-3 MiB: what the fault tests sync."""
    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    for i in range(small):
        files[f"d{i % 10}/f{i:03}.txt"] = rng.randbytes(rng.randint(0, 3000))
    for i in range(big):
        files[f"media/m{i}.bin"] = rng.randbytes((i + 1) * 1024 * 1024 + i)
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files
