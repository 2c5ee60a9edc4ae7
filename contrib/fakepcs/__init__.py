"""fakepcs: an offline emulator of Baidu Netdisk's PCS REST API (see README.md)."""

from __future__ import annotations

from .config import Policy
from .errors import ERRORS, PcsError
from .faults import FaultSettings
from .server import DEFAULT_REFRESH, DEFAULT_TOKEN, FakePCS

__all__ = ["DEFAULT_REFRESH", "DEFAULT_TOKEN", "ERRORS", "FakePCS", "FaultSettings", "PcsError", "Policy"]
