"""The remote tree a sync plans against: the cloud's listing (whole, or around a scope) turned into
keys, every file with its true MD5 (carried over from the synced record or the shared index while
the listing's fingerprint is unchanged, computed otherwise), and what cannot be synced set aside.

A whole listing of a large local-folder remote runs in a forked child (`pansync.forked`) while the
caller scans the local folder: the two walks then take one core each. The child compares each
folder's digest with the stored one (`folder_digests`) and reads the synced tree, through its own
connection, only for a folder that is not clean; when none is, its answer is one line: the cloud is
the synced tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from itertools import chain
from operator import itemgetter
from stat import S_ISDIR, S_ISREG
from typing import Any

from msgspec import Struct, field

from pansync import forked
from pansync.errors import ItemError, ListingError, RemoteError, UnsafePath
from pansync.folder_digests import digest_listing
from pansync.gc_pause import gc_paused
from pansync.ignore import IgnoreRules, builtin_match
from pansync.index import SharedIndex
from pansync.model import Kind, RemoteEntry, SyncedEntry
from pansync.names import (
    all_nfc,
    ancestors_of,
    below_any,
    covered,
    key_of,
    printable,
    validate_rel_path,
)
from pansync.remote.base import Remote
from pansync.remote.local import LocalRemote, remote_entry, unsyncable
from pansync.scan import ScanIssue
from pansync.shared_index import known_md5

__all__ = ["RemoteTree", "list_remote", "listing_ahead", "take"]

FORK_MIN = 5000
"""Synced entries from which a whole listing of a local-folder remote is worth a child process
(a fork and the trip of the result through a pipe cost a few milliseconds per thousand entries)."""

PART_ROWS = 4096
"""Entries per part sent from the child (see `forked`)."""


class RemoteTree(Struct):
    tree: dict[str, RemoteEntry] = field(default_factory=dict)
    issues: list[ScanIssue] = field(default_factory=list)
    frozen: set[str] = field(default_factory=set)
    """Keys left alone on both sides this time (unreadable, unsafe or ambiguous in the cloud)."""
    unchanged: set[str] = field(default_factory=set)
    """Keys whose entry is the one their synced record describes: the planner's `quiet` hint."""
    digests: dict[str, bytes] = field(default_factory=dict)
    """The digests of the folders found clean (`folder_digests`), where the listing compared them."""
    quiet: bool = False
    """Every folder was found clean by its digest and the listing holds as many entries as the
    synced tree: the cloud is the synced tree (`tree` is left empty when the caller said so)."""

    def skipper(self, from_remote_name: Callable[[str], str]) -> Callable[[str, str], None]:
        """Where the backend reports an entry it passed over (a symlink on a NAS): reported and left
        alone, never taken as a deletion. The backend keeps this for the whole sync, so it holds
        the issues and frozen keys alone: the tree itself (100,000 entries) goes with its round."""
        issues, frozen = self.issues, self.frozen

        def skipped(name: str, why: str) -> None:
            key = key_of(from_remote_name(name))
            issues.append(ScanIssue(printable(key), f"in the cloud folder: {why}; not synced"))
            frozen.add(key)

        return skipped


def list_remote(
    remote: Remote,
    index: Callable[[], SharedIndex | None],
    synced: dict[str, SyncedEntry],
    ignore: IgnoreRules,
    scope: frozenset[str] | None = None,
) -> RemoteTree:
    """List the cloud (completely, or the scope) and give every file its true MD5."""
    result = RemoteTree()
    if hasattr(remote, "on_skip"):
        remote.on_skip = result.skipper(remote.from_remote_name)
    _judge(result, _listing(remote, synced, scope), remote, index, lambda: synced, ignore)
    return result


def _judge(
    result: RemoteTree,
    listing: Iterable[RemoteEntry],
    remote: Remote,
    index: Callable[[], SharedIndex | None],
    records: Callable[[], dict[str, SyncedEntry]],
    ignore: IgnoreRules,
) -> None:
    """Turn listed entries into the tree's keys and entries, in listing order (a twin listed second
    is the one reported), each file with its true MD5. The synced tree is asked for only when
    there is an entry to judge (a listing of clean folders may yield none).

    A folder listed under its synced name and identity keeps its record's mtime: a folder's mtime
    moves with every change inside it, and nothing is decided by it."""
    listing = iter(listing)
    first = next(listing, None)
    if first is None:
        return
    listing = chain((first,), listing)
    synced = records()
    tree, issues, frozen, unchanged = result.tree, result.issues, result.frozen, result.unchanged
    by_id: dict[str, SyncedEntry] | None = None  # built on the first file not at its synced key
    trusted = remote.caps.trusted_md5
    passed_over: set[str] = set()  # ignored folders: nothing below them counts
    from_remote_name = remote.from_remote_name
    file_kind, dir_kind = Kind.FILE, Kind.DIR
    for entry in listing:
        name = entry.name
        at_key = synced.get(name)
        try:
            if at_key is not None and at_key.remote_name == name:
                key = name  # a synced key under its synced name: checked when it was recorded
            else:
                key = validate_rel_path(key_of(from_remote_name(name)))
                at_key = synced.get(key)
        except UnsafePath as exc:
            issues.append(ScanIssue(printable(name), f"unsafe name in the cloud listing: {exc.message}"))
            passed_over.add(name)
            continue
        if (passed_over and below_any(key, passed_over)) or (frozen and covered(key, frozen)):
            continue
        is_dir = entry.kind is dir_kind
        if ignore.matches(key, is_dir=is_dir):
            passed_over.add(key)
            continue
        if key in tree:
            issues.append(ScanIssue(key, "two cloud names differ only in Unicode form; rename one"))
            frozen.add(key)
            continue
        if is_dir:
            if (
                at_key is not None
                and at_key.kind is dir_kind
                and at_key.remote_id == entry.remote_id
                and at_key.remote_name == name
            ):
                if key == name:
                    key = name = at_key.remote_name  # the synced tree's string: shared, not copied
                entry = RemoteEntry(
                    name, dir_kind, entry.size, at_key.remote_mtime_ns, entry.remote_id, entry.md5
                )
                unchanged.add(key)
        else:
            record = at_key
            if record is None or record.remote_id != entry.remote_id:
                if by_id is None:
                    by_id = {e.remote_id: e for e in synced.values() if e.kind is file_kind}
                record = by_id.get(entry.remote_id, record)
            if (
                record is not None
                and record.remote_id == entry.remote_id
                and record.size == entry.size
                and record.remote_mtime_ns == entry.mtime_ns
            ):
                if key == name == record.remote_name:
                    key = name = record.remote_name  # the synced tree's string: shared, not copied
                # the record's objects, not the listing's equal ones
                entry = RemoteEntry(
                    name, file_kind, record.size, record.remote_mtime_ns, record.remote_id, record.md5
                )
                if record is at_key and name == record.remote_name:
                    unchanged.add(key)
            elif md5 := known_md5(index(), key, entry):
                entry = _with_md5(entry, md5)
            elif not (trusted and entry.md5):
                try:
                    entry = _with_md5(entry, remote.checksum(entry.name))
                except ItemError as exc:
                    issues.append(ScanIssue(key, exc.message))
                    frozen.add(key)
                    continue
        tree[key] = entry


def listing_ahead(
    remote: Remote,
    index: Callable[[], SharedIndex | None],
    records: Callable[[], dict[str, SyncedEntry]],
    ignore: IgnoreRules,
    *,
    count: int,
    digests: Mapping[str, bytes] | None = None,
) -> AbstractContextManager[forked.Ahead | None]:
    """Start the whole listing in a child now, when that is worth it (a large local-folder remote:
    `count` synced entries); `take` then turns the child's answer back into the tree that
    `list_remote` gives. `records` gives the synced tree in the child, read there only if a folder
    is not clean by its stored digest (`digests`, for a synced tree of `count` entries)."""
    if not isinstance(remote, LocalRemote) or count < FORK_MIN:
        return nullcontext()

    def work() -> Iterator[Any]:
        # Paused in the child above all: a collection writes to every object it scans, and so would
        # copy the parent's synced tree page by page into the child.
        with gc_paused():
            listed = RemoteTree()
            remote.on_skip = listed.skipper(remote.from_remote_name)
            walk = _QuietWalk(records, digests)
            _judge(listed, _quiet_listing(remote, ignore, walk), remote, index, walk.records, ignore)
            listed.quiet = walk.busy == 0 and walk.entries == count and not listed.issues
        return _flatten(listed, walk)

    return forked.ahead(work)


def take(
    ahead: forked.Ahead | None,
    remote: Remote,
    records: Callable[[], dict[str, SyncedEntry]],
    *,
    tree_needed: bool = True,
) -> RemoteTree | None:
    """The child's listing, or None when there was no child or it failed (list in-process then).
    When the cloud is the synced tree (`quiet`) and the caller said it needs no `tree_needed`, the
    tree is left empty and the synced tree is not asked for."""
    if ahead is None:
        return None
    result = RemoteTree()
    kinds = (Kind.FILE, Kind.DIR)
    try:
        parts = ahead.parts()
        result.quiet, result.digests = next(parts)
        if result.quiet and not tree_needed:
            for _ in parts:  # the one empty part that closes the answer
                pass
            return result
        synced = records()
        with gc_paused():
            # Every synced entry as its record describes it, built while the child may still be
            # listing: in a quiet folder that is nearly the whole answer, and this the work it
            # would ask for. Rows replace what changed; what the child did not send goes at the end.
            tree = result.tree = {
                key: RemoteEntry(r.remote_name, r.kind, r.size, r.remote_mtime_ns, r.remote_id, r.md5)
                for key, r in synced.items()
            }
            sent: set[str] = set()
            changed: set[str] = set()
            for differing, rows, issues, frozen in parts:
                result.issues.extend(ScanIssue(rel, message) for rel, message in issues)
                result.frozen.update(frozen)
                changed.update(differing)
                for key, name, is_dir, size, mtime_ns, remote_id, md5 in rows:
                    tree[key] = RemoteEntry(name, kinds[is_dir], size, mtime_ns, remote_id, md5)
                    sent.add(key)
            result.unchanged = synced.keys() - changed  # the synced tree's strings: none sent
            for key in changed - sent:
                del tree[key]  # gone from the cloud, or listed under another key
    except (forked.ChildFailed, StopIteration):
        return None
    if hasattr(remote, "on_skip"):
        # later `stat` calls report into this tree, as after an in-process listing
        remote.on_skip = result.skipper(remote.from_remote_name)
    return result


class _QuietWalk:
    """What the child's walk learns beside its entries: the folders clean by their digests, how
    many entries it found in them, and whether any folder was not (the synced tree is read then)."""

    def __init__(
        self, records: Callable[[], dict[str, SyncedEntry]], stored: Mapping[str, bytes] | None
    ) -> None:
        self._records = records
        self._synced: dict[str, SyncedEntry] | None = None
        self.stored = stored
        self.clean: dict[str, bytes] = {}
        self.quiet: list[str] = []
        """Keys found unchanged without an entry made for them (see `_quiet_listing`)."""
        self.entries = 0
        """Entries in the folders clean by their digests."""
        self.busy = 0
        """Folders judged entry by entry."""

    def records(self) -> dict[str, SyncedEntry]:
        if self._synced is None:
            self._synced = self._records()
        return self._synced


def _flatten(listed: RemoteTree, walk: _QuietWalk) -> Iterator[Any]:
    """The listing in parts: first (whether the cloud is the synced tree, the clean folders'
    digests); then rows for the entries that are not the ones their synced records describe, and
    with the last part the synced keys that are not (changed, gone, or listed under another name),
    issues and frozen keys. The unchanged keys, most of them, are not sent at all: the parent has
    them already, as the synced tree's keys.

    `walk.quiet` are unchanged keys found by `_quiet_listing`; of the judged entries, an unchanged
    one's was built from its record (`_judge`)."""
    yield listed.quiet, walk.clean
    if listed.quiet:
        yield [], [], [], []
        return
    synced = walk.records()
    same = set(walk.quiet)
    rows: list[tuple[str, str, bool, int, int, str, str]] = []
    unchanged = listed.unchanged
    for key, e in listed.tree.items():
        if key in unchanged:
            same.add(key)
        else:
            rows.append((key, e.name, e.kind is Kind.DIR, e.size, e.mtime_ns, e.remote_id, e.md5))
            if len(rows) == PART_ROWS:
                yield [], rows, [], []
                rows = []
    differing = list(synced.keys() - same)
    yield differing, rows, [(i.rel_path, i.message) for i in listed.issues], sorted(listed.frozen)


def _quiet_listing(remote: LocalRemote, ignore: IgnoreRules, walk: _QuietWalk) -> Iterator[RemoteEntry]:
    """`remote.list_tree()` for the forked child, minus the entries `_judge` would surely find
    unchanged: their keys go to `walk.quiet` instead, and no entry object is made for them.

    Surely unchanged: a file or folder listed under its synced name, with its synced identity (and
    a file its size and mtime), not ignored, in a folder listed the same way whose names are all
    NFC. Everything below any other folder is yielded, so that what `_judge` does for a name
    depending on its folder (passing over an ignored or unsafe one, freezing a twin's) still
    happens; the child's tree is the in-process one (`tests/e2e/test_forked_listing.py`).

    A folder of such entries only is clean; one whose digest is its stored one is clean without a
    look at a record (all of its entries are quiet then, and no record is read)."""
    builtin, pattern = builtin_match, ignore.match_pattern
    file_kind, dir_kind = Kind.FILE, Kind.DIR
    quiet, clean, stored = walk.quiet, walk.clean, walk.stored
    quiet_folders = {""}
    synced: dict[str, SyncedEntry] | None = None
    for prefix, listed in remote.walk():
        found = None
        if stored is not None and prefix in quiet_folders:
            found = digest_listing((name, st) for name, _, st in listed)
            if stored.get(prefix) == found:
                clean[prefix] = found
                for _, rel, st in listed:
                    quiet.append(rel)
                    if S_ISDIR(st.st_mode):
                        quiet_folders.add(rel)
                walk.entries += len(listed)
                continue
        walk.busy += 1
        if synced is None:
            synced = walk.records()
        folder_quiet = prefix in quiet_folders and all_nfc(map(itemgetter(0), listed))
        same = 0
        for name, rel, st in listed:
            mode = st.st_mode
            is_dir = S_ISDIR(mode)
            if not (is_dir or S_ISREG(mode)):
                remote.on_skip(rel, unsyncable(mode))
                continue
            record = synced.get(rel) if folder_quiet else None
            if (
                record is None
                or record.remote_name != rel
                or record.kind is not (dir_kind if is_dir else file_kind)
                or record.remote_id != str(st.st_ino)
                or builtin(name) is not None
                or (pattern is not None and pattern(rel + "/" if is_dir else rel))
                or (not is_dir and (record.size != st.st_size or record.remote_mtime_ns != st.st_mtime_ns))
            ):
                yield remote_entry(rel, st)
                continue
            if is_dir:
                quiet_folders.add(rel)  # its names may be quiet too
            quiet.append(rel)
            same += 1
        if found is not None and same == len(listed):
            clean[prefix] = found


def _listing(
    remote: Remote, synced: dict[str, SyncedEntry], scope: frozenset[str] | None
) -> Iterator[RemoteEntry]:
    """The whole cloud folder, or (scoped) the scope's keys, what lies below them and their parents."""
    if scope is None:
        yield from remote.list_tree()
        return

    def spelling(key: str) -> str:
        record = synced.get(key)
        return record.remote_name if record is not None else remote.to_remote_name(key)

    blocked: set[str] = set()  # parents missing or not folders in the cloud: nothing below to ask
    try:
        for parent in sorted(ancestors_of(scope)):
            if below_any(parent, blocked):
                continue
            found = remote.stat(spelling(parent))
            if found is None or found.kind is not Kind.DIR:
                blocked.add(parent)
            if found is not None:
                yield found
        for key in sorted(scope):
            if below_any(key, blocked):
                continue
            found = remote.stat(spelling(key))
            if found is None:
                continue
            yield found
            if found.kind is Kind.DIR:
                yield from remote.list_tree(found.name)
    except RemoteError as exc:
        raise ListingError(str(exc)) from exc


def _with_md5(entry: RemoteEntry, md5: str) -> RemoteEntry:
    return RemoteEntry(entry.name, entry.kind, entry.size, entry.mtime_ns, entry.remote_id, md5)
