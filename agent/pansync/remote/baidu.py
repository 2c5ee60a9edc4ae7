"""`baidu`: the `baidu:/apps/bypy/<dir>` remote: Baidu Netdisk through the PCS REST API.

Job: the `Remote` protocol's primitives, made as safe as PCS allows. Names are mapped reversibly
(`baidu_names`); listings are complete or raise (`baidu_listing`); uploads hash what they send
(`baidu_upload`); downloads resume by `Range` (`baidu_download`); every call goes through one
`PcsClient` (retries, throttling, token renewal through bypy). PCS has no atomic rename-over, so
`move(..., overwrite=True)` rebuilds the target from content already in the cloud with
`ondup=overwrite` (`createsuperfile` from the temp's slices, or `rapidupload`) where it can, and
otherwise deletes the target first (the engine has copied it to the trash already). Create-if-absent
is an upload with `ondup=newcopy`: whoever gets the exact name won.

Limit: PCS specifics stay in this package (`pcs`, `baidu_*`), so an xpan-API backend can stand
beside it. Deleting sends items to Baidu's recycle bin (kept 10 days), the only delete PCS has.
"""

from __future__ import annotations

import collections
import hashlib
import posixpath
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from pansync.auth import TokenManager
from pansync.errors import ItemError, ListingError, RemoteError, UnsafePath
from pansync.model import Kind, RemoteEntry
from pansync.names import validate_rel_path
from pansync.remote import baidu_listing
from pansync.remote.baidu_download import download_range
from pansync.remote.baidu_names import decode_path, encode_path, unmappable_reason
from pansync.remote.baidu_upload import (
    MIB,
    RAPID_MIN,
    SourceChanged,
    Uploaded,
    Uploader,
    name_taken,
    newcopy_pattern,
)
from pansync.remote.base import META_DIR, Progress, RemoteCaps, UploadResult
from pansync.remote.pcs import Endpoints, PcsApiError, PcsClient, RetryPolicy, TokenSource, date_header_ns

__all__ = ["DEFAULT_MAX_FILE_SIZE", "MAX_PATH_CHARS", "BaiduRemote"]

MAX_PATH_CHARS = 1000
"""Longest absolute cloud path ([pcs-doc]: 1000; counted in characters, as fakepcs does)."""
MAX_NAME_BYTES = 255
"""Longest name: fakepcs's (host file system) limit; Baidu's own is not documented."""
DEFAULT_MAX_FILE_SIZE = 4 * 1024**3
"""An ordinary account's per-file cap (4 GB; VIP 10 GB, SVIP 20 GB [3p]); PCS does not tell which."""
APP_ROOT = "/apps/"
_REMEMBERED_TEMPS = 256


def _tmp_name() -> str:
    return f".pansync.tmp-{uuid.uuid4().hex[:16]}"


class BaiduRemote:
    """A folder below `/apps/bypy` in one Baidu account, as the sync engine sees it."""

    def __init__(
        self,
        root: str,
        *,
        state_dir: Path,
        endpoint: str | None = None,
        concurrency: int = 4,
        download_concurrency: int = 1,
        clock: Callable[[], int] | None = None,
        retry: RetryPolicy | None = None,
        slice_size: int = 4 * MIB,
        slice_threshold: int = 20 * MIB,
        max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
        tokens: TokenSource | None = None,
    ) -> None:
        """`root` is the cloud folder (`/apps/bypy/docs`); `endpoint` overrides Baidu's hosts (else
        `$PANSYNC_BAIDU_ENDPOINT`); `clock` replaces the server's clock in tests only."""
        self._root = "/" + root.strip("/")
        if not self._root.startswith(APP_ROOT) or ".." in self._root.split("/"):
            raise RemoteError(f"a Baidu folder must lie under /apps/bypy, not {root!r}")
        policy = retry or RetryPolicy()
        self._endpoints = Endpoints.resolve(endpoint)
        self._tokens = tokens or TokenManager.shared(
            state_dir, self._endpoints, timeout_s=policy.read_timeout_s
        )
        self._client = PcsClient(self._endpoints, self._tokens, concurrency=concurrency, policy=policy)
        self._uploader = Uploader(
            self._client,
            state_dir,
            concurrency=concurrency,
            slice_size=slice_size,
            slice_threshold=slice_threshold,
        )
        self._concurrency = max(1, concurrency)
        self._downloads = threading.BoundedSemaphore(max(1, download_concurrency))
        self._clock = clock
        self._caps = RemoteCaps(
            case_sensitive=False,
            max_name_bytes=MAX_NAME_BYTES,
            max_path_chars=MAX_PATH_CHARS - len(self._root) - 1,
            max_file_size=max_file_size,
            trusted_md5=True,  # per entry: only where `listed_md5` proves it, else "" (then hashed)
        )
        self._temps: collections.OrderedDict[str, Uploaded] = collections.OrderedDict()
        self._temps_lock = threading.Lock()

    # -- identity -----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"baidu:{self._root}"

    @property
    def caps(self) -> RemoteCaps:
        return self._caps

    @property
    def client(self) -> PcsClient:
        """The PCS client (tests read its throttle)."""
        return self._client

    def check_name(self, rel_path: str) -> str | None:
        for part in rel_path.split("/"):
            why = unmappable_reason(part)
            if why is not None:
                return why
            if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
                return f"a name is longer than {MAX_NAME_BYTES} bytes once mapped for Baidu"
        if len(self._root) + 1 + len(rel_path) > MAX_PATH_CHARS:
            return f"the cloud path would be longer than Baidu's {MAX_PATH_CHARS} characters"
        return None

    def to_remote_name(self, rel_path: str) -> str:
        return encode_path(rel_path)

    def from_remote_name(self, remote_path: str) -> str:
        return decode_path(remote_path)

    def _abs(self, rel_path: str) -> str:
        if not rel_path:
            return self._root
        try:
            validate_rel_path(rel_path)
        except UnsafePath as exc:
            raise RemoteError(f"refusing the path {rel_path!r}: {exc.message}") from None
        return f"{self._root}/{rel_path}"

    def _meta(self, rel_path: str) -> str:
        return self._abs(f"{META_DIR}/{rel_path}" if rel_path else META_DIR)

    # -- tree ---------------------------------------------------------------------------------------

    def exists(self) -> bool:
        found = self._meta_of(self._root)
        return found is not None and bool(int(found.get("isdir", 0)))

    def ensure_root(self) -> None:
        self.mkdir("")

    def list_tree(self, under: str = "") -> Iterator[RemoteEntry]:
        try:
            top = self._abs(under)
        except RemoteError as exc:
            raise ListingError(str(exc)) from exc
        for rel, item in baidu_listing.walk(self._client, top, under, workers=self._concurrency):
            try:
                yield baidu_listing.entry_of(rel, item)
            except (KeyError, TypeError, ValueError) as exc:
                raise ListingError(f"Baidu listed {rel!r} with malformed fields") from exc

    def changes_since(self, cursor: str | None) -> tuple[bool | None, str | None]:
        """Has anything below the root changed since `cursor`? (PCS `diff`, inferred: see docs).

        Returns (changed, next cursor); changed is None when unknown (first call, reset feed, or
        the service does not answer `diff`): do a full listing then.
        """
        return baidu_listing.changes_since(self._client, self._root, cursor)

    def _meta_of(self, abs_path: str) -> dict[str, Any] | None:
        try:
            items = self._client.call("GET", {"method": "meta", "path": abs_path}).get("list")
        except PcsApiError as exc:
            if exc.code == 31066:
                return None
            raise
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            return None
        return items[0]

    def _stored_name(self, rel_path: str, item: dict[str, Any]) -> str:
        """`rel_path` with its last part as the service stores it (the namespace ignores case)."""
        stored = posixpath.basename(str(item.get("path", ""))) or posixpath.basename(rel_path)
        parent = posixpath.dirname(rel_path)
        return f"{parent}/{stored}" if parent else stored

    def stat(self, rel_path: str) -> RemoteEntry | None:
        item = self._meta_of(self._abs(rel_path))
        if item is None:
            return None
        name = self._stored_name(rel_path, item) if rel_path else ""
        return baidu_listing.entry_of(name, item)

    def _require(self, rel_path: str) -> RemoteEntry:
        found = self.stat(rel_path)
        if found is None:
            raise RemoteError(f"{rel_path or self._root} is not in the cloud after it was written")
        return found

    def checksum(self, rel_path: str) -> str:
        md5 = hashlib.md5(usedforsecurity=False)
        with self._downloads:
            self._read(rel_path, self._abs(rel_path), md5.update, 0)
        return md5.hexdigest()

    def mkdir(self, rel_path: str) -> RemoteEntry:
        try:
            reply = self._client.call("POST", {"method": "mkdir", "path": self._abs(rel_path)})
        except PcsApiError as exc:
            if exc.code in (31061, 31063):
                found = self.stat(rel_path)
                if found is not None and found.kind is Kind.DIR:
                    return found
                where = rel_path or f"{self._root} (the remote root)"
                raise RemoteError(f"cannot create folder {where}: a file is in the way") from None
            raise
        reply.setdefault("isdir", 1)
        return baidu_listing.entry_of(self._stored_name(rel_path, reply) if rel_path else "", reply)

    def flush(self) -> None:
        """Nothing to do: Baidu answers `upload` and `createsuperfile` once it has stored the file."""

    def upload(self, local_path: Path, rel_path: str, progress: Progress | None = None) -> UploadResult:
        target = self._abs(rel_path)
        size = local_path.stat().st_size
        cap = self._caps.max_file_size
        if cap is not None and size > cap:
            raise ItemError(
                rel_path, f"larger than the {cap // 1024**2} MiB a file in this Baidu account may be"
            )
        try:
            up = self._uploader.upload_file(local_path, target, overwrite=False, progress=progress)
        except SourceChanged as exc:
            raise SourceChanged(rel_path, exc.message) from None
        if name_taken(up.reply, target):
            self._discard(str(up.reply.get("path", "")))
            if up.ambiguous:  # our own lost first attempt may hold the name: compare contents
                self._sweep_newcopies(target)
                if self.checksum(rel_path) == up.md5:
                    found = self._require(rel_path)
                    return UploadResult(replace(found, md5=up.md5), up.md5, up.payload_bytes)
            raise RemoteError(f"cannot upload to {rel_path}: it already exists")
        if up.blocks is not None or up.digests.size > RAPID_MIN:
            with self._temps_lock:
                self._temps[target.lower()] = up
                while len(self._temps) > _REMEMBERED_TEMPS:
                    self._temps.popitem(last=False)
        entry = baidu_listing.entry_of(rel_path, {**up.reply, "isdir": 0})
        entry = RemoteEntry(entry.name, entry.kind, entry.size, entry.mtime_ns, entry.remote_id, up.md5)
        return UploadResult(entry, up.md5, up.payload_bytes)

    def download(self, rel_path: str, dest: Path, progress: Progress | None = None, offset: int = 0) -> None:
        with self._downloads, open(dest, "ab" if offset else "wb") as out:

            def sink(chunk: bytes) -> None:
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))

            self._read(rel_path, self._abs(rel_path), sink, offset)

    def _read(self, rel_path: str, abs_path: str, sink: Callable[[bytes], None], offset: int) -> None:
        try:
            download_range(self._client, abs_path, sink, offset=offset)
        except PcsApiError as exc:
            if exc.code == 31066:
                raise RemoteError(f"{rel_path} vanished from the remote during the download") from None
            raise

    # -- move, copy, delete -------------------------------------------------------------------------

    def _move_raw(self, src: str, dst: str) -> bool:
        """PCS move; False when the target exists. Tolerates its own lost replies."""
        try:
            self._client.call("POST", {"method": "move", "from": src, "to": dst})
            return True
        except PcsApiError as exc:
            if exc.code not in (31061, 31066):
                raise
            if exc.maybe_done and self._meta_of(src) is None and self._meta_of(dst) is not None:
                return True  # our earlier attempt did it; only its reply was lost
            if exc.code == 31066:
                raise RemoteError(f"cannot move {src}: it is no longer there") from None
            return False

    def _replace_from_cloud(self, src: str, dst: str) -> bool:
        """Overwrite `dst` atomically with content the cloud already holds at `src` (a temp we
        uploaded): `createsuperfile` from its slices, or `rapidupload` of its digests."""
        with self._temps_lock:
            up = self._temps.pop(src.lower(), None)
        if up is None:
            return False
        try:
            if up.blocks is not None:
                self._uploader.superfile(dst, up.blocks, overwrite=True)
            elif self._uploader.rapid_enabled:
                if self._uploader._rapid(dst, up.digests, True) is None:
                    return False
            else:
                return False
        except PcsApiError as exc:
            if exc.code in (31363, 31079, 31023):
                return False
            raise
        self._discard(src)
        return True

    def move(self, src: str, dst: str, *, overwrite: bool = False) -> RemoteEntry:
        source, target = self._abs(src), self._abs(dst)
        if source.lower() == target.lower():
            if source != target:  # a case-only rename: through a temp name beside it
                temp = posixpath.join(posixpath.dirname(target), _tmp_name())
                if not self._move_raw(source, temp):
                    raise RemoteError(f"cannot rename {src}: the temporary name is taken")
                if not self._move_raw(temp, target):
                    self._move_raw(temp, source)
                    raise RemoteError(f"cannot rename {src} to {dst}")
            return self._require(dst)
        if not self._move_raw(source, target):
            if not overwrite:
                raise RemoteError(f"cannot move {src} to {dst}: the target already exists")
            existing = self.stat(dst)
            if existing is not None and existing.kind is Kind.DIR:
                raise RemoteError(f"cannot move {src} over {dst}: a folder is in the way")
            if not self._replace_from_cloud(source, target):
                self.delete(dst)  # not atomic: the engine has copied the old version to trash
                if not self._move_raw(source, target):
                    raise RemoteError(f"cannot move {src} to {dst}: the target came back meanwhile")
        with self._temps_lock:
            self._temps.pop(source.lower(), None)
        return self._require(dst)

    def copy(self, src: str, dst: str) -> RemoteEntry:
        source, target = self._abs(src), self._abs(dst)
        try:
            self._client.call("POST", {"method": "copy", "from": source, "to": target})
        except PcsApiError as exc:
            if exc.code == 31066:
                raise RemoteError(f"cannot copy {src}: it is no longer there") from None
            if exc.code != 31061:
                raise
            mine = exc.maybe_done and (a := self.stat(src)) is not None and (b := self.stat(dst)) is not None
            if not (mine and a is not None and b is not None and a.kind is b.kind and a.size == b.size):
                raise RemoteError(f"cannot copy {src} to {dst}: the target already exists") from None
        return self._require(dst)

    def _discard(self, abs_path: str) -> None:
        try:
            self._client.call("POST", {"method": "delete", "path": abs_path})
        except PcsApiError as exc:
            if exc.code != 31066:
                raise

    def _sweep_newcopies(self, abs_path: str) -> None:
        """Delete the `newcopy` a lost attempt may have left beside `abs_path` (never kept)."""
        parent, name = posixpath.split(abs_path)
        pattern = newcopy_pattern(name)
        try:
            items = baidu_listing.list_dir(self._client, parent)
        except PcsApiError:
            return
        for item in items:
            if pattern.fullmatch(posixpath.basename(str(item["path"]))):
                self._discard(str(item["path"]))

    def delete(self, rel_path: str) -> None:
        self._discard(self._abs(rel_path))

    # -- metadata -----------------------------------------------------------------------------------

    def read_meta(self, rel_path: str) -> tuple[bytes, int] | None:
        path = self._meta(rel_path)
        item = self._meta_of(path)
        if item is None:
            return None
        if int(item.get("isdir", 0)):
            raise RemoteError(f"{META_DIR}/{rel_path} is a folder, not a file")
        buf = bytearray()
        try:
            download_range(self._client, path, buf.extend)
        except PcsApiError as exc:
            if exc.code == 31066 or exc.status == 404:
                return None  # deleted between the look-up and the download (a released lock)
            raise
        return bytes(buf), int(item.get("mtime", 0)) * 1_000_000_000

    def write_meta(self, rel_path: str, data: bytes) -> None:
        self._uploader.upload_bytes(data, self._meta(rel_path), overwrite=True)

    def create_meta_exclusive(self, rel_path: str, data: bytes) -> bool:
        path = self._meta(rel_path)
        up = self._uploader.upload_bytes(data, path, overwrite=False)
        if not name_taken(up.reply, path):
            return True
        self._discard(str(up.reply.get("path", "")))
        if up.ambiguous:  # our own lost first attempt may hold the name: then it is ours
            self._sweep_newcopies(path)
            got = self.read_meta(rel_path)
            return got is not None and got[0] == data
        return False

    def delete_meta(self, rel_path: str) -> None:
        self._discard(self._meta(rel_path))

    def list_meta(self, rel_dir: str) -> list[str]:
        try:
            items = baidu_listing.list_dir(self._client, self._meta(rel_dir))
        except PcsApiError as exc:
            if exc.code == 31066:
                return []
            raise
        names = (posixpath.basename(str(item["path"])) for item in items)
        return sorted(n for n in names if not n.startswith(".pansync.tmp-"))

    def server_time_ns(self) -> int:
        """The `Date` of a cheap PCS reply (whole seconds, as PCS mtimes are), never our clock."""
        if self._clock is not None:
            return self._clock()
        _, headers = self._client.call_with_headers("GET", {"method": "info"}, route="quota")
        now = date_header_ns(headers)
        if now is not None:
            return now
        probe = f".config/{_tmp_name()}"  # no Date header: the mtime a fresh file gets
        self.write_meta(probe, b"")
        try:
            got = self._meta_of(self._meta(probe))
            if got is None:
                raise RemoteError("cannot read the server's clock")
            return int(got.get("mtime", 0)) * 1_000_000_000
        finally:
            self.delete_meta(probe)

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()
