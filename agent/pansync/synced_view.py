"""The synced tree as one sync sees it: read whole once, then patched with what the sync wrote.

Job: hand the session the synced tree (the base of the three-way merge) as the state database
holds it now, without reading 100,000 records again after every round; remember, for each key the
sync changed, the record it held when the sync began (an index delta is made of the difference,
`shared_index.changed_entries`) and which keys changed since the load (a snapshot delta's keys).
Limit: the database stays the truth; this is a copy kept in step with the writes of this sync's
connection (`StateStore.touched`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping

from pansync.model import SyncedEntry
from pansync.state import StateStore

__all__ = ["PATCH_MAX", "SyncedView"]

PATCH_MAX = 2000
"""More written keys than this (a first sync) and the synced tree is read again whole: one query
beats two per key."""


class SyncedView:
    """One sync's copy of the synced tree; `begin` at the start of every sync."""

    def __init__(self, state: StateStore) -> None:
        self._state = state
        self._tree: dict[str, SyncedEntry] | None = None
        self._since = -1
        """`StateStore.loaded_version` of the whole read."""
        self.changed: set[str] = set()
        """The keys the tree was patched at since that read."""
        self._before: dict[str, SyncedEntry | None] = {}
        self._before_whole = False
        self.reads = 0
        """Whole reads so far: `changed` holds the keys written since the last of them."""

    def begin(self) -> None:
        """Forget the copy: another process may have written the database since the last sync."""
        self._tree = None

    @property
    def before(self) -> Mapping[str, SyncedEntry | None] | None:
        """The records (None: no record) of every key in `changed` as this sync first read them;
        None when a second whole read came between (more than `PATCH_MAX` keys written)."""
        return self._before if self._before_whole else None

    def of(self, scope: frozenset[str] | None) -> dict[str, SyncedEntry]:
        """The tree a sync of `scope` compares against: `whole()`, or (scoped) `around(scope)`."""
        return self.whole() if scope is None else self.around(scope)

    def around(self, scope: frozenset[str]) -> dict[str, SyncedEntry]:
        """The records of `scope`, what lies below it and its parents, read now."""
        return self._state.load_synced_around(scope)

    def whole(self) -> dict[str, SyncedEntry]:
        """The whole tree as the database holds it now: read once per sync, then patched with the
        subtrees the executor wrote, which for a 100,000-file folder and a few hundred changes is
        a small fraction of reading it again."""
        state = self._state
        touched, state.touched = state.touched, set()
        if self._tree is None or len(touched) > PATCH_MAX:
            self._before_whole = self._tree is None  # a second whole read loses what it replaced
            self._tree = state.load_synced()
            self.reads += 1
            self._since = state.loaded_version
            self.changed = set()
            self._before = {}
        elif touched:
            tree, changed, before = self._tree, self.changed, self._before
            order = sorted(tree)  # a subtree is then one slice: a walk up from 100,000 keys took 0.3 s
            for key in touched:
                for at in (key, *order[bisect_left(order, key + "/") : bisect_left(order, key + "0")]):
                    if at not in changed:  # "0" follows "/": the keys "key/..." lie between the two
                        before[at] = tree.get(at)
                        changed.add(at)
                    tree.pop(at, None)
            tree.update(state.load_synced_around(touched))  # the parents it adds are unchanged
        return self._tree

    @property
    def since(self) -> int:
        """`PRAGMA data_version` at the last whole read (`StateStore.committed_elsewhere`)."""
        return self._since

    def held(self) -> dict[str, SyncedEntry] | None:
        """The copy as it stands, if it is the table (read, and patched with every write made
        since); None when `whole()` would read or patch."""
        return self._tree if self._tree is not None and not self._state.touched else None

    def save_snapshot(self) -> None:
        """Keep the whole tree where the next sync loads it fastest (`StateStore.save_snapshot`);
        OSError when it cannot be written (only a cache: the next sync reads the database)."""
        if self._tree is not None:
            self._state.save_snapshot(self.whole(), self._since, self.changed)
