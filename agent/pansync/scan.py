"""The local tree: one walk of the sync root, hashing only what changed.

A file whose (size, mtime_ns, inode) equals its synced record keeps the synced MD5 (the fast path);
anything else is hashed. A renamed file is found by inode in the synced tree, so renaming a large
folder costs a walk, not a re-hash.

Items that cannot be judged this time — unreadable files and folders, names that are not UTF-8,
Unicode-normalization twins, files that vanish mid-scan — are reported as issues and *frozen*: the
planner leaves their paths alone, so nothing below an unreadable folder is ever taken as deleted.
Symlinks and special files are skipped with a warning. Limit: reads the disk, never writes it.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pansync.errors import RootMissing
from pansync.hashing import md5_file
from pansync.ignore import IgnoreRules
from pansync.model import Kind, LocalEntry, SyncedEntry

__all__ = ["ScanIssue", "ScanResult", "scan_local"]


@dataclass(frozen=True, slots=True)
class ScanIssue:
    rel_path: str
    message: str


@dataclass
class ScanResult:
    tree: dict[str, LocalEntry] = field(default_factory=dict)
    issues: list[ScanIssue] = field(default_factory=list)
    frozen: set[str] = field(default_factory=set)
    hashed_files: int = 0
    hashed_bytes: int = 0

    def skip(self, key: str, message: str) -> None:
        self.issues.append(ScanIssue(key, message))
        self.frozen.add(key)


def _nfc(name: str) -> str:
    return name if unicodedata.is_normalized("NFC", name) else unicodedata.normalize("NFC", name)


def _twin_owners(items: list[os.DirEntry[str]]) -> dict[str, str]:
    """Of names equal up to Unicode normalization, the one that syncs: the NFC spelling if present."""
    owners: dict[str, str] = {}
    for item in items:
        key = _nfc(item.name)
        if key not in owners or item.name == key:
            owners[key] = item.name
    return owners


def scan_local(
    root: Path,
    synced: Mapping[str, SyncedEntry],
    ignore: IgnoreRules,
    *,
    hasher: Callable[[Path], str] = md5_file,
) -> ScanResult:
    """Walk `root` and return its tree keyed by NFC path, with MD5s for every file."""
    result = ScanResult()
    by_inode: dict[int, SyncedEntry] | None = None
    try:
        if not stat.S_ISDIR(os.stat(root).st_mode):
            raise RootMissing(f"{root} is not a folder")
    except OSError as exc:
        raise RootMissing(f"{root} is not reachable: {exc.strerror}") from exc

    stack: list[tuple[str, str]] = [(str(root), "")]  # (on-disk folder path, key prefix)
    name_prefix: dict[str, str] = {"": ""}  # key prefix -> on-disk relative spelling
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if not prefix:
                raise RootMissing(f"cannot list {root}: {exc.strerror}") from exc
            result.skip(prefix, f"cannot list this folder ({exc.strerror}); left as it is")
            continue
        owner = _twin_owners(items)
        disk_prefix = name_prefix[prefix]
        for item in items:
            name = item.name
            rel_name = f"{disk_prefix}/{name}" if disk_prefix else name
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                result.issues.append(ScanIssue(rel_name, "name is not valid UTF-8; skipped"))
                continue
            key_name = _nfc(name)
            key = f"{prefix}/{key_name}" if prefix else key_name
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                result.skip(key, "vanished while scanning; will look again")
                continue
            except OSError as exc:
                result.skip(key, f"cannot read ({exc.strerror}); left as it is")
                continue
            mode = st.st_mode
            is_dir = stat.S_ISDIR(mode)
            if ignore.matches(key, is_dir=is_dir):
                continue
            if stat.S_ISLNK(mode):
                result.skip(key, "symbolic link; PanSync does not follow links")
                continue
            if not is_dir and not stat.S_ISREG(mode):
                result.skip(key, "not a regular file (FIFO, socket or device)")
                continue
            if owner.get(key_name, name) != name:
                result.issues.append(
                    ScanIssue(
                        rel_name,
                        f"same name as '{owner[key_name]}' in another Unicode form; this one is not "
                        "synced, rename it",
                    )
                )
                continue
            if is_dir:
                result.tree[key] = LocalEntry(rel_name, Kind.DIR, 0, st.st_mtime_ns, st.st_ino, "")
                name_prefix[key] = rel_name
                stack.append((item.path, key))
                continue
            record = synced.get(key)
            if record is None or record.local_inode != st.st_ino:
                if by_inode is None:
                    by_inode = {e.local_inode: e for e in synced.values() if e.kind is Kind.FILE}
                record = by_inode.get(st.st_ino, record)
            if (
                record is not None
                and record.kind is Kind.FILE
                and record.size == st.st_size
                and record.local_mtime_ns == st.st_mtime_ns
                and record.local_inode == st.st_ino
            ):
                md5 = record.md5
            else:
                try:
                    md5 = hasher(Path(item.path))
                except FileNotFoundError:
                    result.skip(key, "vanished while scanning; will look again")
                    continue
                except OSError as exc:
                    result.skip(key, f"cannot read ({exc.strerror}); skipped, will retry")
                    continue
                result.hashed_files += 1
                result.hashed_bytes += st.st_size
            result.tree[key] = LocalEntry(rel_name, Kind.FILE, st.st_size, st.st_mtime_ns, st.st_ino, md5)
    return result
