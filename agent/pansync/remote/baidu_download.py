"""`baidu_download`: reading a cloud file's bytes from an offset, whatever the network does.

Job: stream `method=download` (which d.pcs answers with a 302 to a CDN host; requests follows it
and keeps the `Range` header) into a sink, asking with `Range: bytes=<pos>-` from wherever the last
attempt stopped: a reset mid-body or a body shorter than its `Content-Range` promised (both happen
on Baidu) costs only the missing bytes. Attempts that move no byte are bounded by the retry policy;
attempts that make progress are not counted against it. Failures to open the stream were already
retried by `PcsClient` and end the download.

Limit: one stream per call; how many run at once is the caller's business (`BaiduRemote` keeps it
at `download_concurrency`, default 1, because Baidu slows accounts that open several).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import requests

from pansync.errors import RemoteError, TransientRemoteError
from pansync.log import get_logger, redact_text
from pansync.remote.pcs import PcsClient

__all__ = ["download_range"]

_log = get_logger(__name__)
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+)")
CHUNK = 1024 * 1024


def _total_of(resp: requests.Response, pos: int) -> tuple[int, int]:
    """(first byte this reply carries, total file size) from its headers."""
    match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", "") or "")
    if match:
        first = int(match.group(1)) if match.group(1) is not None else pos
        return first, int(match.group(3))
    length = resp.headers.get("Content-Length")
    if resp.status_code == 200 and length is not None and length.isdigit():
        return 0, int(length)  # the server ignored Range: the whole file follows
    raise TransientRemoteError("Baidu's download reply gave no size")


def download_range(
    client: PcsClient,
    abs_path: str,
    sink: Callable[[bytes], None],
    *,
    offset: int = 0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Feed the bytes of `abs_path` from `offset` to the end into `sink`; returns the bytes fed."""
    pos = offset
    idle_failures = 0
    policy = client.policy
    while True:
        # Always ranged: a 206's Content-Range tells the true size even when the body is cut short;
        # identity encoding keeps the bytes counted equal to the bytes of the file.
        headers = {"Range": f"bytes={pos}-", "Accept-Encoding": "identity"}
        start = pos
        writing = False
        try:
            resp = client.open_download({"method": "download", "path": abs_path}, headers)
            try:
                if resp.status_code == 416:
                    _, total = _total_of(resp, pos)
                    if pos >= total:
                        return pos - offset
                    raise RemoteError(f"Baidu refused the byte range from {pos} of {abs_path}")
                first, total = _total_of(resp, pos)
                skip = pos - first  # a 200 for a ranged request: drop what we already have
                for chunk in resp.iter_content(CHUNK):
                    if skip > 0:
                        cut = min(skip, len(chunk))
                        chunk, skip = chunk[cut:], skip - cut
                    if chunk:
                        writing = True
                        sink(chunk)
                        writing = False
                        pos += len(chunk)
            finally:
                resp.close()
            if pos >= total:
                return pos - offset
            _log.info("baidu.download_short", path=abs_path, got=pos - start, left=total - pos)
        except (requests.RequestException, OSError) as exc:
            if writing:
                raise  # the sink failed (a full local disk): no network retry can help
            _log.info("baidu.download_interrupted", path=abs_path, at=pos, error=redact_text(str(exc))[:200])
        idle_failures = 0 if pos > start else idle_failures + 1
        if idle_failures >= policy.attempts:
            raise TransientRemoteError(
                f"downloading {abs_path} keeps failing at byte {pos}; will retry later"
            )
        sleep(min(policy.wait_max_s, policy.wait_base_s * (2 ** max(0, idle_failures - 1))))
