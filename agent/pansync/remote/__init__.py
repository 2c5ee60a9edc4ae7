"""Remote backends behind one small protocol (`base.Remote`): `local` (file://) and `baidu` (bypy)."""

from __future__ import annotations

from pansync.remote.base import META_DIR, Remote, RemoteCaps, UploadResult, is_internal_name

__all__ = ["META_DIR", "Remote", "RemoteCaps", "UploadResult", "is_internal_name"]
