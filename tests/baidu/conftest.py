"""Fixtures for the Baidu backend tests: a fakepcs server over real HTTP and remotes pointed at it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
if str(CONTRIB) not in sys.path:
    sys.path.insert(0, str(CONTRIB))

from fakepcs.testing import fakepcs_fixture  # noqa: E402

from fakepcs import FakePCS  # noqa: E402
from pansync.auth import store_tokens  # noqa: E402
from pansync.remote.baidu import BaiduRemote  # noqa: E402
from pansync.remote.pcs import RetryPolicy  # noqa: E402

fakepcs = fakepcs_fixture()

FAST = RetryPolicy(
    attempts=8, wait_base_s=0.01, wait_max_s=0.1, cooldown_s=0.3, connect_timeout_s=5, read_timeout_s=30
)
"""Same logic as the defaults, with waits shrunk so injected faults cost milliseconds."""

ROOT = "/apps/bypy/docs"

MakeRemote = Callable[..., BaiduRemote]


@pytest.fixture
def state_dir(tmp_path: Path, fakepcs: FakePCS) -> Path:
    state = tmp_path / "state"
    store_tokens(state, fakepcs.token, fakepcs.refresh_token)
    return state


@pytest.fixture
def make_remote(fakepcs: FakePCS, state_dir: Path) -> Iterator[MakeRemote]:
    made: list[BaiduRemote] = []

    def make(root: str = ROOT, **kwargs: Any) -> BaiduRemote:
        kwargs.setdefault("retry", FAST)
        kwargs.setdefault("state_dir", state_dir)
        remote = BaiduRemote(root, endpoint=fakepcs.url, **kwargs)
        made.append(remote)
        return remote

    yield make
    for remote in made:
        remote.close()


@pytest.fixture
def remote(make_remote: MakeRemote) -> BaiduRemote:
    made = make_remote()
    made.ensure_root()
    return made


def cloud(path: str = "") -> str:
    """The absolute cloud path of a path below the test root."""
    return f"{ROOT}/{path}" if path else ROOT
