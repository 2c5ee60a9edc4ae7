"""`baidu_listing`: what is in the cloud, completely or not at all, and whether it changed.

Job: the recursive listing (PCS has no recursive list: one paged `method=list` per folder, 1000
entries per page with the half-open `limit=n1-n2`, folders listed `workers` at a time, parents
always yielded before their children), the cheap change check through PCS `method=diff` (inferred:
documented in 2013, emulated by fakepcs, unverified on the live service), and the mapping of PCS
entries to `RemoteEntry`, including the one case where Baidu's listed md5 can be trusted.

Limit: any failure while listing raises `ListingError`: a partial tree is never returned
(bypy's `syncdown` deleted local files after a failed listing, baidu-pcs.md §3.5).
"""

from __future__ import annotations

import posixpath
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pansync.errors import AuthError, ListingError, PanSyncError, RemoteError
from pansync.model import Kind, RemoteEntry
from pansync.remote.base import META_DIR, is_internal_name
from pansync.remote.pcs import PcsApiError, PcsClient

__all__ = ["PAGE", "changes_since", "entry_of", "list_dir", "listed_md5", "walk"]

PAGE = 1000
"""Entries per `list` call: the service's cap (issue #285)."""
_HEX = "0123456789abcdef"


def _enc_to_plain(enc: str) -> str | None:
    """Baidu's obfuscated md5 (baidu-pcs.md §1.6) back to hex, or None if it is not that shape."""
    enc = enc.lower()
    if len(enc) != 32 or not ("g" <= enc[9] <= "v") or any(c not in _HEX for c in enc[:9] + enc[10:]):
        return None
    x = enc[:9] + _HEX[ord(enc[9]) - ord("g")] + enc[10:]
    r = "".join(_HEX[int(c, 16) ^ (i & 15)] for i, c in enumerate(x))
    return r[8:16] + r[0:8] + r[24:32] + r[16:24]


def listed_md5(item: dict[str, Any]) -> str:
    """The content MD5 when two independent fields agree on it, else "".

    The listed `md5` is enc-md5 of the content for single uploads but something else for sliced
    ones (issues #616, #681, #711); `block_list` holds plain MD5s of 4 MiB blocks. When the file is
    one block and the decoded md5 equals that block's MD5, both describe the same bytes.
    """
    blocks = item.get("block_list")
    plain = _enc_to_plain(str(item.get("md5") or ""))
    if plain is None or not isinstance(blocks, list) or len(blocks) != 1:
        return ""
    return plain if str(blocks[0]).lower() == plain else ""


def entry_of(rel_path: str, item: dict[str, Any]) -> RemoteEntry:
    """A PCS list/meta entry as a `RemoteEntry` named `rel_path` (the remote spelling)."""
    is_dir = bool(int(item.get("isdir", 0)))
    return RemoteEntry(
        name=rel_path,
        kind=Kind.DIR if is_dir else Kind.FILE,
        size=0 if is_dir else int(item.get("size", 0)),
        mtime_ns=int(item.get("mtime", 0)) * 1_000_000_000,
        remote_id=str(item["fs_id"]),
        md5="" if is_dir else listed_md5(item),
    )


def list_dir(client: PcsClient, abs_dir: str) -> list[dict[str, Any]]:
    """Every entry of one folder, page by page, without duplicates."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    start = 0
    while True:
        params = {"method": "list", "path": abs_dir, "by": "name", "order": "asc"}
        params["limit"] = f"{start}-{start + PAGE}"
        page = client.call("GET", params).get("list")
        if not isinstance(page, list):
            raise ListingError(f"Baidu's listing of {abs_dir} has no entries field")
        for item in page:
            if not isinstance(item, dict) or "fs_id" not in item or "path" not in item:
                raise ListingError(f"Baidu's listing of {abs_dir} holds a malformed entry")
            if str(item["fs_id"]) not in seen:
                seen.add(str(item["fs_id"]))
                out.append(item)
        if len(page) < PAGE:
            return out
        start += PAGE


def _name_of(item: dict[str, Any]) -> str:
    name = str(item.get("server_filename") or posixpath.basename(str(item["path"])))
    if not name or "/" in name or name in (".", ".."):
        raise ListingError(f"Baidu listed an entry with an impossible name: {name!r}")
    return name


def walk(
    client: PcsClient, abs_top: str, rel_top: str, *, workers: int
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(remote-relative path, PCS entry) for everything below `abs_top`, parents first."""
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="pansync-list")
    pending: deque[tuple[str, str, Future[list[dict[str, Any]]]]] = deque()
    pending.append((rel_top, abs_top, pool.submit(list_dir, client, abs_top)))
    try:
        while pending:
            rel_dir, abs_dir, fut = pending.popleft()
            try:
                items = fut.result()
            except PcsApiError as exc:
                if exc.code == 31066:
                    what = "the remote folder" if rel_dir == rel_top else "a folder"
                    raise ListingError(f"{what} {abs_dir} vanished or does not exist") from exc
                raise ListingError(f"cannot list {abs_dir}: {exc}") from exc
            except ListingError:
                raise
            except PanSyncError as exc:
                raise ListingError(f"cannot list {abs_dir}: {exc}") from exc
            except Exception as exc:  # a malformed reply: still never a partial listing
                raise ListingError(f"cannot list {abs_dir}: {type(exc).__name__}") from exc
            for item in sorted(items, key=_name_of):
                name = _name_of(item)
                if is_internal_name(name):
                    continue
                rel = f"{rel_dir}/{name}" if rel_dir else name
                yield rel, item
                if int(item.get("isdir", 0)):
                    child = str(item["path"])
                    pending.append((rel, child, pool.submit(list_dir, client, child)))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _relevant(root: str, path: str) -> bool:
    """A change the engine cares about: under the root, but not PanSync's own churn
    (temp files of transfers in flight, the lock and the client registry)."""
    low, top = path.lower(), root.lower()
    if low != top and not low.startswith(top + "/"):
        return False
    parts = path[len(root) + 1 :].split("/")
    if any(part.startswith(".pansync.tmp-") for part in parts):
        return False
    return not (parts[0] == META_DIR and (len(parts) == 1 or parts[1] == ".config"))


def _drain(client: PcsClient, cursor: str | None) -> tuple[list[str], bool, str]:
    """Pages of `diff` from `cursor` until `has_more` is false: (paths, reset seen, last cursor)."""
    paths: list[str] = []
    reset = False
    cur = "null" if cursor is None else cursor
    for _ in range(100_000):
        reply = client.call("GET", {"method": "diff", "cursor": cur})
        entries = reply.get("entries") or {}
        if not isinstance(entries, dict) or not isinstance(reply.get("cursor"), str):
            raise RemoteError("Baidu's diff reply is malformed")
        reset = reset or bool(reply.get("reset"))
        paths.extend(str(p) for p in entries)
        cur = reply["cursor"]
        if not reply.get("has_more"):
            return paths, reset, cur
    raise RemoteError("Baidu's diff feed never ends")


def changes_since(client: PcsClient, root: str, cursor: str | None) -> tuple[bool | None, str | None]:
    """(changed below `root` since `cursor`, the cursor to pass next time).

    `changed` is None when unknown: no cursor yet, the service reset the feed, or `diff` failed;
    the caller then does a full listing. Only an authorization failure is raised.
    """
    try:
        paths, reset, new_cursor = _drain(client, cursor)
    except AuthError:
        raise
    except PcsApiError as exc:
        if cursor is not None and exc.code == 31023:  # a cursor the service no longer knows
            return changes_since(client, root, None)
        return None, cursor
    except RemoteError:
        return None, cursor
    if cursor is None or reset:
        return None, new_cursor
    return any(_relevant(root, p) for p in paths), new_cursor
