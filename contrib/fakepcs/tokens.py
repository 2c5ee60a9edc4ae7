"""Access/refresh tokens with Baidu's rotation rules (baidu-pcs.md §4).

Each refresh issues a new access token *and* a new refresh token; the refresh
token just used dies, so reusing it (a second process sharing bypy.json) gets
``invalid_grant``. Superseded or expired access tokens answer 111, unknown ones
110.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from .errors import OAuthError, PcsError

EXPIRES_IN = 2592000  # 30 days, as bypy.json files show (§4)
REFRESH_LIFETIME = 315360000  # 10 years (issue #245) [inference]


class Tokens:
    """Current token pair plus the history needed to classify stale tokens."""

    def __init__(
        self, access: str, refresh: str, *, ttl: float | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.ttl = ttl
        self.access = access
        self.refresh_token = refresh
        self.issued = clock()
        self.expired = False
        self.retired_access: set[str] = set()
        self.used_refresh: set[str] = set()
        self.refreshes = 0

    def check(self, token: str | None, expired_status: int = 401) -> None:
        """Accept the current token or raise 110/111 (§1.3 table)."""
        with self.lock:
            if token and token == self.access:
                too_old = self.ttl is not None and self.clock() - self.issued > self.ttl
                if not (self.expired or too_old):
                    return
                raise PcsError(111, status=expired_status)
            if token and token in self.retired_access:
                raise PcsError(111, status=expired_status)
            raise PcsError(110)

    def expire(self) -> None:
        """Make the current access token answer 111 until the next refresh."""
        with self.lock:
            self.expired = True

    def _new_pair(self) -> dict[str, Any]:
        now = int(self.clock())
        self.retired_access.add(self.access)
        self.access = f"121.{secrets.token_hex(16)}.{EXPIRES_IN}.{now + EXPIRES_IN}.0-fakepcs"
        self.refresh_token = f"122.{secrets.token_hex(16)}.{REFRESH_LIFETIME}.0-fakepcs"
        self.issued = self.clock()
        self.expired = False
        self.refreshes += 1
        return {
            "access_token": self.access,
            "refresh_token": self.refresh_token,
            "expires_in": EXPIRES_IN,
            "scope": "basic netdisk",
            "session_key": "",
            "session_secret": "",
        }

    def grant(self, params: dict[str, str]) -> dict[str, Any]:
        """The ``/oauth/2.0/token`` endpoint.

        refresh_token: the current refresh token only, once. authorization_code:
        any code of 16+ characters is accepted [inference]. Errors use the OAuth
        shape; ``invalid_grant`` is what §4 saw, the description is [inference].
        """
        gt = params.get("grant_type", "")
        with self.lock:
            if gt == "refresh_token":
                rt = params.get("refresh_token", "")
                if not rt or rt != self.refresh_token:
                    raise OAuthError("invalid_grant", "Invalid refresh token")
                self.used_refresh.add(rt)
                return self._new_pair()
            if gt == "authorization_code":
                if len(params.get("code", "")) < 16:
                    raise OAuthError("invalid_grant", "Invalid authorization code")
                return self._new_pair()
            raise OAuthError("unsupported_grant_type", "The authorization grant type is not supported")

    def snapshot(self) -> dict[str, Any]:
        """Current tokens and state, for tests."""
        with self.lock:
            return {
                "access_token": self.access,
                "refresh_token": self.refresh_token,
                "expired": self.expired,
                "refreshes": self.refreshes,
            }

    def set(self, access: str | None = None, refresh: str | None = None) -> None:
        """Replace the current tokens (admin)."""
        with self.lock:
            if access is not None:
                self.access, self.expired, self.issued = access, False, self.clock()
            if refresh is not None:
                self.refresh_token = refresh
