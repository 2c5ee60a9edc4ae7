"""Behaviour settings of the emulated service (not faults).

These are choices where Baidu's behaviour is configurable in the emulator,
either because reports disagree or because tests want another variant. Fault
injection lives in :mod:`fakepcs.faults`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

GIB = 1024**3


@dataclass
class Policy:
    """Server behaviour knobs; every field can be set at start and via admin."""

    app_dir: str = "/apps/bypy"
    quota: int = 2 * 1024 * GIB  # 2 TiB, the figure of §1.5's example
    superfile_md5: str = "baidu"  # "baidu" | "enc" | "plain", see encmd5.superfile_md5
    download_redirect: bool = True  # 302 to /file/<id>, like d.pcs -> CDN (§3.6)
    delete_missing: str = "error"  # "error" -> 31066, "ok" -> {request_id} [inference]
    max_single_upload: int = 2 * GIB  # [pcs-doc]; larger -> nginx 413 (issue #739)
    block_ttl: float | None = None  # seconds a tmpfile block lives; None = forever
    max_path_len: int = 1000  # [pcs-doc], counted in characters [inference]
    reject_emoji: bool = False  # [3p] "emoji not supported"; off by default
    list_max: int = 1000  # entries per list call (issue #285)
    diff_page: int = 1000  # entries per diff reply [inference]
    diff_lag: float = 0.0  # seconds before a change shows in diff ("a few seconds")
    recycle_days: float = 10.0  # [pcs-doc]
    token_ttl: float | None = None  # access-token lifetime; None = until expired by hand
    expired_status: int = 401  # HTTP status of 111; 200 is the other variant (§1.3)


def update_dataclass(obj: Any, values: dict[str, Any]) -> None:
    """Set known fields from a dict, coercing simple types; unknown keys raise."""
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for name, value in values.items():
        if name not in fields:
            raise KeyError(f"unknown setting {name!r}")
        current = getattr(obj, name)
        if isinstance(current, bool) and not isinstance(value, bool):
            value = str(value).lower() in ("1", "true", "yes", "on")
        elif isinstance(current, int) and not isinstance(current, bool) and value is not None:
            value = int(value)
        elif isinstance(current, float) and value is not None:
            value = float(value)
        setattr(obj, name, value)
