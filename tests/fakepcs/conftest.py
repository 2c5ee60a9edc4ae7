"""Fixtures for the fakepcs tests: a running server, a direct HTTP client, bypy."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
if str(CONTRIB) not in sys.path:
    sys.path.insert(0, str(CONTRIB))

from fakepcs.testing import fakepcs_fixture, make_bypy  # noqa: E402

from fakepcs import FakePCS  # noqa: E402

fakepcs = fakepcs_fixture()


class Pcs:
    """Direct HTTP access to a fakepcs server, the way a PCS client calls it."""

    def __init__(self, server: FakePCS) -> None:
        self.server = server
        self.http = requests.Session()
        self.http.trust_env = False  # never send 127.0.0.1 through a proxy

    def close(self) -> None:
        self.http.close()

    def url(self, route: str = "file") -> str:
        return f"{self.server.url}/rest/2.0/pcs/{route}"

    def call(
        self,
        method: str,
        verb: str = "GET",
        route: str = "file",
        token: str | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
        files: Any = None,
        stream: bool = False,
        **params: Any,
    ) -> requests.Response:
        q = {"method": method, **params}
        q["access_token"] = self.server.token if token is None else token
        return self.http.request(
            verb,
            self.url(route),
            params=q,
            headers=headers,
            data=data,
            files=files,
            stream=stream,
            timeout=30,
        )

    def upload(self, path: str, data: bytes, **params: Any) -> requests.Response:
        return self.call("upload", "POST", path=path, files={"file": ("file", data)}, **params)

    def tmpfile(self, data: bytes) -> requests.Response:
        return self.call("upload", "POST", type="tmpfile", files={"file": ("file", data)})

    def list(self, path: str, **params: Any) -> requests.Response:
        return self.call("list", path=path, **params)


@pytest.fixture
def pcs(fakepcs: FakePCS) -> Any:
    client = Pcs(fakepcs)
    yield client
    client.close()


@pytest.fixture
def bypy_factory(fakepcs: FakePCS, tmp_path: Path) -> Callable[..., Any]:
    """``bypy_factory(**ByPy kwargs)`` -> a ByPy pointed at the fixture server."""
    counter = iter(range(1000))

    def make(**kwargs: Any) -> Any:
        return make_bypy(fakepcs, tmp_path / f"bypycfg{next(counter)}", **kwargs)

    return make


@pytest.fixture
def bypy(bypy_factory: Callable[..., Any]) -> Any:
    return bypy_factory()
