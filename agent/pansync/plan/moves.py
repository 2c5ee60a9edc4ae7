"""Pass 2 of the planner: renames recognised by identity on each side (rows 10, 11, 14) and replayed
as moves, the trees rebased as if the moves had happened."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import TypeVar

from msgspec.structs import replace

from pansync.actions import PHASE_MOVE, LocalMove, RemoteMove
from pansync.model import Kind, LocalEntry, RemoteEntry
from pansync.names import ancestors, is_under
from pansync.plan.state import Below, PlannerState, rebase_name

__all__ = ["MoveDetection"]

_E = TypeVar("_E", LocalEntry, RemoteEntry)


def _blocked(tree: Mapping[str, LocalEntry] | Mapping[str, RemoteEntry], key: str) -> bool:
    """A move cannot land below a path that is still a file on the side it moves on."""
    return any(a in tree and tree[a].kind is Kind.FILE for a in ancestors(key))


def _made_dir(like: _E, name: str) -> _E:
    """A parent directory that a move creates; its identity is learnt at the next scan."""
    if isinstance(like, LocalEntry):
        return replace(like, name=name, kind=Kind.DIR, size=0, md5="", inode=0, mtime_ns=0)
    return replace(like, name=name, kind=Kind.DIR, size=0, md5="", remote_id="", mtime_ns=0)


def _rebase_tree(tree: dict[str, _E], old: str, new: str, new_name: str, below: Below) -> None:
    """Move a subtree within one side's tree; parents the move creates appear as directories."""
    keys = below.subtree(tree, old)
    if not keys:
        return
    root = tree.get(old)
    old_name = root.name if root else old
    for key in keys:
        entry = tree.pop(key)
        new_key = rebase_name(key, old, new)
        tree[new_key] = replace(entry, name=rebase_name(entry.name, old_name, new_name))
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


class MoveDetection(PlannerState):
    """Pass 2: folder moves first (outermost first), then file moves; local side, then cloud."""

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
            new_key = rebase_name(key, old, new)
            synced[new_key] = replace(
                entry,
                local_name=rebase_name(entry.local_name, root.local_name, local_name),
                remote_name=rebase_name(entry.remote_name, root.remote_name, remote_name),
            )
            self.below.added(synced, new_key)
        if local_moved:
            _rebase_tree(remote, old, new, remote_name, self.below)
        else:
            _rebase_tree(local, old, new, local_name, self.below)
