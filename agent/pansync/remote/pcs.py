"""`pcs`: the thin HTTP client of Baidu's PCS REST API (`/rest/2.0/pcs/...`).

Job: send one PCS call and give back its JSON, or raise one of PanSync's errors. It owns what every
call shares: the endpoints (real hosts, or one override for fakepcs and proxies), a pooled
`requests` session, the access token (renewed once on 110/111/6/31024/-6 through a `TokenSource`,
i.e. bypy), retries with exponential back-off and jitter on 5xx, resets, timeouts and 31034, and the
`Throttle` that 31034 lowers for a while. Permanent errors are never retried.

Limit: knows PCS's wire format and error codes, nothing of files, names or trees (`baidu` and its
helpers do). Tokens never appear in its messages or logs: the query string that carries them is
scrubbed from every error text.
"""

from __future__ import annotations

import email.utils
import ipaddress
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests
from msgspec import Struct
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from pansync.errors import AuthError, RemoteError, TransientRemoteError
from pansync.log import get_logger, redact_text
from pansync.remote.throttle import Throttle

__all__ = [
    "AUTH_CODES",
    "ENV_ENDPOINT",
    "REAL_ENDPOINTS",
    "Endpoints",
    "PcsApiError",
    "PcsClient",
    "PcsTransient",
    "RetryPolicy",
    "TokenSource",
]

_log = get_logger(__name__)
T = TypeVar("T")
Params = Mapping[str, str] | Callable[[bool], Mapping[str, str]]

PCS_PATH = "/rest/2.0/pcs/"
ENV_ENDPOINT = "PANSYNC_BAIDU_ENDPOINT"
"""Environment override of the endpoint, used when the constructor is given none."""

AUTH_CODES = frozenset({110, 111, 6, 31024, -6})
"""Token invalid, expired, no permission, app id empty, xpan's "authentication failed": renew once."""
RATE_CODES = frozenset({31034, 31326})
""""hit frequence control" and "anti hotlinking": slow down, then retry."""


class Endpoints(Struct, frozen=True):
    """Base URLs (scheme://host[:port][/prefix]) of the four services PCS clients talk to."""

    pcs: str
    upload: str
    download: str
    oauth: str

    @classmethod
    def resolve(cls, override: str | None, env: Mapping[str, str] = os.environ) -> Endpoints:
        """The explicit override, else `$PANSYNC_BAIDU_ENDPOINT`, else Baidu's real hosts."""
        base = (override or env.get(ENV_ENDPOINT, "")).strip().rstrip("/")
        if not base:
            return REAL_ENDPOINTS
        return cls(base, base, base, base)

    def rewrite(self, url: str) -> str:
        """Send a URL that names a real Baidu host (as bypy builds them) to our endpoint instead."""
        parts = urlsplit(url)
        base = {
            "pcs.baidu.com": self.pcs,
            "c.pcs.baidu.com": self.upload,
            "d.pcs.baidu.com": self.download,
            "openapi.baidu.com": self.oauth,
        }.get(parts.hostname or "")
        if base is None:
            return url
        return base + parts.path + ("?" + parts.query if parts.query else "")

    @property
    def is_loopback(self) -> bool:
        """True for a local test server: then proxies from the environment are ignored."""
        host = urlsplit(self.pcs).hostname or ""
        try:
            return host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


REAL_ENDPOINTS = Endpoints(
    pcs="https://pcs.baidu.com",
    upload="https://c.pcs.baidu.com",
    download="https://d.pcs.baidu.com",
    oauth="https://openapi.baidu.com",
)


class RetryPolicy(Struct, frozen=True):
    """How hard to try before giving up; tests shrink the waits."""

    attempts: int = 6
    """Tries per call for transient failures (5xx, resets, timeouts, 31034)."""
    wait_base_s: float = 0.5
    """Back-off multiplier: waits are random in [0, base * 2**n], capped by `wait_max_s`."""
    wait_max_s: float = 30.0
    cooldown_s: float = 60.0
    """How long concurrency stays lowered after a 31034."""
    connect_timeout_s: float = 15.0
    read_timeout_s: float = 120.0


class TokenSource(Protocol):
    """Where the access token comes from and how it is renewed (bypy, through `pansync.auth`)."""

    def current(self) -> str: ...

    def refresh(self, stale: str) -> None:
        """Renew unless `stale` is no longer current; raise `AuthError` when Baidu refuses."""
        ...


class PcsApiError(RemoteError):
    """PCS answered with an error code that retrying will not change (31061, 31066, ...)."""

    def __init__(self, message: str, *, code: int, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.maybe_done = False
        """True when an earlier attempt of the same call may have run on the server (its reply was
        lost), so e.g. "already exists" may be our own doing."""


class PcsTransient(TransientRemoteError):
    """A failure worth retrying; `ambiguous` when the server may have done the work anyway."""

    def __init__(self, message: str, *, ambiguous: bool, code: int = 0) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous
        self.code = code


class _AuthRejected(Exception):
    """The token was refused (110/111/...); the caller renews it once."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _scrub(text: str) -> str:
    return redact_text(text)[:300]


class PcsClient:
    """One pooled session to PCS, shared by every thread of a `BaiduRemote`."""

    def __init__(
        self,
        endpoints: Endpoints,
        tokens: TokenSource,
        *,
        concurrency: int = 4,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoints = endpoints
        self.tokens = tokens
        self.policy = policy or RetryPolicy()
        self.throttle = Throttle(concurrency, cooldown_s=self.policy.cooldown_s)
        self._sleep = sleep
        self.session = requests.Session()
        self.session.trust_env = not endpoints.is_loopback
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(8, 2 * concurrency + 2), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "pansync"

    def close(self) -> None:
        self.session.close()

    def url(self, host: str, route: str = "file") -> str:
        return host + PCS_PATH + route

    # -- public calls -------------------------------------------------------------------------------

    def call(
        self,
        verb: str,
        params: Params,
        *,
        host: str | None = None,
        route: str = "file",
        body: Callable[[], tuple[Any, str]] | None = None,
    ) -> dict[str, Any]:
        """One PCS call with a JSON reply. `body` makes a fresh (data, content type) per attempt."""
        return self.call_with_headers(verb, params, host=host, route=route, body=body)[0]

    def call_with_headers(
        self,
        verb: str,
        params: Params,
        *,
        host: str | None = None,
        route: str = "file",
        body: Callable[[], tuple[Any, str]] | None = None,
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        """As `call`, also returning the reply's headers (for the server's `Date`).

        `params` may be a function of "an earlier attempt may have run": non-idempotent calls use
        it to switch e.g. `ondup=newcopy` to `overwrite` once their own first attempt got lost.
        """
        url = self.url(host or self.endpoints.pcs, route)
        method = (params(False) if callable(params) else params).get("method", route)

        def once(token: str, after_loss: bool) -> tuple[dict[str, Any], Mapping[str, str]]:
            query = params(after_loss) if callable(params) else params
            data, ctype = body() if body is not None else (None, "")
            headers = {"Content-Type": ctype} if ctype else None
            resp = self._send(verb, url, query, token, data=data, headers=headers)
            return self._json(resp, method), resp.headers

        return self._retrying(method, once)

    def open_download(self, params: Mapping[str, str], headers: Mapping[str, str]) -> requests.Response:
        """A streamed download reply (200, 206 or 416), body unread; errors mapped as for `call`."""
        url = self.url(self.endpoints.download)

        def once(token: str, after_loss: bool) -> requests.Response:
            resp = self._send("GET", url, params, token, headers=dict(headers), stream=True)
            ctype = resp.headers.get("Content-Type", "")
            if resp.status_code == 416 or (resp.status_code in (200, 206) and "json" not in ctype):
                return resp
            try:
                self._json(resp, "download")  # raises for an error body
            finally:
                resp.close()
            return resp  # a JSON file's bytes (content already read and cached)

        return self._retrying("download", once)

    # -- machinery ----------------------------------------------------------------------------------

    def _retrying(self, what: str, fn: Callable[[str, bool], T]) -> T:
        ambiguous = False

        def attempt() -> T:
            nonlocal ambiguous
            try:
                return self._with_token(fn, ambiguous)
            except PcsTransient as exc:
                ambiguous = ambiguous or exc.ambiguous
                _log.info("pcs.retry", method=what, error=exc.message)
                raise
            except PcsApiError as exc:
                exc.maybe_done = ambiguous
                raise

        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.policy.attempts)),
            wait=wait_random_exponential(multiplier=self.policy.wait_base_s, max=self.policy.wait_max_s),
            retry=retry_if_exception_type(TransientRemoteError),
            reraise=True,
            sleep=self._sleep,
        )
        try:
            return retrying(attempt)
        except PcsTransient as exc:
            raise PcsTransient(
                f"{exc.message} (gave up after {self.policy.attempts} tries)",
                ambiguous=ambiguous,
                code=exc.code,
            ) from None

    def _with_token(self, fn: Callable[[str, bool], T], after_loss: bool) -> T:
        token = self.tokens.current()
        try:
            return fn(token, after_loss)
        except _AuthRejected:
            pass
        self.tokens.refresh(token)
        try:
            return fn(self.tokens.current(), after_loss)
        except _AuthRejected as exc:
            raise AuthError(
                f"Baidu refused the access token even after renewing it (error {exc.code}); "
                "run `pansync auth` again"
            ) from None

    def _send(
        self,
        verb: str,
        url: str,
        params: Mapping[str, str],
        token: str,
        *,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        query = dict(params)
        query["access_token"] = token
        timeout = (self.policy.connect_timeout_s, self.policy.read_timeout_s)
        with self.throttle.slot():
            try:
                resp = self.session.request(
                    verb, url, params=query, data=data, headers=headers, timeout=timeout, stream=stream
                )
                if not stream:
                    _ = resp.content  # read the whole (small) reply while holding the slot
            except (requests.exceptions.ConnectTimeout, requests.exceptions.InvalidURL) as exc:
                raise PcsTransient(f"cannot reach Baidu: {_scrub(str(exc))}", ambiguous=False) from None
            except requests.exceptions.ConnectionError as exc:
                sent = "NewConnectionError" not in repr(exc) and "NameResolution" not in repr(exc)
                raise PcsTransient(
                    f"connection to Baidu failed: {_scrub(str(exc))}", ambiguous=sent
                ) from None
            except (requests.RequestException, OSError) as exc:
                raise PcsTransient(f"request to Baidu failed: {_scrub(str(exc))}", ambiguous=True) from None
        return resp

    def _json(self, resp: requests.Response, method: str) -> dict[str, Any]:
        status = resp.status_code
        try:
            data = resp.json() if resp.content else None
        except ValueError:
            data = None
        if isinstance(data, dict):
            code = data.get("error_code", data.get("errno", 0))
            if isinstance(code, int | str) and str(code).lstrip("-").isdigit() and int(code) != 0:
                self._raise_code(int(code), status, data, method)
            if "error" in data and status >= 400:  # an OAuth-style error on a PCS route
                raise PcsApiError(
                    f"Baidu refused {method}: {_scrub(str(data.get('error')))}", code=status, status=status
                )
            if data.get("error_code") == 0 and data.get("error_msg") == "no error":
                raise PcsTransient(f"Baidu answered {method} with an empty success", ambiguous=True)
            if 200 <= status < 300:
                return data
        if status == 413:
            raise PcsApiError("the file is too large for a single upload (HTTP 413)", code=413, status=413)
        if status >= 500 or 200 <= status < 300:  # nginx error pages, HTML where JSON was due
            raise PcsTransient(
                f"Baidu answered {method} with HTTP {status} and no usable JSON", ambiguous=True
            )
        raise PcsApiError(f"Baidu answered {method} with HTTP {status}", code=status, status=status)

    def _raise_code(self, code: int, status: int, data: Mapping[str, Any], method: str) -> None:
        text = _scrub(str(data.get("error_msg") or data.get("errmsg") or ""))
        if code in AUTH_CODES:
            raise _AuthRejected(code)
        if code in RATE_CODES or (code == 4 and method == "download"):
            self.throttle.penalize()
            _log.warning("pcs.rate_limited", method=method, code=code, limit=self.throttle.limit)
            raise PcsTransient(f"Baidu asked to slow down ({code} {text})", ambiguous=False, code=code)
        if status >= 500:
            raise PcsTransient(f"Baidu failed {method} ({code} {text})", ambiguous=True, code=code)
        raise PcsApiError(f"Baidu refused {method}: {code} {text}".rstrip(), code=code, status=status)


def date_header_ns(headers: Mapping[str, str]) -> int | None:
    """The HTTP `Date` header as ns since the epoch (whole seconds), or None when absent or odd."""
    raw = headers.get("Date")
    if not raw:
        return None
    try:
        return int(email.utils.parsedate_to_datetime(raw).timestamp()) * 1_000_000_000
    except (TypeError, ValueError):
        return None
