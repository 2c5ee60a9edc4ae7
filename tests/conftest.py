"""Test-wide set-up: nothing a test does may reach the real user's folders."""

from __future__ import annotations

import os
import tempfile

_SANDBOX = tempfile.mkdtemp(prefix="pansync-tests-")
# send2trash reads XDG_DATA_HOME once, at import: point the "system trash" into the sandbox first.
os.environ["XDG_DATA_HOME"] = os.path.join(_SANDBOX, "xdg-data")
os.environ.setdefault("PANSYNC_HOME", os.path.join(_SANDBOX, "home"))

from collections.abc import Callable  # noqa: E402 - after the sandbox is in place
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.e2e.harness import Client  # noqa: E402


@pytest.fixture
def cloud(tmp_path: Path) -> Path:
    path = tmp_path / "cloud"
    path.mkdir()
    return path


@pytest.fixture
def make_client(tmp_path: Path, cloud: Path) -> Callable[..., Client]:
    def make(name: str, **kwargs: object) -> Client:
        return Client(tmp_path, name, cloud.as_uri(), **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def alice(make_client: Callable[..., Client]) -> Client:
    return make_client("alice")


@pytest.fixture
def bob(make_client: Callable[..., Client]) -> Client:
    return make_client("bob")
