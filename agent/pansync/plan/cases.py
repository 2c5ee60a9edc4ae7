"""Pass 1 of the planner: names a case-insensitive remote cannot hold side by side (row 16) are
moved aside, before rename detection and again after it."""

from __future__ import annotations

from typing import Literal

from msgspec.structs import replace

from pansync.actions import PHASE_MOVE, LocalRename
from pansync.plan.state import Conflict, PlannerState, rebase_name

__all__ = ["CaseCollisions"]


class CaseCollisions(PlannerState):
    """Pass 1, run twice: before rename detection and after it."""

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
            child_key = rebase_name(child, key, new_key)
            local[child_key] = replace(moved, name=rebase_name(moved.name, entry.name, new_key))
            self.below.added(local, child_key)
            self.taken.add(self._fold(child_key))
