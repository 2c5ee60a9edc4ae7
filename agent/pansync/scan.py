"""The local tree: one walk of the sync root, hashing only what changed.

A file whose (size, mtime_ns, inode) equals its synced record keeps the synced MD5 (the fast path);
anything else is hashed. A renamed file is found by inode in the synced tree, so renaming a large
folder costs a walk, not a re-hash.

Items that cannot be judged this time — unreadable files and folders, names that are not UTF-8,
Unicode-normalization twins, files that vanish mid-scan — are reported as issues and *frozen*: the
planner leaves their paths alone, so nothing below an unreadable folder is ever taken as deleted.
Symlinks and special files are skipped with a warning. Limit: reads the disk, never writes it.

Each folder is listed and stat-ed whole before its entries are judged: with stored folder digests
(a whole sync, `folder_digests`), a folder whose digest is its stored one is clean without a record
read; its files wait in `quiet_files` for `ScanResult.fill`, and the synced tree is read only when
the first folder that is not clean is met (a no-op of clean folders never reads it).

Speed: the walk does the least Python work per entry it can (ASCII names skip the Unicode checks),
and the files to hash are hashed after it, by a few threads when there are many (hashlib and file
reads release the GIL), so a first sync is not bound to one core.
"""

from __future__ import annotations

import errno
import os
import stat
import unicodedata
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from msgspec import Struct, field

from pansync.dirfd import open_folder
from pansync.errors import RootMissing
from pansync.folder_digests import digest_listing
from pansync.gc_pause import gc_paused
from pansync.hashing import md5_file
from pansync.ignore import IgnoreRules, builtin_match
from pansync.model import Kind, LocalEntry, SyncedEntry
from pansync.names import all_nfc, ancestors_of, printable

__all__ = ["ScanIssue", "ScanResult", "StaleDigests", "scan_local"]

HASH_THREADS = max(2, min(4, os.cpu_count() or 1))
"""Threads that hash files when a scan finds many to hash (a first sync, a large copy-in)."""

_PARALLEL_FROM = 8
"""Fewer files to hash than this are hashed in the calling thread: a pool would cost more."""

_HASH_CHUNK = 32
"""Files per task handed to the pool: few futures even for 100,000 files."""


class ScanIssue(Struct, frozen=True):
    rel_path: str
    message: str


class ScanResult(Struct):
    tree: dict[str, LocalEntry] = field(default_factory=dict)
    issues: list[ScanIssue] = field(default_factory=list)
    frozen: set[str] = field(default_factory=set)
    hashed_files: int = 0
    hashed_bytes: int = 0
    deferred: list[tuple[str, str]] = field(default_factory=list)
    """(key, on-disk path) of files left unhashed (`defer_hash`): `hash_deferred` finishes them."""
    unchanged: list[str] = field(default_factory=list)
    """Keys whose entry is the one their synced record describes (name, identity, size, mtime):
    the planner's `quiet` hint."""
    quiet_files: list[str] = field(default_factory=list)
    """Keys of the files in folders found clean by their digests, not yet in `tree`: `fill` puts
    them there from their synced records."""
    digests: dict[str, bytes] = field(default_factory=dict)
    """The digests of the folders found clean (by digest, or entry by entry), by key."""
    quiet: bool = False
    """Every folder was found clean by its digest: the synced tree was never read."""

    @property
    def entries(self) -> int:
        """Files and folders found, those waiting in `quiet_files` included."""
        return len(self.tree) + len(self.quiet_files)

    def fill(self, synced: Mapping[str, SyncedEntry]) -> None:
        """Put the files of the clean folders in `tree`, each as its synced record describes it
        (which their digests vouch for: name, identity, size and mtime). `StaleDigests` if a record
        is not there, or not a file's: the digests did not go with `synced` after all."""
        tree, unchanged, file_kind = self.tree, self.unchanged, Kind.FILE
        for key in self.quiet_files:
            record = synced.get(key)
            if record is None or record.kind is not file_kind:
                raise StaleDigests(f"no synced file record at {printable(key)}")
            name = record.local_name
            if name == key:
                key = name  # the synced tree's string: shared, not copied
            tree[key] = LocalEntry(
                name, file_kind, record.size, record.local_mtime_ns, record.local_inode, record.md5
            )
            unchanged.append(key)
        self.quiet_files = []

    def skip(self, key: str, message: str) -> None:
        self.issues.append(ScanIssue(key, message))
        self.frozen.add(key)


class StaleDigests(Exception):
    """Folder digests vouched for an entry the synced tree does not hold as they said."""


def _nfc(name: str) -> str:
    return name if unicodedata.is_normalized("NFC", name) else unicodedata.normalize("NFC", name)


def _twin_owners(names: list[str]) -> dict[str, str]:
    """Of names equal up to Unicode normalization, the one that syncs: the NFC spelling if present,
    else the least by code point (the same on every computer, whatever the listing's order). Only
    keys with twins are in the answer (usually none: the loop then skips the test for every name of
    the folder)."""
    spellings: dict[str, list[str]] = {}
    for name in names:
        spellings.setdefault(name if name.isascii() else _nfc(name), []).append(name)
    return {key: key if key in same else min(same) for key, same in spellings.items() if len(same) > 1}


def scan_local(
    root: Path,
    synced: Mapping[str, SyncedEntry] | Callable[[], Mapping[str, SyncedEntry]],
    ignore: IgnoreRules,
    *,
    hasher: Callable[[Path], str] = md5_file,
    scope: Collection[str] | None = None,
    defer_hash: bool = False,
    digests: Mapping[str, bytes] | None = None,
) -> ScanResult:
    """Walk `root` and return its tree keyed by NFC path, with MD5s for every file.

    With `scope` (keys the watcher saw change), only those keys, everything below them and their
    parent folders are looked at: the folders on the way down are listed, nothing else is entered.
    With `defer_hash`, files that need hashing keep `md5 = ""` and are listed in `deferred`, for
    the caller to hash only those it must compare (`hash_deferred`).

    With `digests` (a whole scan), a folder whose digest is the stored one is clean without a
    look at a record: its files wait in `quiet_files` for `fill`, and `synced` (the tree, or what
    reads it) is read only when some folder is not (`folder_digests`).
    """
    result = ScanResult()
    try:
        if not stat.S_ISDIR(os.stat(root).st_mode):
            raise RootMissing(f"{root} is not a folder")
    except OSError as exc:
        raise RootMissing(f"{root} is not reachable: {exc.strerror}") from exc
    records: Callable[[], Mapping[str, SyncedEntry]] = synced if callable(synced) else lambda: synced
    with gc_paused():  # 100,000 entries would set off the collector a hundred times
        to_hash = _walk(result, root, records, ignore, scope, digests)
    if defer_hash:
        result.deferred = to_hash
    elif to_hash:
        _hash_all(result, to_hash, hasher)
    return result


_Row = tuple[str, str, str, os.stat_result, bool]
"""(name, key, name relative to the root, lstat, whether a folder) of an entry the scan keeps."""


def _walk(
    result: ScanResult,
    root: Path,
    synced: Callable[[], Mapping[str, SyncedEntry]],
    ignore: IgnoreRules,
    scope: Collection[str] | None,
    stored: Mapping[str, bytes] | None,
) -> list[tuple[str, str]]:
    """Fill `result` from one walk; the (key, on-disk path) of the files left to hash.

    Each folder is listed and its entries stat-ed first; then either its digest is the stored one
    (its files wait for `fill`) or each entry is judged against its synced record."""
    records: Mapping[str, SyncedEntry] | None = None if stored is not None else synced()
    by_inode: dict[int, SyncedEntry] | None = None
    tree, unchanged, quiet_files, clean = result.tree, result.unchanged, result.quiet_files, result.digests
    builtin, pattern = builtin_match, ignore.match_pattern  # `ignore.matches`, inlined below
    stat_at = os.stat
    ifmt, ifdir, ifreg, iflnk = 0o170000, stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK
    file_kind, dir_kind = Kind.FILE, Kind.DIR
    to_hash: list[tuple[str, str]] = []  # (key, on-disk path), in walk order
    scoped = frozenset(scope or ())
    above = ancestors_of(scoped)
    # (on-disk folder path, key prefix, whether every entry in it is wanted)
    stack: list[tuple[str, str, bool]] = [(str(root), "", scope is None)]
    name_prefix: dict[str, str] = {"": ""}  # key prefix -> on-disk relative spelling
    while stack:
        folder, prefix, whole = stack.pop()
        try:
            # in the file system's order: no decision below depends on it
            listed = open_folder(folder, root=not prefix)
        except OSError as exc:
            if not prefix:
                raise RootMissing(f"cannot list {root}: {exc.strerror}") from exc
            result.skip(prefix, f"cannot list this folder ({exc.strerror}); left as it is")
            continue
        names, fd, base = listed.names, listed.fd, listed.base
        rows: list[_Row] = []
        skipped = False  # something here was left out: the folder is not clean
        try:
            # Two names are twins only if one of them is not NFC: a folder of NFC names (ASCII ones
            # included) has none, and most folders are such.
            owner = {} if all_nfc(names) else _twin_owners(names)
            disk_prefix = name_prefix[prefix]
            same_prefix = disk_prefix == prefix  # then a name that is its own key gives a key == rel_name
            for name in names:
                rel_name = f"{disk_prefix}/{name}" if disk_prefix else name
                if name.isascii():
                    key_name = name
                else:
                    try:
                        name.encode("utf-8")
                    except UnicodeEncodeError:
                        result.issues.append(
                            ScanIssue(printable(rel_name), "name is not valid UTF-8; skipped")
                        )
                        skipped = True
                        continue
                    key_name = _nfc(name)
                if same_prefix and key_name is name:
                    key = rel_name  # one string for both (a 100,000-entry tree is smaller)
                else:
                    key = f"{prefix}/{key_name}" if prefix else key_name
                inside = whole or key in scoped
                if not (inside or key in above):
                    continue
                try:
                    st = stat_at(base + name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    result.skip(key, "vanished while scanning; will look again")
                    skipped = True
                    continue
                except OSError as exc:
                    result.skip(key, f"cannot read ({exc.strerror}); left as it is")
                    skipped = True
                    continue
                fmt = st.st_mode & ifmt
                is_dir = fmt == ifdir
                if builtin(key_name) is not None or (
                    pattern is not None and pattern(key + "/" if is_dir else key)
                ):
                    continue
                if fmt != ifreg and not is_dir:
                    if fmt == iflnk:
                        result.skip(key, "symbolic link; PanSync does not follow links")
                    else:
                        result.skip(key, "not a regular file (FIFO, socket or device)")
                    skipped = True
                    continue
                if owner and owner.get(key_name, name) != name:
                    result.issues.append(
                        ScanIssue(
                            rel_name,
                            f"same name as '{owner[key_name]}' in another Unicode form; this one is not "
                            "synced, rename it",
                        )
                    )
                    skipped = True
                    continue
                rows.append((name, key, rel_name, st, is_dir))
        finally:
            listed.close()
        found = None
        if stored is not None and not skipped:
            found = digest_listing((row[0], row[3]) for row in rows)
        if found is not None and stored is not None and stored.get(prefix) == found:
            clean[prefix] = found  # every entry as its record describes it: no record needed now
            for name, key, rel_name, st, is_dir in rows:
                if is_dir:
                    tree[key] = LocalEntry(rel_name, dir_kind, 0, st.st_mtime_ns, st.st_ino, "")
                    unchanged.append(key)
                    name_prefix[key] = rel_name
                    stack.append((f"{folder}/{name}", key, whole))
                else:
                    quiet_files.append(key)
            continue
        if records is None:
            records = synced()
        same = 0
        for name, key, rel_name, st, is_dir in rows:
            if is_dir:
                tree[key] = LocalEntry(rel_name, dir_kind, 0, st.st_mtime_ns, st.st_ino, "")
                record = records.get(key)
                if (
                    record is not None
                    and record.kind is dir_kind
                    and record.local_inode == st.st_ino
                    and record.local_name == rel_name
                ):
                    unchanged.append(key)
                    same += 1
                name_prefix[key] = rel_name
                stack.append((f"{folder}/{name}", key, whole or key in scoped))
                continue
            inode = st.st_ino
            record = at_key = records.get(key)
            if record is None or record.local_inode != inode:
                if by_inode is None:
                    by_inode = {e.local_inode: e for e in records.values() if e.kind is Kind.FILE}
                record = by_inode.get(inode, record)
            if (
                record is not None
                and record.kind is file_kind
                and record.size == st.st_size
                and record.local_mtime_ns == st.st_mtime_ns
                and record.local_inode == inode
            ):
                if key is rel_name and record.local_name == key:
                    key = rel_name = record.local_name  # the synced tree's string: shared, not copied
                # the record's objects, not stat's equal ones: 100,000 entries hold 9 MB less
                tree[key] = LocalEntry(
                    rel_name,
                    file_kind,
                    record.size,
                    record.local_mtime_ns,
                    record.local_inode,
                    record.md5,
                )
                if record is at_key and record.local_name == rel_name:
                    unchanged.append(key)
                    same += 1
                continue
            to_hash.append((key, f"{folder}/{name}"))
            # md5 is filled in by _hash_all below, in place (the tree keeps its walk order)
            tree[key] = LocalEntry(rel_name, file_kind, st.st_size, st.st_mtime_ns, st.st_ino, "")
        if found is not None and same == len(rows):
            clean[prefix] = found
    result.quiet = stored is not None and records is None
    return to_hash


def hash_deferred(
    result: ScanResult, wanted: Callable[[str], bool], hasher: Callable[[Path], str] = md5_file
) -> None:
    """Hash the deferred files whose keys are `wanted`; of the others check only that they can be
    read, so an unreadable file is skipped here, as the hashing would have skipped it. A file
    left unhashed is uploaded as it is and recorded with the MD5 of the bytes sent."""
    needed: list[tuple[str, str]] = []
    for key, path in result.deferred:
        if wanted(key):
            needed.append((key, path))
        elif not os.access(path, os.R_OK):
            del result.tree[key]
            result.skip(key, f"cannot read ({os.strerror(errno.EACCES)}); skipped, will retry")
    result.deferred = []
    if needed:
        _hash_all(result, needed, hasher)


def _hash_all(result: ScanResult, to_hash: list[tuple[str, str]], hasher: Callable[[Path], str]) -> None:
    """Hash the files the walk could not vouch for; one that cannot be read leaves the tree."""
    hash_path: Callable[[str], str] = md5_file if hasher is md5_file else lambda p: hasher(Path(p))

    def one(path: str) -> str | OSError:
        try:
            return hash_path(path)
        except OSError as exc:
            return exc

    def chunk(paths: list[str]) -> list[str | OSError]:
        return [one(path) for path in paths]

    paths = [path for _, path in to_hash]
    if len(paths) < _PARALLEL_FROM:
        digests = chunk(paths)
    else:
        chunks = [paths[i : i + _HASH_CHUNK] for i in range(0, len(paths), _HASH_CHUNK)]
        with ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="hash") as pool:
            digests = [digest for done in pool.map(chunk, chunks) for digest in done]
    tree = result.tree
    for (key, _), digest in zip(to_hash, digests, strict=True):
        entry = tree[key]
        if isinstance(digest, FileNotFoundError):
            del tree[key]
            result.skip(key, "vanished while scanning; will look again")
        elif isinstance(digest, OSError):
            del tree[key]
            result.skip(key, f"cannot read ({digest.strerror}); skipped, will retry")
        else:
            tree[key] = LocalEntry(entry.name, entry.kind, entry.size, entry.mtime_ns, entry.inode, digest)
            result.hashed_files += 1
            result.hashed_bytes += entry.size
