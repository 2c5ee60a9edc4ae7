"""The planner's working state, shared by its three passes (`cases`, `moves`, `merge`): the three
trees, read-only until a pass must change them, the names in use, and the order of phases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from datetime import datetime

from msgspec import Struct

from pansync.actions import Action
from pansync.model import LocalEntry, RemoteEntry, SyncedEntry
from pansync.names import ancestors, ancestors_of, case_conflict_name, conflict_copy_name, is_under

__all__ = ["Below", "Conflict", "PlanOptions", "PlannerState", "rebase_name"]


_Trees = tuple[dict[str, LocalEntry], dict[str, RemoteEntry], dict[str, SyncedEntry]]
"""The planner's own copies of the local, remote and synced trees."""


def _identity(key: str) -> str:
    return key


class PlanOptions(Struct, frozen=True):
    client_name: str
    now: datetime
    """Only used to name conflict copies; never to pick a winner."""
    remote_case_sensitive: bool = True
    frozen: frozenset[str] = frozenset()
    """Keys whose whole subtree is left alone: excluded, unreadable, unsupported or busy paths."""
    committed_deletions: frozenset[str] = frozenset()
    """Keys whose absence from the cloud another client committed to the shared index."""
    to_remote_name: Callable[[str], str] = _identity
    """The remote backend's name mapping for keys that do not exist there yet."""
    quiet: AbstractSet[str] = frozenset()
    """Keys whose local and remote entries the caller built from their synced records (the scan's
    and the listing's fast paths): `_quiet` holds for them, so the merge sets them aside without
    comparing 100,000 entries. Only a hint: ignored once a move or a rename has rebased the trees."""


class Conflict(Struct, frozen=True):
    key: str
    copy_key: str
    reason: str


def rebase_name(name: str, old_prefix: str, new_prefix: str) -> str:
    if name == old_prefix:
        return new_prefix
    return new_prefix + name[len(old_prefix) :]


class Below:
    """`[k for k in tree if is_under(k, key)]` without scanning the tree when nothing lies below
    `key` (a moved file, the usual case). Per tree it keeps a superset of the keys that have
    something below them, built after a few questions and grown wherever the planner adds a key
    (`added`); never shrunk, since a stale member only costs the scan the question used to cost."""

    SCANS_BEFORE_INDEX = 4

    def __init__(self) -> None:
        self._parents: dict[int, set[str]] = {}
        self._scans: dict[int, int] = {}

    def subtree(self, tree: Mapping[str, object], key: str) -> list[str]:
        parents = self._parents.get(id(tree))
        if parents is None:
            scans = self._scans.get(id(tree), 0)
            if scans < self.SCANS_BEFORE_INDEX:
                self._scans[id(tree)] = scans + 1
                return [k for k in tree if is_under(k, key)]
            parents = ancestors_of(tree)
            self._parents[id(tree)] = parents
        if key not in parents:
            return [key] if key in tree else []
        return [k for k in tree if is_under(k, key)]

    def added(self, tree: Mapping[str, object], key: str) -> None:
        parents = self._parents.get(id(tree))
        if parents is not None:
            parents.update(ancestors(key))


class PlannerState:
    """The three trees as given, read-only (`MappingProxyType`), until a pass must change them:
    `_own` then copies them once. A sync that finds no move, rename or frozen path copies nothing
    (three 100,000-entry dicts and a set of every name, 20 MB at the peak of a no-op).

    A plain class, not a dataclass: its generated methods cost ~1 ms of every command's start-up,
    and nothing compares or prints planner states."""

    def __init__(
        self,
        options: PlanOptions,
        local: Mapping[str, LocalEntry],
        remote: Mapping[str, RemoteEntry],
        synced: Mapping[str, SyncedEntry],
    ) -> None:
        self.options = options
        self.local = local
        self.remote = remote
        self.synced = synced
        self.actions: list[Action] = []
        self.conflicts: list[Conflict] = []
        self.moved_local: set[str] = set()
        self.local_moves: list[tuple[str, str]] = []
        self.sequence = 0
        self.below = Below()
        self.file_counts: dict[str, int] | None = None
        """Synced files below each folder, counted once in the merge (`_files_under`)."""
        self._taken: set[str] | None = None
        self._owned: _Trees | None = None

    @property
    def taken(self) -> set[str]:
        """Every name in use on any tree as the planner first saw them (folded on a case-insensitive
        remote), and every name it has handed out since: new names never collide with these."""
        if self._taken is None:
            fold = self._fold
            self._taken = {fold(key) for tree in (self.local, self.remote, self.synced) for key in tree}
        return self._taken

    def _own(self) -> _Trees:
        """The trees as the planner's own dicts, copied on the first call."""
        if self._owned is None:
            _ = self.taken  # the names as given, before any pass moves one
            self._owned = (dict(self.local), dict(self.remote), dict(self.synced))
            self.local, self.remote, self.synced = self._owned
            self.below = Below()  # it knows the given trees by id
        return self._owned

    def _next_phase(self, base: int) -> int:
        """Renames may nest, so each runs in a phase of its own, in the order decided."""
        self.sequence += 1
        return base + self.sequence

    def _fold(self, key: str) -> str:
        return key if self.options.remote_case_sensitive else key.casefold()

    def _unique(self, make: Callable[[int], str]) -> str:
        n = 1
        while True:
            candidate = make(n)
            if self._fold(candidate) not in self.taken:
                self.taken.add(self._fold(candidate))
                return candidate
            n += 1

    def conflict_key(self, key: str) -> str:
        when = self.options.now
        who = self.options.client_name
        return self._unique(lambda n: conflict_copy_name(key, who if n == 1 else f"{who} {n}", when))

    def case_conflict_key(self, key: str) -> str:
        who = self.options.client_name
        return self._unique(lambda n: case_conflict_name(key, who if n == 1 else f"{who} {n}"))
