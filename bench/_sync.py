"""The sync benchmark: initial sync, no-op re-sync and re-sync after a change, PanSync and its peers
on the same generated tree, runs alternating between the tools (peers.sh's method, interleaved).

For each size: one pristine tree from `mktree.py` (seeded), copied to each tool's local folder;
then `init` (empty remote and state before every repetition), `noop` (nothing changed, warm cache)
and `mutate` (`mktree.py --mutate K` with seed 1000+rep on every tool's tree, then the timed sync).
Within a repetition the tools take turns, so slow drifts of a shared machine hit them alike.
Limit: collects samples; `_report` turns them into medians and ratios.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _harness import PEERS, PanSync, Sample, Tool, copy_tree, load, make_tree, mutate_tree, remove, scan_floor

PHASES = ("init", "noop", "mutate")


@dataclass
class SizeResult:
    """Every sample of one tree size, by (tool, phase), and the machine's scan floor for it."""

    files: int
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)
    floor_s: float | None = None
    loads: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SyncPlan:
    sizes: tuple[int, ...]
    reps: dict[str, int]
    seed: int = 42
    mutate: int = 100
    big_mib: int | None = None
    """mktree's budget of 1–16 MiB files (its default: N/50 MiB)."""


def make_tools(work: Path, peers: list[str], baseline_engine: Path | None) -> list[Tool]:
    tools: list[Tool] = [PanSync("pansync", work / "pansync")]
    if baseline_engine is not None:
        tools.append(PanSync("pansync-before", work / "pansync-before", engine=baseline_engine))
    for name in peers:
        tools.append(PEERS[name][1](name, work / name))
    return tools


def run_size(
    plan: SyncPlan,
    files: int,
    work: Path,
    shared: Path,
    tools: list[Tool],
    say: Callable[[str], None],
) -> SizeResult:
    result = SizeResult(files)
    result.loads.append(load())
    src = make_tree(shared, work / f"src_N{files}_s{plan.seed}", files, plan.seed, plan.big_mib)
    say(f"N={files}: tree ready ({src}); copying it for {len(tools)} tools")
    for tool in tools:
        copy_tree(src, tool.local)
        tool.reset()
        tool.prepare()

    def record(tool: Tool, phase: str, rep: int) -> None:
        sample = tool.measure(phase)
        result.samples.setdefault((tool.name, phase), []).append(sample)
        note = "" if sample.rc == 0 else f" rc={sample.rc} (see {tool.log})"
        check = "" if sample.verify == "-" else f" verify={sample.verify}"
        say(
            f"  N={files} {phase:6s} rep {rep} {tool.name:15s} wall {sample.wall_s:7.2f}s  "
            f"cpu {sample.cpu_s:7.2f}s  rss {sample.maxrss_mib:6.0f} MiB{check}{note}"
        )

    for rep in range(1, plan.reps["init"] + 1):
        for tool in tools:
            tool.reset()
            record(tool, "init", rep)
    for rep in range(1, plan.reps["noop"] + 1):
        for tool in tools:
            record(tool, "noop", rep)
    for rep in range(1, plan.reps["mutate"] + 1):
        # >2 s between edit rounds: Unison -times compares mtimes in 2-second buckets (peers.sh).
        time.sleep(2.1)
        for tool in tools:
            mutate_tree(shared, tool.local, plan.mutate, 1000 + rep)
            record(tool, "mutate", rep)
    result.floor_s = scan_floor(shared, tools[0].local)
    result.loads.append(load())
    for tool in tools:
        remove(tool.base)
    return result
