"""The local-folder remote (`file:///path`): a NAS, a USB disk, any mount — and the tests' cloud.

It holds whatever its file system holds, so it maps no names. Its "server clock" is the file
system's: the mtime a fresh write receives, which on a network mount is the server's time. The
inode is the object's identity across renames, as Baidu's fs_id is.

Limit: it knows nothing of trees, trash or locks; the engine composes those from these primitives.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import shutil
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from pansync import interrupts
from pansync.dirfd import open_folder
from pansync.errors import ListingError, RemoteError
from pansync.hashing import BLOCK_SIZE, md5_file
from pansync.libc import last_errno, libc_function
from pansync.model import Kind, RemoteEntry
from pansync.names import validate_rel_path
from pansync.no_replace import rename_no_replace
from pansync.remote.base import INTERNAL_PREFIX, META_DIR, Progress, RemoteCaps, UploadResult

__all__ = ["LocalRemote", "remote_entry", "unsyncable"]

_CAPS = RemoteCaps(
    case_sensitive=True,
    max_name_bytes=255,
    max_path_chars=4000,
    max_file_size=None,
    trusted_md5=False,
)


_T = TypeVar("_T")


def _with_parents(target: str, make: Callable[[], _T]) -> _T:
    """Run `make` (which creates `target`); if a parent folder is missing, create the parents and
    run it once more. Most targets' folders exist: asking first would cost two calls per file."""
    try:
        return make()
    except FileNotFoundError:
        parent = os.path.dirname(target)
        if os.path.isdir(parent):
            raise  # the parent is there: it is the source that is missing
        os.makedirs(parent, exist_ok=True)
        return make()


@functools.cache
def _syncfs() -> Callable[[int], None] | None:
    """Linux's `syncfs(2)`, which Python's `os` lacks, or None elsewhere."""
    call = libc_function("syncfs")
    if call is None:
        return None

    def syncfs(fd: int) -> None:
        if call(fd) != 0:
            raise RemoteError(f"cannot flush the remote folder to disk: {os.strerror(last_errno())}")

    return syncfs


def unsyncable(mode: int) -> str:
    """Why a listed name that is neither a file nor a folder is passed over."""
    return "symbolic link" if stat.S_ISLNK(mode) else "not a regular file"


def remote_entry(rel_path: str, st: os.stat_result) -> RemoteEntry:
    """The entry of a listed or written name, from its `lstat`."""
    is_dir = stat.S_ISDIR(st.st_mode)
    return RemoteEntry(
        name=rel_path,
        kind=Kind.DIR if is_dir else Kind.FILE,
        size=0 if is_dir else st.st_size,
        mtime_ns=st.st_mtime_ns,
        remote_id=f"{st.st_ino}",
        md5="",
    )


class LocalRemote:
    """A folder reachable through the file system, used as the cloud."""

    def __init__(self, root: Path, *, clock: Callable[[], int] | None = None) -> None:
        self.root = root
        self._root = str(root)
        self._clock = clock
        self.on_skip: Callable[[str, str], None] = lambda rel, why: None
        """Told about entries the listing passes over (symlinks, devices), with the reason."""

    # -- identity -----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.root.as_uri()

    @property
    def caps(self) -> RemoteCaps:
        return _CAPS

    def check_name(self, rel_path: str) -> str | None:
        for part in rel_path.split("/"):
            if len(part.encode("utf-8", "surrogateescape")) > _CAPS.max_name_bytes:
                return f"a name is longer than {_CAPS.max_name_bytes} bytes"
        if len(str(self.root)) + 1 + len(rel_path) > _CAPS.max_path_chars:
            return f"the path is longer than {_CAPS.max_path_chars} characters"
        return None

    def to_remote_name(self, rel_path: str) -> str:
        return rel_path

    def from_remote_name(self, remote_path: str) -> str:
        return remote_path

    def _path(self, rel_path: str) -> Path:
        return self.root / validate_rel_path(rel_path) if rel_path else self.root

    def _file(self, rel_path: str) -> str:
        """`_path` as a string, for the calls made once per file: `pathlib` cost a fifth of the
        Python time of a first sync."""
        return f"{self._root}/{validate_rel_path(rel_path)}"

    def _meta(self, rel_path: str) -> Path:
        return self.root / META_DIR / validate_rel_path(rel_path)

    # -- tree ---------------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.root.is_dir()

    def ensure_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except FileExistsError as exc:
            raise RemoteError(f"cannot create the remote folder {self.root}: a file is in the way") from exc
        except OSError as exc:
            raise RemoteError(f"cannot create the remote folder {self.root}: {exc.strerror}") from exc

    def list_tree(self, under: str = "") -> Iterator[RemoteEntry]:
        s_isdir, s_isreg = stat.S_ISDIR, stat.S_ISREG
        file_kind, dir_kind = Kind.FILE, Kind.DIR
        for _, listed in self.walk(under):
            for _, rel, st in listed:
                mode = st.st_mode
                if s_isreg(mode):
                    yield RemoteEntry(rel, file_kind, st.st_size, st.st_mtime_ns, str(st.st_ino), "")
                elif s_isdir(mode):
                    yield RemoteEntry(rel, dir_kind, 0, st.st_mtime_ns, str(st.st_ino), "")
                else:
                    self.on_skip(rel, unsyncable(mode))

    def walk(self, under: str = "") -> Iterator[tuple[str, list[tuple[str, str, os.stat_result]]]]:
        """Each folder below `under` as (its path, [(name, path, lstat)]), internal names left out;
        its subfolders are entered once the caller has seen it. A name gone meanwhile is not there;
        any other error is a `ListingError` (a listing is whole or it is nothing)."""
        start = str(self._path(under))
        stack = [(start, under)]
        s_isdir, stat_at = stat.S_ISDIR, os.stat
        while stack:
            folder, prefix = stack.pop()
            try:
                opened = open_folder(folder, root=folder == start)
            except OSError as exc:
                raise ListingError(f"cannot list {folder}: {exc.strerror or exc}") from exc
            listed: list[tuple[str, str, os.stat_result]] = []
            below: list[tuple[str, str]] = []
            fd, base = opened.fd, opened.base
            try:
                for name in opened.names:
                    if name.startswith(INTERNAL_PREFIX):  # `is_internal_name`, inlined: once per entry
                        continue
                    rel = f"{prefix}/{name}" if prefix else name
                    try:
                        st = stat_at(base + name, dir_fd=fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # gone while listing: it simply is not there now
                    except OSError as exc:
                        raise ListingError(f"cannot read {folder}/{name}: {exc.strerror or exc}") from exc
                    listed.append((name, rel, st))
                    if s_isdir(st.st_mode):
                        below.append((f"{folder}/{name}", rel))
            finally:
                opened.close()
            yield prefix, listed
            below.reverse()  # entered in listing order, as before
            stack.extend(below)

    def stat(self, rel_path: str) -> RemoteEntry | None:
        try:
            st = self._path(rel_path).lstat()
        except (FileNotFoundError, NotADirectoryError):  # a parent that is a file: not there either
            return None
        except OSError as exc:
            raise RemoteError(f"cannot read {rel_path}: {exc.strerror}") from exc
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            self.on_skip(rel_path, unsyncable(st.st_mode))
            return None  # reported, as the listing reports it: never taken for a deletion
        return remote_entry(rel_path, st)

    def checksum(self, rel_path: str) -> str:
        try:
            return md5_file(self._path(rel_path))
        except OSError as exc:
            raise RemoteError(f"cannot read {rel_path}: {exc.strerror}") from exc

    def mkdir(self, rel_path: str) -> RemoteEntry:
        path = self._path(rel_path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            return remote_entry(rel_path, path.lstat())
        except FileExistsError as exc:
            raise RemoteError(f"cannot create folder {rel_path}: a file is in the way") from exc
        except OSError as exc:
            raise RemoteError(f"cannot create folder {rel_path}: {exc.strerror}") from exc

    def upload(self, local_path: Path, rel_path: str, progress: Progress | None = None) -> UploadResult:
        dest = self._file(rel_path)
        md5 = hashlib.md5(usedforsecurity=False)  # only the MD5: a folder has no use for Baidu's digests
        sent = 0
        try:
            with open(local_path, "rb", buffering=0) as src:
                fd = _with_parents(dest, lambda: os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                with os.fdopen(fd, "wb", buffering=0) as out:
                    # A buffer the file's size (+1 to see the end in one read), up to BLOCK_SIZE:
                    # zeroing 1 MiB for each small file would cost more than copying it.
                    view = memoryview(bytearray(min(os.fstat(src.fileno()).st_size + 1, BLOCK_SIZE)))
                    while n := src.readinto(view):
                        chunk = view[:n]
                        md5.update(chunk)
                        out.write(chunk)
                        sent += n
                        if progress is not None:
                            progress(n)
                    st_src = os.fstat(src.fileno())
                    os.utime(fd, ns=(st_src.st_atime_ns, st_src.st_mtime_ns))
                    if _syncfs() is None:
                        os.fsync(fd)  # no file-system barrier here: each file is made durable alone
                    st = os.fstat(fd)
        except FileExistsError as exc:
            raise RemoteError(f"cannot upload to {rel_path}: it already exists") from exc
        except OSError as exc:
            self._discard(dest)
            if exc.errno == errno.ENOSPC:
                raise RemoteError(f"the remote is full while uploading {rel_path}") from exc
            raise RemoteError(f"cannot upload {rel_path}: {exc.strerror or exc}") from exc
        return UploadResult(remote_entry(rel_path, st), md5.hexdigest(), sent)

    def flush(self) -> None:
        """One `syncfs` of the folder's file system makes all uploads so far durable: an fsync per
        file made a first sync wait for the disk once per file, with the copying stopped meanwhile."""
        syncfs = _syncfs()
        if syncfs is None:
            return  # each upload was fsynced on its own
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise RemoteError(f"cannot flush {self.root} to disk: {exc.strerror}") from exc
        try:
            syncfs(fd)
        finally:
            os.close(fd)

    @staticmethod
    def _discard(path: str | Path) -> None:
        with contextlib.suppress(OSError):
            os.unlink(path)

    def download(self, rel_path: str, dest: Path, progress: Progress | None = None, offset: int = 0) -> None:
        source = self._path(rel_path)
        try:
            with open(source, "rb", buffering=0) as src, open(dest, "ab" if offset else "wb") as out:
                src.seek(offset)
                while chunk := src.read(BLOCK_SIZE):
                    out.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
        except FileNotFoundError as exc:
            raise RemoteError(f"{rel_path} vanished from the remote during the download") from exc
        except OSError as exc:
            if exc.filename == str(dest) or exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise  # a local problem (a write's disk full carries no file name): the caller maps it
            raise RemoteError(f"cannot read {rel_path}: {exc.strerror}") from exc

    def move(self, src: str, dst: str, *, overwrite: bool = False) -> RemoteEntry:
        source, target = self._file(src), self._file(dst)
        try:
            if overwrite:
                _with_parents(target, lambda: os.replace(source, target))
            else:
                try:
                    _with_parents(target, lambda: rename_no_replace(source, target))
                except FileExistsError:
                    if not os.path.samefile(source, target):
                        raise
                    os.replace(source, target)  # a case-only rename on a case-insensitive disk
                except (IsADirectoryError, PermissionError):  # the fallback's link(2) refuses folders
                    if not os.path.isdir(source) or os.path.islink(source):
                        raise
                    if os.path.lexists(target):
                        raise FileExistsError(errno.EEXIST, "exists", target) from None
                    os.rename(source, target)
            return remote_entry(dst, os.lstat(target))
        except FileExistsError as exc:
            raise RemoteError(f"cannot move {src} to {dst}: the target already exists") from exc
        except FileNotFoundError as exc:
            raise RemoteError(f"cannot move {src}: it is no longer there") from exc
        except OSError as exc:
            raise RemoteError(f"cannot move {src} to {dst}: {exc.strerror}") from exc

    def copy(self, src: str, dst: str) -> RemoteEntry:
        source, target = self._path(src), self._path(dst)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, symlinks=True)
            else:
                try:
                    os.link(source, target, follow_symlinks=False)
                except OSError as exc:
                    if exc.errno in (errno.EEXIST, errno.ENOENT):
                        raise
                    shutil.copy2(source, target)
            return remote_entry(dst, target.lstat())
        except FileExistsError as exc:
            raise RemoteError(f"cannot copy {src} to {dst}: the target already exists") from exc
        except OSError as exc:
            raise RemoteError(f"cannot copy {src} to {dst}: {exc.strerror}") from exc

    def delete(self, rel_path: str) -> None:
        path = self._path(rel_path)
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise RemoteError(f"cannot delete {rel_path}: {exc.strerror}") from exc

    # -- metadata -----------------------------------------------------------------------------------

    def read_meta(self, rel_path: str) -> tuple[bytes, int] | None:
        path = self._meta(rel_path)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                return f.read(), st.st_mtime_ns
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RemoteError(f"cannot read {META_DIR}/{rel_path}: {exc.strerror}") from exc

    def _write_temp(self, path: Path, data: bytes) -> Path:
        """`data` in a new file beside `path`, on disk; none left behind if that fails (a full disk)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".pansync.tmp-{uuid.uuid4().hex}")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            self._discard(tmp)
            raise
        return tmp

    @interrupts.shielded  # no temp file left beside the shared index or the lock by a Ctrl-C
    def write_meta(self, rel_path: str, data: bytes) -> None:
        path = self._meta(rel_path)
        tmp: Path | None = None
        try:
            tmp = self._write_temp(path, data)
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None:
                self._discard(tmp)
            raise RemoteError(f"cannot write {META_DIR}/{rel_path}: {exc.strerror}") from exc

    @interrupts.shielded
    def create_meta_exclusive(self, rel_path: str, data: bytes) -> bool:
        path = self._meta(rel_path)
        try:
            tmp = self._write_temp(path, data)
        except OSError as exc:
            raise RemoteError(f"cannot write {META_DIR}/{rel_path}: {exc.strerror}") from exc
        try:
            os.link(tmp, path)  # atomic create-if-absent, with the content already in place
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            raise RemoteError(f"cannot create {META_DIR}/{rel_path}: {exc.strerror}") from exc
        finally:
            self._discard(tmp)

    def delete_meta(self, rel_path: str) -> None:
        try:
            self._meta(rel_path).unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise RemoteError(f"cannot delete {META_DIR}/{rel_path}: {exc.strerror}") from exc

    def list_meta(self, rel_dir: str) -> list[str]:
        folder = self._meta(rel_dir) if rel_dir else self.root / META_DIR
        try:
            return sorted(n for n in os.listdir(folder) if not n.startswith(".pansync.tmp-"))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise RemoteError(f"cannot list {META_DIR}/{rel_dir}: {exc.strerror}") from exc

    @interrupts.shielded  # its probe file is always removed
    def server_time_ns(self) -> int:
        """The file system's clock: the mtime a fresh write gets (a NAS server's time on a mount)."""
        if self._clock is not None:
            return self._clock()
        probe = self.root / META_DIR / f".pansync.tmp-clock-{uuid.uuid4().hex}"
        try:
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.touch()
            return probe.stat().st_mtime_ns
        except OSError:
            return time.time_ns()
        finally:
            self._discard(probe)
