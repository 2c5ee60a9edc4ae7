"""The fault tests' stand-in remotes: every call goes to the real remote except the few a test
overrides to fail, lag or take notes."""

from __future__ import annotations

from pansync.remote.base import Remote


class RemoteWrapper:
    def __init__(self, inner: Remote) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)
