"""The three-way merge: decides, from three trees, what a sync must do. Never touches disk,
network or clock.

`plan(local, remote, synced, options)` compares each side with the last synced state (DESIGN §2,
`sync-decisions.md` rows 1–19) and returns actions. Everything it needs arrives as arguments, the time
for conflict names included, so the same inputs always give the same plan; that is what lets the
property tests and the multi-client simulation check it exhaustively.

The work is done in three passes:
1. names a case-insensitive remote cannot hold side by side are moved aside (row 16);
2. renames are recognised by identity on each side and replayed as moves (rows 10, 11, 14), and the
   trees are rebased as if the moves had happened;
3. every remaining key is merged on its own (`_merge_key`), with directory subtrees summarised so
   that a directory is deleted only when nothing new or changed lives below it (row 15).

Speed: a sync of 100,000 files where little changed must plan in a fraction of a second, so no pass
is O(n) per change: keys that agree on all three trees are set aside in one pass before the merge
(by a set difference for the keys the caller's scans found unchanged: `quiet`), subtrees are found
without scanning a tree when nothing lies below (`_Below`), and file counts per deleted folder come
from one count.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from pansync.actions import (
    PHASE_MOVE,
    Action,
    Download,
    Forget,
    LocalMkdir,
    LocalMove,
    LocalRename,
    LocalTrash,
    Record,
    RemoteMkdir,
    RemoteMove,
    RemoteRename,
    RemoteTrash,
    Upload,
)
from pansync.model import (
    Kind,
    LocalEntry,
    LocalTree,
    RemoteEntry,
    RemoteTree,
    SyncedEntry,
    SyncedTree,
)
from pansync.names import (
    ancestors,
    ancestors_of,
    below_any,
    case_conflict_name,
    conflict_copy_name,
    covered,
    is_under,
)

__all__ = ["Conflict", "Plan", "PlanOptions", "plan"]

State = Literal["absent", "same", "changed"]
_E = TypeVar("_E", LocalEntry, RemoteEntry)


def _identity(key: str) -> str:
    return key


@dataclass(frozen=True)
class PlanOptions:
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


@dataclass(frozen=True, slots=True)
class Conflict:
    key: str
    copy_key: str
    reason: str


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    conflicts: tuple[Conflict, ...] = ()

    @property
    def deletions(self) -> int:
        """Files this plan deletes on either side that no other client decided (mass-delete guard)."""
        total = 0
        for action in self.actions:
            if isinstance(action, RemoteTrash) or (isinstance(action, LocalTrash) and not action.committed):
                total += action.files
        return total

    def by_phase(self) -> list[list[Action]]:
        phases: dict[int, list[Action]] = {}
        for action in self.actions:
            phases.setdefault(action.phase, []).append(action)
        return [phases[p] for p in sorted(phases)]


# -- comparisons ------------------------------------------------------------------------------------


def _same_content(kind_a: Kind, md5_a: str, kind_b: Kind, md5_b: str) -> bool:
    return kind_a is kind_b and (kind_a is Kind.DIR or md5_a == md5_b)


def _local_state(entry: LocalEntry | None, synced: SyncedEntry | None) -> State:
    if entry is None:
        return "absent"
    if synced is None:
        return "changed"
    return "same" if _same_content(entry.kind, entry.md5, synced.kind, synced.md5) else "changed"


def _remote_state(entry: RemoteEntry | None, synced: SyncedEntry | None) -> State:
    if entry is None:
        return "absent"
    if synced is None:
        return "changed"
    return "same" if _same_content(entry.kind, entry.md5, synced.kind, synced.md5) else "changed"


def _fingerprints_match(local: LocalEntry, remote: RemoteEntry, synced: SyncedEntry) -> bool:
    """Whether the synced record still describes both entries (so no Record is needed).

    A folder's mtime changes whenever something inside it does; for folders only the names and
    identities count, or every change below a folder would rewrite its record too."""
    same_ids = (
        local.name == synced.local_name
        and local.inode == synced.local_inode
        and remote.name == synced.remote_name
        and remote.remote_id == synced.remote_id
    )
    if local.kind is Kind.DIR:
        return same_ids
    return (
        same_ids
        and local.size == synced.size
        and local.mtime_ns == synced.local_mtime_ns
        and remote.size == synced.size
        and remote.mtime_ns == synced.remote_mtime_ns
    )


def _blocked(tree: Mapping[str, LocalEntry] | Mapping[str, RemoteEntry], key: str) -> bool:
    """A move cannot land below a path that is still a file on the side it moves on."""
    return any(a in tree and tree[a].kind is Kind.FILE for a in ancestors(key))


def _rebase_name(name: str, old_prefix: str, new_prefix: str) -> str:
    if name == old_prefix:
        return new_prefix
    return new_prefix + name[len(old_prefix) :]


def _made_dir(like: _E, name: str) -> _E:
    """A parent directory that a move creates; its identity is learnt at the next scan."""
    if isinstance(like, LocalEntry):
        return replace(like, name=name, kind=Kind.DIR, size=0, md5="", inode=0, mtime_ns=0)
    return replace(like, name=name, kind=Kind.DIR, size=0, md5="", remote_id="", mtime_ns=0)


def _quiet(local: LocalEntry, remote: RemoteEntry | None, synced: SyncedEntry | None) -> bool:
    """True when a key needs nothing: all three trees hold it with the same content and the synced
    record still matches both sides (`_merge_key`'s no-op), so nothing above it is dirty either."""
    if remote is None or synced is None:
        return False
    kind = local.kind
    if (
        remote.kind is not kind
        or synced.kind is not kind
        or local.name != synced.local_name
        or local.inode != synced.local_inode
        or remote.name != synced.remote_name
        or remote.remote_id != synced.remote_id
    ):
        return False
    if kind is Kind.DIR:
        return True
    return (
        local.md5 == remote.md5 == synced.md5
        and local.size == synced.size == remote.size
        and local.mtime_ns == synced.local_mtime_ns
        and remote.mtime_ns == synced.remote_mtime_ns
    )


class _Below:
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


def _rebase_tree(tree: dict[str, _E], old: str, new: str, new_name: str, below: _Below) -> None:
    """Move a subtree within one side's tree; parents the move creates appear as directories."""
    keys = below.subtree(tree, old)
    if not keys:
        return
    root = tree.get(old)
    old_name = root.name if root else old
    for key in keys:
        entry = tree.pop(key)
        new_key = _rebase_name(key, old, new)
        tree[new_key] = replace(entry, name=_rebase_name(entry.name, old_name, new_name))
        below.added(tree, new_key)
    if root is None:
        return
    name = new_name
    for ancestor in ancestors(new):
        name = posixpath.dirname(name)
        if ancestor in tree:
            break
        tree[ancestor] = _made_dir(root, name)
        below.added(tree, ancestor)


# -- the planner --------------------------------------------------------------------------------------


@dataclass
class _Planner:
    """The three trees as given, read-only (`MappingProxyType`), until a pass must change them:
    `_own` then copies them once. A sync that finds no move, rename or frozen path copies nothing
    (three 100,000-entry dicts and a set of every name, 20 MB at the peak of a no-op)."""

    options: PlanOptions
    local: Mapping[str, LocalEntry]
    remote: Mapping[str, RemoteEntry]
    synced: Mapping[str, SyncedEntry]
    actions: list[Action] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    moved_local: set[str] = field(default_factory=set)
    local_moves: list[tuple[str, str]] = field(default_factory=list)
    sequence: int = 0
    below: _Below = field(default_factory=_Below)
    file_counts: dict[str, int] | None = None
    """Synced files below each folder, counted once in the merge (`_files_under`)."""
    _taken: set[str] | None = None
    _owned: tuple[dict[str, LocalEntry], dict[str, RemoteEntry], dict[str, SyncedEntry]] | None = None

    @property
    def taken(self) -> set[str]:
        """Every name in use on any tree as the planner first saw them (folded on a case-insensitive
        remote), and every name it has handed out since: new names never collide with these."""
        if self._taken is None:
            fold = self._fold
            self._taken = {fold(key) for tree in (self.local, self.remote, self.synced) for key in tree}
        return self._taken

    def _own(self) -> tuple[dict[str, LocalEntry], dict[str, RemoteEntry], dict[str, SyncedEntry]]:
        """The trees as the planner's own dicts, copied on the first call."""
        if self._owned is None:
            _ = self.taken  # the names as given, before any pass moves one
            self._owned = (dict(self.local), dict(self.remote), dict(self.synced))
            self.local, self.remote, self.synced = self._owned
            self.below = _Below()  # it knows the given trees by id
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

    # -- pass 1: case collisions --------------------------------------------------------------------

    def resolve_case_collisions(self, *, renames_pending: bool) -> None:
        """Row 16: on a case-insensitive remote, one visible name per folder; others move aside.

        Run before rename detection (`renames_pending`: a case-only rename is left for it) and
        again after it, since a replayed move can bring a case twin into a folder.
        """
        if self.options.remote_case_sensitive:
            return
        while self._move_one_case_twin_aside(renames_pending):
            pass

    def _move_one_case_twin_aside(self, renames_pending: bool) -> bool:
        owners = {key.casefold(): key for key in self.remote}
        inode_of_gone = {e.local_inode: k for k, e in self.synced.items() if k not in self.local}
        for key in sorted(self.local, key=lambda k: (k.count("/"), k)):
            folded = key.casefold()
            owner = owners.setdefault(folded, key)
            if owner == key:
                continue
            if not renames_pending:
                self._rename_local_aside(key, self.case_conflict_key(key), "case conflict")
                return True
            gone = inode_of_gone.get(self.local[key].inode)
            if key not in self.synced and gone is not None and gone.casefold() == folded:
                continue  # a local case-only rename of a synced item: replayed as a move
            synced = self.synced.get(key)
            if (
                synced is not None
                and owner in self.remote
                and owner not in self.synced
                and synced.remote_id == self.remote[owner].remote_id
            ):
                continue  # a case-only rename in the cloud: replayed as a local move
            self._rename_local_aside(key, self.case_conflict_key(key), "case conflict")
            return True
        return False

    def _rename_local_aside(
        self, key: str, new_key: str, reason: Literal["conflict", "case conflict"]
    ) -> None:
        local = self._own()[0]
        entry = local[key]
        self.actions.append(LocalRename(key, new_key, entry, reason, phase=self._next_phase(PHASE_MOVE)))
        if reason == "case conflict":  # the user's file changes name: say so, as for row 6
            why = "differs only in case from another name; the remote ignores case"
            self.conflicts.append(Conflict(key, new_key, why))
        for child in self.below.subtree(local, key):
            moved = local.pop(child)
            child_key = _rebase_name(child, key, new_key)
            local[child_key] = replace(moved, name=_rebase_name(moved.name, entry.name, new_key))
            self.below.added(local, child_key)
            self.taken.add(self._fold(child_key))

    # -- pass 2: renames ----------------------------------------------------------------------------

    def detect_local_moves(self) -> None:
        """Rows 10, 11, 14: a synced item gone locally whose identity reappears at a new key."""
        if self.synced.keys() <= self.local.keys():
            return  # nothing synced is gone locally: nothing can have moved
        self._detect_local_dir_moves()
        new_files_by_inode: dict[int, str] = {}
        new_files_by_md5: dict[str, list[str]] = {}
        for key in self._new_keys(self.local, self.remote):
            entry = self.local[key]
            if entry.kind is Kind.FILE:
                new_files_by_inode[entry.inode] = key
                new_files_by_md5.setdefault(entry.md5, []).append(key)
        gone = [k for k in self._gone_keys(self.local) if self.synced[k].kind is Kind.FILE]
        for old in gone:  # the moves below rebase the remote tree, never the local one
            synced = self.synced[old]
            if synced.kind is not Kind.FILE or old in self.local:
                continue
            new = new_files_by_inode.get(synced.local_inode)
            if new is None or self.local[new].md5 != synced.md5:
                same_content = new_files_by_md5.get(synced.md5, [])
                new = same_content[0] if len(same_content) == 1 and synced.size > 0 else None
            if new is None or new in self.synced or new in self.moved_local:
                continue
            remote = self.remote.get(old)
            if remote is None or remote.kind is not Kind.FILE or _blocked(self.remote, new):
                continue
            self.actions.append(
                RemoteMove(old, new, remote, self.local[new], phase=self._next_phase(PHASE_MOVE))
            )
            self.moved_local.add(new)
            self.local_moves.append((old, new))
            self._rebase(old, new, local_moved=True)

    def _new_keys(self, side: Mapping[str, object], other: Mapping[str, object]) -> list[str]:
        """Keys only `side` holds (neither the synced tree nor the other side), sorted: found by set
        differences in C, where a pass over 100,000 entries took a tenth of a second."""
        return sorted(side.keys() - self.synced.keys() - other.keys())

    def _gone_keys(self, side: Mapping[str, object]) -> list[str]:
        """Synced keys `side` no longer holds, sorted."""
        return sorted(self.synced.keys() - side.keys())

    def _detect_local_dir_moves(self) -> None:
        while True:
            new_dirs = {
                self.local[k].inode: k
                for k in self._new_keys(self.local, self.remote)
                if self.local[k].kind is Kind.DIR
            }
            found: list[tuple[str, str]] = []
            for old in self._gone_keys(self.local):
                synced = self.synced[old]
                if synced.kind is not Kind.DIR:
                    continue
                new = new_dirs.get(synced.local_inode)
                remote = self.remote.get(old)
                if new is None or remote is None or remote.kind is not Kind.DIR:
                    continue
                if is_under(new, old) or is_under(old, new) or _blocked(self.remote, new):
                    continue
                found.append((old, new))
            if not found:
                return
            old, new = min(found, key=lambda pair: (pair[1].count("/"), pair[1], pair[0]))
            self.actions.append(
                RemoteMove(old, new, self.remote[old], self.local[new], phase=self._next_phase(PHASE_MOVE))
            )
            self.local_moves.append((old, new))
            self._rebase(old, new, local_moved=True)

    def detect_remote_moves(self) -> None:
        """The mirror of `detect_local_moves`: a cloud rename (web app, another client)."""
        if self.synced.keys() <= self.remote.keys():
            return  # nothing synced is gone from the cloud: nothing can have moved
        while True:
            new_dirs = {
                self.remote[k].remote_id: k
                for k in self._new_keys(self.remote, self.local)
                if self.remote[k].kind is Kind.DIR
            }
            found: list[tuple[str, str]] = []
            for old in self._gone_keys(self.remote):
                synced = self.synced[old]
                if synced.kind is not Kind.DIR:
                    continue
                new = new_dirs.get(synced.remote_id)
                local = self.local.get(old)
                if new is None or local is None or local.kind is not Kind.DIR:
                    continue
                if is_under(new, old) or is_under(old, new) or self._crosses_local_move(old, new):
                    continue
                if _blocked(self.local, new):
                    continue
                found.append((old, new))
            if not found:
                break
            old, new = min(found, key=lambda pair: (pair[1].count("/"), pair[1], pair[0]))
            self.actions.append(
                LocalMove(old, new, self.local[old], self.remote[new], phase=self._next_phase(PHASE_MOVE))
            )
            self._rebase(old, new, local_moved=False)
        new_files = {
            self.remote[k].remote_id: k
            for k in self._new_keys(self.remote, self.local)
            if self.remote[k].kind is Kind.FILE
        }
        gone = [k for k in self._gone_keys(self.remote) if self.synced[k].kind is Kind.FILE]
        for old in gone:  # the moves below rebase the local tree, never the remote one
            synced = self.synced[old]
            if synced.kind is not Kind.FILE or old in self.remote:
                continue
            new = new_files.get(synced.remote_id)
            if new is None or self.remote[new].md5 != synced.md5:
                continue
            local = self.local.get(old)
            if local is None or local.kind is not Kind.FILE or new in self.local:
                continue
            if self._crosses_local_move(old, new) or _blocked(self.local, new):
                continue
            self.actions.append(
                LocalMove(old, new, local, self.remote[new], phase=self._next_phase(PHASE_MOVE))
            )
            self._rebase(old, new, local_moved=False)

    def _crosses_local_move(self, old: str, new: str) -> bool:
        """Moves on both sides that nest in each other are not replayed: plain copies are safe."""

        def related(a: str, b: str) -> bool:
            return is_under(a, b) or is_under(b, a)

        return any(related(x, y) for pair in self.local_moves for x in pair for y in (old, new))

    def _rebase(self, old: str, new: str, *, local_moved: bool) -> None:
        """Pretend the move happened: the other side's tree and the synced tree follow it."""
        local, remote, synced = self._own()
        if local_moved:
            local_name, remote_name = local[new].name, self.options.to_remote_name(new)
        else:
            local_name, remote_name = new, remote[new].name
        root = synced[old]
        for key in self.below.subtree(synced, old):
            entry = synced.pop(key)
            new_key = _rebase_name(key, old, new)
            synced[new_key] = replace(
                entry,
                local_name=_rebase_name(entry.local_name, root.local_name, local_name),
                remote_name=_rebase_name(entry.remote_name, root.remote_name, remote_name),
            )
            self.below.added(synced, new_key)
        if local_moved:
            _rebase_tree(remote, old, new, remote_name, self.below)
        else:
            _rebase_tree(local, old, new, local_name, self.below)

    # -- pass 3: per-key merge ----------------------------------------------------------------------

    def merge(self) -> None:
        local, remote, synced = self.local, self.remote, self.synced
        # Quiet keys yield no action and dirty no folder: leaving them out changes nothing else.
        # The caller's hint holds while no action before the merge has rebased a tree.
        known = self.options.quiet if not self.actions else frozenset()
        busy = [k for k in local.keys() - known if not _quiet(local[k], remote.get(k), synced.get(k))]
        busy.extend(remote.keys() - local.keys())
        busy.extend(synced.keys() - local.keys() - remote.keys())
        keys = sorted(busy)
        local_dirty, remote_dirty = self._dirty_dirs(keys)
        for key in keys:
            self._merge_key(key, key in local_dirty, key in remote_dirty)

    def _dirty_dirs(self, keys: list[str]) -> tuple[set[str], set[str]]:
        """Directories below which something is new or changed (or frozen) on each side."""
        local_dirty: set[str] = set()
        remote_dirty: set[str] = set()
        for key in keys:
            synced = self.synced.get(key)
            if _local_state(self.local.get(key), synced) == "changed":
                local_dirty.update(ancestors(key))
            if _remote_state(self.remote.get(key), synced) == "changed":
                remote_dirty.update(ancestors(key))
        for key in self.options.frozen:
            local_dirty.update(ancestors(key))
            remote_dirty.update(ancestors(key))
        return local_dirty, remote_dirty

    def _merge_key(self, key: str, local_dirty: bool, remote_dirty: bool) -> None:
        local = self.local.get(key)
        remote = self.remote.get(key)
        synced = self.synced.get(key)
        lstate = _local_state(local, synced)
        rstate = _remote_state(remote, synced)
        act = self.actions.append

        if local is None and remote is None:
            if synced is not None:
                act(Forget(key))  # row 4
            return
        if local is not None and remote is not None:
            if _same_content(local.kind, local.md5, remote.kind, remote.md5):
                if synced is None or not _fingerprints_match(local, remote, synced):
                    act(Record(key, local, remote))  # rows 5, 13, 19
                return
            if lstate == "same":
                self._push_remote_change(key, local, remote, local_dirty)  # rows 2, 8
                return
            if rstate == "same":
                self._push_local_change(key, local, remote, remote_dirty)  # rows 2, 8
                return
            self._conflict(key, local, remote)  # rows 6, 9
            return
        if local is not None:  # the cloud has nothing here
            if rstate == "absent" and lstate == "same":
                if local.kind is Kind.DIR and local_dirty:
                    act(RemoteMkdir(key, local))  # row 15: re-create around survivors
                else:
                    act(
                        LocalTrash(
                            key,
                            local,
                            self._files_under(key),  # row 3
                            committed=key in self.options.committed_deletions,
                        )
                    )
                return
            self._create_remote(key, local)  # rows 1, 7 (edit beats delete)
            return
        assert remote is not None
        if lstate == "absent" and rstate == "same" and synced is not None:
            if remote.kind is Kind.DIR and remote_dirty:
                act(LocalMkdir(key, remote))  # row 15
            else:
                act(RemoteTrash(key, remote, self._files_under(key)))  # row 3
            return
        self._create_local(key, remote)  # rows 1, 7

    def _create_remote(self, key: str, local: LocalEntry) -> None:
        if local.kind is Kind.DIR:
            self.actions.append(RemoteMkdir(key, local))
        else:
            self.actions.append(Upload(key, local, None))

    def _create_local(self, key: str, remote: RemoteEntry) -> None:
        if remote.kind is Kind.DIR:
            self.actions.append(LocalMkdir(key, remote))
        else:
            self.actions.append(Download(key, remote, None))

    def _push_remote_change(
        self, key: str, local: LocalEntry, remote: RemoteEntry, local_dirty: bool
    ) -> None:
        """Local side unchanged, cloud changed: bring the cloud version down."""
        if local.kind is Kind.FILE and remote.kind is Kind.FILE:
            self.actions.append(Download(key, remote, local))
            return
        if local.kind is Kind.DIR and local_dirty:  # row 9: the directory keeps the name
            self._remote_aside(key, remote)
            self.actions.append(RemoteMkdir(key, local))
            return
        self.actions.append(LocalTrash(key, local, self._files_under(key)))  # row 8
        self._create_local(key, remote)

    def _push_local_change(
        self, key: str, local: LocalEntry, remote: RemoteEntry, remote_dirty: bool
    ) -> None:
        """Cloud side unchanged, local changed: send the local version up."""
        if local.kind is Kind.FILE and remote.kind is Kind.FILE:
            self.actions.append(Upload(key, local, remote))
            return
        if remote.kind is Kind.DIR and remote_dirty:  # row 9: the directory keeps the name
            self._local_aside(key, local)
            self.actions.append(LocalMkdir(key, remote))
            return
        self.actions.append(RemoteTrash(key, remote, self._files_under(key)))  # row 8
        self._create_remote(key, local)

    def _conflict(self, key: str, local: LocalEntry, remote: RemoteEntry) -> None:
        """Rows 6 and 9: keep both. The cloud's version was committed first and keeps the name,
        except that a directory always keeps it over a file."""
        if local.kind is Kind.DIR:
            self._remote_aside(key, remote)
            self.actions.append(RemoteMkdir(key, local))
            return
        self._local_aside(key, local)
        self._create_local(key, remote)

    def _local_aside(self, key: str, local: LocalEntry) -> None:
        copy = self.conflict_key(key)
        self.actions.append(LocalRename(key, copy, local, "conflict", phase=self._next_phase(PHASE_MOVE)))
        self.actions.append(Upload(copy, replace(local, name=copy), None))
        self.conflicts.append(Conflict(key, copy, "changed on both sides"))

    def _remote_aside(self, key: str, remote: RemoteEntry) -> None:
        copy = self.conflict_key(key)
        moved = replace(remote, name=self.options.to_remote_name(copy))
        self.actions.append(RemoteRename(key, copy, remote, "conflict", phase=self._next_phase(PHASE_MOVE)))
        self.actions.append(Download(copy, moved, None))
        self.conflicts.append(Conflict(key, copy, "file replaced by a folder on the other side"))

    def _files_under(self, key: str) -> int:
        entry = self.synced.get(key)
        if entry is None or entry.kind is Kind.FILE:
            return 1
        if self.file_counts is None:  # the synced tree no longer changes once the merge runs
            counts: dict[str, int] = {}
            for k, e in self.synced.items():
                if e.kind is Kind.FILE:
                    for ancestor in ancestors(k):
                        counts[ancestor] = counts.get(ancestor, 0) + 1
            self.file_counts = counts
        return self.file_counts.get(key, 0)

    # -- finishing ----------------------------------------------------------------------------------

    def coalesce_trash(self) -> None:
        """One trash action for a whole deleted directory instead of one per file inside it."""
        remote_dirs = {
            a.key for a in self.actions if isinstance(a, RemoteTrash) and a.remote.kind is Kind.DIR
        }
        local_dirs = {a.key for a in self.actions if isinstance(a, LocalTrash) and a.local.kind is Kind.DIR}

        self.actions = [
            a
            for a in self.actions
            if not (isinstance(a, RemoteTrash) and below_any(a.key, remote_dirs))
            and not (isinstance(a, LocalTrash) and below_any(a.key, local_dirs))
        ]


def _without_frozen(tree: dict[str, Any], frozen: frozenset[str]) -> None:
    if not frozen:
        return
    for key in [k for k in tree if covered(k, frozen)]:
        del tree[key]


def plan(local: LocalTree, remote: RemoteTree, synced: SyncedTree, options: PlanOptions) -> Plan:
    """Decide what to do so that both sides agree again, losing nothing."""
    planner = _Planner(options, MappingProxyType(local), MappingProxyType(remote), MappingProxyType(synced))
    if options.frozen:
        for tree in planner._own():
            _without_frozen(tree, options.frozen)
    planner.resolve_case_collisions(renames_pending=True)
    planner.detect_local_moves()
    planner.detect_remote_moves()
    planner.resolve_case_collisions(renames_pending=False)
    planner.merge()
    planner.coalesce_trash()
    order = sorted(range(len(planner.actions)), key=lambda i: (planner.actions[i].phase, i))
    return Plan(tuple(planner.actions[i] for i in order), tuple(planner.conflicts))
