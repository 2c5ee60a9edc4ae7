from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.harness import Client


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
