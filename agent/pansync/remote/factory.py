"""Builds the right `Remote` for a folder's `remote:` address. Only here do backends get chosen."""

from __future__ import annotations

import os
from pathlib import Path

from pansync.config import Config, RemoteSpec
from pansync.errors import ConfigError
from pansync.paths import Locations
from pansync.remote.base import Remote
from pansync.remote.local import LocalRemote

__all__ = ["open_remote"]


def open_remote(spec: RemoteSpec, config: Config, locs: Locations) -> Remote:
    if spec.scheme == "file":
        return LocalRemote(Path(spec.path))
    try:
        from pansync.remote.baidu import BaiduRemote
    except ImportError as exc:  # pragma: no cover - the backend ships with the package
        raise ConfigError(f"the Baidu backend cannot be loaded: {exc}") from exc
    endpoint = config.baidu.endpoint or os.environ.get("PANSYNC_BAIDU_ENDPOINT") or None
    return BaiduRemote(  # type: ignore[no-any-return, unused-ignore]
        spec.path,
        state_dir=locs.state_dir,
        endpoint=endpoint,
        concurrency=config.transfer.concurrency,
        download_concurrency=config.transfer.download_concurrency,
    )
