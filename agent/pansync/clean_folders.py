"""One folder's folder digests across its syncs: which a whole sync may compare (and so when it reads
the synced tree), and which it leaves for the next (`folder_digests` says what a digest vouches for).

A sync compares stored digests only while they go with the synced table as it is (its stamp) and
with the walk's shape (roots, rules, version). What a round's walks found clean is kept after the
sync, less the folders that hold a key the sync wrote, or a synced key that was not found: a
record written after the walk, or an entry gone, would make the digest vouch for what is no longer
so. Limit: keeps the file in step with the state database; the walks judge.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from msgspec import Struct

from pansync import __version__, folder_digests, forked
from pansync.folder_digests import Digests
from pansync.ignore import BUILTIN_PATTERNS, IgnoreRules
from pansync.model import SyncedEntry
from pansync.names import parent_key
from pansync.remote.base import Remote
from pansync.remote.local import LocalRemote
from pansync.state import StateStore
from pansync.synced_view import SyncedView

__all__ = ["CleanFolders", "walk_shape"]


def walk_shape(root: Path, remote: Remote, ignore: IgnoreRules) -> str:
    """What besides the synced table decides how a walk is judged: the two roots, the rules that
    leave names out, the program that judges. Digests made under another shape are not used."""
    return folder_digests.fingerprint(
        __version__, str(root), remote.url, *BUILTIN_PATTERNS, "", *ignore.patterns
    )


class _Found(Struct):
    shape: str
    local: dict[str, bytes]
    remote: dict[str, bytes]
    reads: int
    """`SyncedView.reads` when the walks were judged: a later whole read loses the written keys."""


class CleanFolders:
    """The digests of one folder's state database (stored beside it)."""

    def __init__(self, state: StateStore, view: SyncedView) -> None:
        self._state = state
        self._view = view
        self.path = folder_digests.path_beside(state.path)
        self._found: _Found | None = None
        self._shape = ""
        """The walk's shape at the last `to_compare`."""

    def load(self, shape: str) -> Digests | None:
        """The stored digests, if they go with the synced table as it is now and with `shape`."""
        return folder_digests.load(self.path, self._state.synced_stamp(), shape)

    def to_compare(self, root: Path, remote: Remote, ignore: IgnoreRules) -> Digests | None:
        """For a whole sync whose cloud listing runs in a forked child: the stored digests that go
        with the synced table, or empty ones (the walks then find which folders are clean, for the
        next sync). None where digests are not worth their cost, and while an exclusion is pending
        (its folder must leave the disk: a sync of the whole folder does that)."""
        if not isinstance(remote, LocalRemote) or not forked.can_fork():
            return None
        if any(self._state.exclusions().values()):
            return None
        self._shape = walk_shape(root, remote, ignore)
        stored = self.load(self._shape)
        return stored if stored is not None else Digests()

    def synced_source(
        self, scope: frozenset[str] | None, digests: Digests | None
    ) -> tuple[Callable[[], dict[str, SyncedEntry]], Callable[[], dict[str, SyncedEntry]], int]:
        """The synced tree as a round reads it, here and in a forked child, and its size: read now,
        or, with stored digests, only when a folder turns out not to be clean by its digest. The
        child then reads the database through a connection of its own."""
        view = self._view
        if digests is None or not digests.count:
            synced = view.of(scope)
            return (lambda: synced), (lambda: synced), len(synced)
        held, path = view.held(), self._state.path

        def in_child() -> dict[str, SyncedEntry]:
            if held is not None:
                return held
            reader = StateStore.reader(path)
            try:
                return reader.load_synced()
            finally:
                reader.close()

        return view.whole, in_child, digests.count

    def found(
        self,
        local: Mapping[str, bytes],
        remote: Mapping[str, bytes],
        synced: Mapping[str, SyncedEntry],
        sides: tuple[tuple[Collection[str], int], tuple[Collection[str], int]],
    ) -> None:
        """What a whole round that compared digests (`to_compare`) found clean, its walks judged
        against `synced`; `sides` are, for each side, the keys its walk found and how many of them
        it found unchanged (synced keys all: a folder missing a synced key is not clean)."""
        kept = [dict(local), dict(remote)]
        for folders, (found, unchanged) in zip(kept, sides, strict=True):
            if unchanged != len(synced):
                for key in synced.keys() - found:
                    folders.pop(parent_key(key), None)
        self._found = _Found(self._shape, kept[0], kept[1], self._view.reads)

    def nothing_found(self) -> None:
        """A round that did not compare digests: nothing to keep from it."""
        self._found = None

    def keep(self) -> None:
        """After a sync: store what its last whole round found, less the folders of the keys written
        since; nothing when the synced tree was read again meanwhile, or another connection wrote.
        OSError when the file cannot be written (only a cache: the next sync compares everything)."""
        found, self._found = self._found, None
        if found is None:
            return
        view, state = self._view, self._state
        tree = view.whole()  # takes in the writes made since the round
        if view.reads != found.reads or state.committed_elsewhere(view.since):
            self.forget()
            return
        folder_digests.drop_written(found.local, view.changed)
        folder_digests.drop_written(found.remote, view.changed)
        folder_digests.save(
            self.path, state.synced_stamp(), found.shape, Digests(len(tree), found.local, found.remote)
        )

    def forget(self) -> None:
        """Drop the stored digests (found not to go with the synced tree)."""
        self._found = None
        folder_digests.remove(self.path)
