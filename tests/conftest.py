"""Test-wide set-up: nothing a test does may reach the real user's folders."""

from __future__ import annotations

import os
import tempfile

_SANDBOX = tempfile.mkdtemp(prefix="pansync-tests-")
# send2trash reads XDG_DATA_HOME once, at import: point the "system trash" into the sandbox first.
os.environ["XDG_DATA_HOME"] = os.path.join(_SANDBOX, "xdg-data")
os.environ.setdefault("PANSYNC_HOME", os.path.join(_SANDBOX, "home"))

import sys  # noqa: E402 - after the sandbox is in place
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from tests.e2e.harness import Client  # noqa: E402


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules that set `REMOTES = ["file", "baidu"]` run each test on every listed backend."""
    if "remote_kind" in metafunc.fixturenames:
        kinds = getattr(metafunc.module, "REMOTES", ["file"])
        metafunc.parametrize("remote_kind", kinds, indirect=True)


@pytest.fixture
def remote_kind(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "file"))


@pytest.fixture
def fake_baidu(remote_kind: str, tmp_path: Path) -> Iterator[Any]:
    """A fakepcs server over real HTTP when the test runs on `baidu:`; None for `file://`."""
    if remote_kind != "baidu":
        yield None
        return
    contrib = str(Path(__file__).resolve().parents[1] / "contrib")
    if contrib not in sys.path:
        sys.path.insert(0, contrib)
    from fakepcs.testing import start_server

    server = start_server(tmp_path / "fakepcs")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cloud(tmp_path: Path, remote_kind: str, fake_baidu: Any) -> Path:
    """The cloud folder as a directory a test can look into (fakepcs keeps files in a real one)."""
    if fake_baidu is not None:
        path = tmp_path / "fakepcs" / "apps" / "bypy" / "pansync-test"
        return path
    path = tmp_path / "cloud"
    path.mkdir()
    return path


@pytest.fixture
def make_client(tmp_path: Path, cloud: Path, fake_baidu: Any) -> Callable[..., Client]:
    def make(name: str, **kwargs: Any) -> Client:
        if fake_baidu is None:
            return Client(tmp_path, name, cloud.as_uri(), **kwargs)
        from pansync.auth import store_tokens

        client = Client(tmp_path, name, "baidu:/apps/bypy/pansync-test", **kwargs)
        client.env["PANSYNC_BAIDU_ENDPOINT"] = fake_baidu.url
        store_tokens(client.home / "state", fake_baidu.token, fake_baidu.refresh_token)
        return client

    return make


@pytest.fixture
def cloud_remote(cloud: Path, fake_baidu: Any, tmp_path: Path) -> Iterator[Any]:
    """The cloud as a `Remote`, for tests that change it behind PanSync's back (as a web app would)."""
    if fake_baidu is None:
        from pansync.remote.local import LocalRemote

        yield LocalRemote(cloud)
        return
    from pansync.auth import store_tokens
    from pansync.remote.baidu import BaiduRemote

    state = tmp_path / "web-app-state"
    store_tokens(state, fake_baidu.token, fake_baidu.refresh_token)
    remote = BaiduRemote("/apps/bypy/pansync-test", state_dir=state, endpoint=fake_baidu.url)
    try:
        yield remote
    finally:
        remote.close()


def file_only(remote_kind: str, why: str) -> None:
    if remote_kind != "file":
        pytest.skip(why)


@pytest.fixture
def alice(make_client: Callable[..., Client]) -> Client:
    return make_client("alice")


@pytest.fixture
def bob(make_client: Callable[..., Client]) -> Client:
    return make_client("bob")
