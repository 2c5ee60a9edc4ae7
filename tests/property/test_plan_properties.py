"""CanopyCheck for PanSync: perturb a synced tree on both sides, plan, apply in shuffled order,
re-plan until quiet; then both sides are equal and no content is lost.

The trees are in memory (`world.py`) so hypothesis can try thousands of cases and shrink a failure to
a handful of steps. Names mix case twins and Chinese punctuation on purpose.
"""

from __future__ import annotations

import os
import random
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from pansync.model import Kind, LocalEntry, RemoteEntry, SyncedEntry
from pansync.plan import PlanOptions, plan
from tests.property.world import Node, Side, World, new_id
from tests.unchanged import unchanged_keys

NAMES = ["a", "b", "B", "中文", "x.txt", "X.txt", "报告：终稿.docx"]
MAX_ROUNDS = 8


def content(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["unique", "unique", "unique", "shared", "empty"]))
    if kind == "shared":
        return b"shared"
    if kind == "empty":
        return b""
    return f"v{new_id()}".encode()


def free_path(draw: st.DrawFn, side: Side) -> str | None:
    dirs = [""] + [k for k, n in side.nodes.items() if n.kind is Kind.DIR and k.count("/") < 2]
    parent = draw(st.sampled_from(sorted(dirs)))
    name = draw(st.sampled_from(NAMES))
    path = f"{parent}/{name}" if parent else name
    return None if side.find(path) is not None else path


@st.composite
def base_tree(draw: st.DrawFn) -> Side:
    side = Side()
    for _ in range(draw(st.integers(0, 8))):
        path = free_path(draw, side)
        if path is None:
            continue
        if draw(st.booleans()):
            side.put(path, Node(Kind.DIR))
        else:
            side.put(path, Node(Kind.FILE, content(draw)))
    return side


def perturb(draw: st.DrawFn, side: Side, *, trash_old: bool) -> None:
    """User edits on one side. `trash_old` models another PanSync client, which keeps what it replaces."""
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from(["create", "mkdir", "edit", "delete", "rename", "swap"]))
        existing = sorted(side.nodes)
        if op in ("create", "mkdir"):
            path = free_path(draw, side)
            if path is not None:
                side.put(path, Node(Kind.DIR) if op == "mkdir" else Node(Kind.FILE, content(draw)))
            continue
        if not existing:
            continue
        path = draw(st.sampled_from(existing))
        node = side.nodes[path]
        if op == "edit" and node.kind is Kind.FILE:
            if trash_old:
                side.trash.append(node.content)
            node.content = content(draw)
            node.version = new_id()
            if draw(st.booleans()):
                node.ident = new_id()  # an editor that saves by writing a new file
        elif op == "delete":
            if trash_old:
                side.remove(path)
            else:
                for key in side.subtree(path):
                    del side.nodes[key]
        elif op == "rename":
            target = free_path(draw, side)
            if target is not None and not target.startswith(path + "/"):
                side.move(path, target)
        elif op == "swap":
            if trash_old:
                side.remove(path)
            else:
                for key in side.subtree(path):
                    del side.nodes[key]
            side.put(path, Node(Kind.FILE, content(draw)) if node.kind is Kind.DIR else Node(Kind.DIR))


def all_contents(*sides: Side) -> set[bytes]:
    found: set[bytes] = set()
    for side in sides:
        found.update(n.content for n in side.nodes.values() if n.kind is Kind.FILE)
        found.update(side.trash)
    return found


def unchanged_on_both_sides(
    local: dict[str, LocalEntry],
    remote: dict[str, RemoteEntry],
    synced: dict[str, SyncedEntry],
    rng: random.Random,
) -> frozenset[str]:
    """Most of the keys whose two entries are the ones their synced record describes, as the
    scans report them (`ScanResult.unchanged`, `RemoteTree.unchanged`): the planner's `quiet` hint."""
    both = unchanged_keys(local, synced) & unchanged_keys(remote, synced)
    return frozenset(key for key in sorted(both) if rng.random() < 0.8)


def sync_until_quiet(world: World, rng: random.Random, case_sensitive: bool) -> int:
    options = PlanOptions(
        client_name="alice",
        now=datetime(2026, 11, 26, 15, 30, tzinfo=timezone.utc),
        remote_case_sensitive=case_sensitive,
    )
    for rounds in range(1, MAX_ROUNDS + 1):
        local, remote = world.local_tree(), world.remote_tree()
        given = (dict(local), dict(remote), dict(world.synced))
        result = plan(local, remote, world.synced, options)
        assert (local, remote, world.synced) == given  # the planner works on its own copies
        hint = unchanged_on_both_sides(local, remote, world.synced, rng)
        assert plan(local, remote, world.synced, replace(options, quiet=hint)) == result, sorted(hint)
        if not result.actions:
            return rounds
        for phase in result.by_phase():
            rng.shuffle(phase)
            for action in phase:
                world.apply(action)
    raise AssertionError(f"no convergence after {MAX_ROUNDS} rounds")


@pytest.mark.parametrize("case_sensitive", [True, False], ids=["file-remote", "case-insensitive-remote"])
@settings(
    max_examples=int(os.environ.get("PANSYNC_PROPERTY_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data(), base=base_tree(), seed=st.integers(0, 2**32))
def test_plan_converges_and_loses_nothing(
    case_sensitive: bool, data: st.DataObject, base: Side, seed: int
) -> None:
    world = World(remote_case_sensitive=case_sensitive)
    for key in sorted(base.nodes):
        node = base.nodes[key]
        world.local.put(key, Node(node.kind, node.content))
        if case_sensitive:  # half the time the first sync meets a populated remote
            world.remote.put(key, Node(node.kind, node.content))
    sync_until_quiet(world, random.Random(seed), case_sensitive)
    world.local.trash.clear()
    world.remote.trash.clear()

    perturb(data.draw, world.local, trash_old=False)
    perturb(data.draw, world.remote, trash_old=True)
    before = all_contents(world.local, world.remote) | all_contents(base)

    sync_until_quiet(world, random.Random(seed + 1), case_sensitive)

    assert world.local.contents() == world.remote.contents()
    assert set(world.synced) == set(world.local.nodes)
    after = all_contents(world.local, world.remote)
    lost = {c for c in before - after if c}
    assert not lost, f"lost contents: {lost}"
