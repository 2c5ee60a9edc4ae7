"""Fault injection: one-shot armed faults and seeded random error rates.

Kinds applied before the operation runs (``pre``): ``31034`` (rate limit),
``error`` (any error_code), ``5xx`` (nginx HTML page), ``html200`` (HTML with
200) and ``reset_request`` (RST while the request body arrives). Kinds applied
to the reply body (``body``): ``reset`` (RST mid-body, after the operation ran)
and ``truncate`` (download bodies only: fewer bytes than the Range asked for).
"""

from __future__ import annotations

import dataclasses
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from .config import update_dataclass

PRE_KINDS = frozenset({"31034", "error", "5xx", "html200", "reset_request"})
BODY_KINDS = frozenset({"reset", "truncate"})
KINDS = PRE_KINDS | BODY_KINDS


@dataclass
class Armed:
    """A fault that fires for the next ``remaining`` matching requests."""

    kind: str
    remaining: int = 1
    methods: list[str] | None = None
    status: int | None = None
    code: int | None = None

    def matches(self, key: str) -> bool:
        """``upload`` matches ``upload.tmpfile`` too; ``*`` or None match all."""
        if not self.methods or "*" in self.methods:
            return True
        return key in self.methods or key.split(".")[0] in self.methods


@dataclass
class FaultSettings:
    """Persistent switches (see README for each)."""

    seed: int = 0
    error_rate: dict[str, float] = field(default_factory=dict)
    error_kind: str = "31034"
    error_code: int = 31034  # used when error_kind == "error"
    latency: float = 0.0
    bandwidth_up: int = 0
    bandwidth_down: int = 0
    rapidupload_31023: bool = False
    rate_limit_status: int = 400
    error_status: int = 502


class Faults:
    """Decides, per request, whether and how to misbehave."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.lock = threading.Lock()
        self.settings = settings or FaultSettings()
        self.rng = random.Random(self.settings.seed)
        self.armed: list[Armed] = []

    def configure(self, values: dict[str, Any]) -> None:
        """Merge settings; extras: ``bandwidth`` (both ways), ``rate_limit_next`` (N
        requests of 31034), ``fail_next`` (one dict or a list of dicts for :meth:`arm`)."""
        values = dict(values)
        with self.lock:
            if "bandwidth" in values:
                bw = int(values.pop("bandwidth") or 0)
                values.setdefault("bandwidth_up", bw)
                values.setdefault("bandwidth_down", bw)
            burst = values.pop("rate_limit_next", None)
            arms = values.pop("fail_next", None)
            update_dataclass(self.settings, values)
            if self.settings.error_kind not in KINDS:
                raise ValueError(f"unknown error_kind {self.settings.error_kind!r}")
            if "seed" in values:
                self.rng.seed(self.settings.seed)
        if burst:
            self.arm("31034", int(burst))
        if arms:
            for a in arms if isinstance(arms, list) else [arms]:
                self.arm(**a)

    def arm(
        self,
        kind: str,
        count: int = 1,
        methods: list[str] | str | None = None,
        status: int | None = None,
        code: int | None = None,
    ) -> None:
        """Fire ``kind`` on the next ``count`` requests matching ``methods``."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(KINDS)}")
        if isinstance(methods, str):
            methods = [methods]
        with self.lock:
            self.armed.append(Armed(kind, int(count), methods, status, code))

    def clear(self) -> None:
        """Back to a well-behaved server (settings and armed faults)."""
        with self.lock:
            self.settings = FaultSettings()
            self.rng.seed(0)
            self.armed.clear()

    def take(self, key: str, phase: str, is_file: bool = False) -> Armed | None:
        """The fault for this request in this phase, consuming it, or None."""
        kinds = PRE_KINDS if phase == "pre" else BODY_KINDS
        with self.lock:
            for a in self.armed:
                if a.kind in kinds and a.matches(key) and (a.kind != "truncate" or is_file):
                    a.remaining -= 1
                    if a.remaining <= 0:
                        self.armed.remove(a)
                    return Armed(a.kind, 1, a.methods, a.status, a.code)
            s = self.settings
            if s.error_kind not in kinds or (s.error_kind == "truncate" and not is_file):
                return None
            rate = s.error_rate.get(key, s.error_rate.get(key.split(".")[0], s.error_rate.get("*", 0.0)))
            if rate > 0 and self.rng.random() < rate:
                return Armed(s.error_kind, 1, None, None, s.error_code)
        return None

    def snapshot(self) -> dict[str, Any]:
        """Settings and armed faults as JSON-able data."""
        with self.lock:
            return {
                "settings": dataclasses.asdict(self.settings),
                "armed": [dataclasses.asdict(a) for a in self.armed],
            }
