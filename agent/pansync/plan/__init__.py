"""The three-way merge: decides, from three trees, what a sync must do. Never touches disk,
network or clock.

`plan(local, remote, synced, options)` compares each side with the last synced state (DESIGN §2,
`sync-decisions.md` rows 1–19) and returns actions. Everything it needs arrives as arguments, the time
for conflict names included, so the same inputs always give the same plan; that is what lets the
property tests and the multi-client simulation check it exhaustively.

The work is done in three passes, a module each, over one working state (`state`):
1. `cases`: names a case-insensitive remote cannot hold side by side are moved aside (row 16);
2. `moves`: renames are recognised by identity on each side and replayed as moves (rows 10, 11,
   14), and the trees are rebased as if the moves had happened;
3. `merge`: every remaining key is merged on its own, with directory subtrees summarised so that a
   directory is deleted only when nothing new or changed lives below it (row 15).

Speed: a sync of 100,000 files where little changed must plan in a fraction of a second, so no pass
is O(n) per change: keys that agree on all three trees are set aside in one pass before the merge
(by a set difference for the keys the caller's scans found unchanged: `quiet`), subtrees are found
without scanning a tree when nothing lies below (`state.Below`), and file counts per deleted folder
come from one count.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from msgspec import Struct

from pansync.actions import Action, LocalTrash, RemoteTrash
from pansync.model import LocalTree, RemoteTree, SyncedTree
from pansync.names import covered
from pansync.plan.cases import CaseCollisions
from pansync.plan.merge import Merge
from pansync.plan.moves import MoveDetection
from pansync.plan.state import Conflict, PlanOptions

__all__ = ["Conflict", "Plan", "PlanOptions", "plan"]


class Plan(Struct, frozen=True):
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


class _Planner(CaseCollisions, MoveDetection, Merge):
    """The three passes over one working state (`state.PlannerState`)."""


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
