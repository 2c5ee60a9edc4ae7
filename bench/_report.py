"""Turns samples into the markdown of BENCHMARKS.md: medians, min..max, ratios, and (for a full run)
the targets of the benchmark issue, each marked met or not.

Only the block between the `bench:begin` and `bench:end` markers is rewritten; the rest of the file
(the change log) is left as written. Limit: formats; measures nothing.
"""

from __future__ import annotations

import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from _fakepcs import PcsResult
from _harness import Sample
from _hashing import HashResult
from _sync import PHASES, SizeResult

BEGIN = "<!-- bench:begin: written by `python bench --all`; edit outside these markers -->"
END = "<!-- bench:end -->"
MIB = 1024 * 1024

SYNC_TARGETS = {
    ("noop", 10_000): 1.5,
    ("noop", 100_000): 1.0,
    ("mutate", 10_000): 1.5,
    ("mutate", 100_000): 1.0,
    ("init", 10_000): 1.0,
    ("init", 100_000): 1.0,
}
"""(phase, files) -> most PanSync may take, as a multiple of Unison's median wall time."""
FLOOR_TARGET = 1.5
RSS_TARGET_MB = 150.0
HASH_TARGET = 0.9
PCS_TARGETS = {"big": 0.9, "small": 0.7}


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def _version(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        return "absent"
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, unison: {_version(['unison', '-version'])}, "
        f"rclone: {_version(['rclone', 'version'])}"
    )


def _cell(samples: list[Sample]) -> tuple[float, str, float, float, str]:
    walls = [s.wall_s for s in samples]
    notes = sorted({s.verify for s in samples} - {"-"})
    rcs = sorted({s.rc for s in samples})
    note = " ".join(([f"verify={','.join(notes)}"] if notes else []) + ([] if rcs == [0] else [f"rc={rcs}"]))
    return (
        _median(walls),
        f"{min(walls):.2f}..{max(walls):.2f}",
        _median(s.cpu_s for s in samples),
        max(s.maxrss_mib for s in samples),
        note,
    )


def best_peer(size: SizeResult, phase: str, peers: list[str]) -> tuple[str, float] | None:
    found = [
        (p, _median(s.wall_s for s in size.samples[(p, phase)])) for p in peers if (p, phase) in size.samples
    ]
    return min(found, key=lambda item: item[1]) if found else None


def sync_table(sizes: list[SizeResult], tools: list[str], peers: list[str]) -> list[str]:
    out = [
        "| files | phase | tool | reps | wall s (median) | wall min..max | user+sys s | peak RSS MiB "
        "| PanSync / best peer | notes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        for phase in PHASES:
            best = best_peer(size, phase, peers)
            for tool in tools:
                samples = size.samples.get((tool, phase))
                if not samples:
                    continue
                wall, spread, cpu, rss, note = _cell(samples)
                ratio = ""
                if best is not None and tool.startswith("pansync"):
                    ratio = f"{wall / best[1]:.2f}x {best[0]}"
                out.append(
                    f"| {size.files:,} | {phase} | {tool} | {len(samples)} | {wall:.2f} | {spread} | "
                    f"{cpu:.2f} | {rss:.0f} | {ratio} | {note} |"
                )
    return out


def hash_lines(result: HashResult) -> list[str]:
    md5sum = result.mb_s(result.md5sum_s)
    ours = result.mb_s(result.pansync_s)
    rows = [
        f"File: {result.size / MIB:.0f} MiB from the page cache, {len(result.pansync_s)} runs each, "
        f"alternating; MD5s {'agree' if result.agree else 'DIFFER'}. MB = 10^6 bytes.",
        "",
        "| variant | MB/s (median) | MB/s min..max | vs md5sum |",
        "|---|---|---|---|",
    ]
    for name, runs, rate in (
        ("`md5sum` (coreutils, whole command)", result.md5sum_s, md5sum),
        ("`pansync.hashing.hash_file` (MD5 + slice MD5 + CRC32)", result.pansync_s, ours),
    ):
        rates = [result.size / 1e6 / s for s in runs]
        rows.append(f"| {name} | {rate:.0f} | {min(rates):.0f}..{max(rates):.0f} | {rate / md5sum:.2f}x |")
    return rows


def pcs_lines(result: PcsResult) -> list[str]:
    rows = [
        f"fakepcs `--bandwidth {result.cap}` ({result.cap / MIB:.0f} MiB/s each way); "
        "`BaiduRemote.upload`, 4 at a time.",
        "",
        "| case | files | payload MiB | wall s | payload rate / cap | upload bytes received | "
        "all bytes received |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in result.cases:
        rows.append(
            f"| {case.name} | {case.files:,} | {case.payload / MIB:.1f} | {case.wall_s:.2f} | "
            f"{case.fraction:.0%} | {case.upload_in:,} | {case.wire_in:,} |"
        )
    return rows


def target_lines(
    sizes: list[SizeResult], hashing: HashResult | None, pcs: PcsResult | None, peers: list[str]
) -> list[str]:
    rows = ["| target | figure | met |", "|---|---|---|"]

    def add(what: str, figure: str, ok: bool) -> None:
        rows.append(f"| {what} | {figure} | {'yes' if ok else '**no**'} |")

    for size in sizes:
        ours = {p: size.samples.get(("pansync", p)) for p in PHASES}
        for phase in PHASES:
            limit = SYNC_TARGETS.get((phase, size.files))
            samples = ours[phase]
            if limit is None or not samples or ("unison", phase) not in size.samples:
                continue
            unison = _median(s.wall_s for s in size.samples[("unison", phase)])
            mine = _median(s.wall_s for s in samples)
            add(
                f"{phase}, {size.files:,} files: <= {limit}x Unison",
                f"{mine / unison:.2f}x",
                mine <= limit * unison,
            )
        if ours["init"] and ("rclone_bisync", "init") in size.samples:
            bisync = _median(s.wall_s for s in size.samples[("rclone_bisync", "init")])
            mine = _median(s.wall_s for s in ours["init"])
            add(
                f"init, {size.files:,} files: far below rclone bisync (<= 0.5x)",
                f"{mine / bisync:.2f}x",
                mine <= 0.5 * bisync,
            )
        if ours["noop"] and size.floor_s and size.files >= 100_000:
            mine = _median(s.wall_s for s in ours["noop"])
            add(
                f"noop, {size.files:,} files: <= {FLOOR_TARGET}x the scandir+stat floor "
                f"({size.floor_s:.2f} s)",
                f"{mine / size.floor_s:.2f}x",
                mine <= FLOOR_TARGET * size.floor_s,
            )
        if size.files >= 100_000 and any(ours.values()):
            peak = max(s.maxrss_mib for p in PHASES for s in (ours[p] or []))
            add(
                f"peak RSS, {size.files:,} files: < {RSS_TARGET_MB:.0f} MB",
                f"{peak * MIB / 1e6:.0f} MB",
                peak * MIB / 1e6 < RSS_TARGET_MB,
            )
    if hashing is not None:
        ratio = hashing.mb_s(hashing.pansync_s) / hashing.mb_s(hashing.md5sum_s)
        add(f"hash_file >= {HASH_TARGET}x md5sum throughput", f"{ratio:.2f}x", ratio >= HASH_TARGET)
    if pcs is not None:
        for case in pcs.cases:
            if case.name in PCS_TARGETS:
                add(
                    f"fakepcs upload, {case.name} files: >= {PCS_TARGETS[case.name]:.0%} of the cap",
                    f"{case.fraction:.0%}",
                    case.fraction >= PCS_TARGETS[case.name],
                )
            elif "rapid" in case.name:
                add(
                    "second upload of content the cloud has: 0 payload bytes",
                    f"{case.upload_in:,} B",
                    case.upload_in == 0,
                )
    return rows


def render(
    command: str,
    sizes: list[SizeResult],
    tools: list[str],
    peers: list[str],
    hashing: HashResult | None,
    pcs: PcsResult | None,
    agent: list[str] | None,
    *,
    judge: bool,
    notes: list[str],
    mutate: int = 100,
) -> str:
    loads = [load for size in sizes for load in size.loads]
    lines = [
        BEGIN,
        "## Results",
        "",
        f"Command: `{command}` — {time.strftime('%Y-%m-%d %H:%M %Z')}.",
        f"Machine: {machine()}.",
        f"Load averages seen during the sync runs (1/5/15 min): {', '.join(loads) or 'n/a'}. The machine is "
        "shared: compare figures only within one run.",
    ]
    lines += [f"Note: {note}" for note in notes]
    if sizes:
        lines += [
            "",
            "### Sync: local folder to local folder (PanSync: `pansync sync` with its `file://` remote)",
            "",
            "Same seeded `mktree.py` tree for every tool; `init` = populated to empty (state wiped each "
            f"repetition), `noop` = nothing changed, `mutate` = after `mktree.py --mutate {mutate}` "
            f"({mutate} modified, {mutate // 2} added, {mutate // 4} deleted). Every command is a fresh "
            "process; CPU and peak RSS from `wait4`; byte code compiled beforehand, as after `pip install`.",
            "",
            *sync_table(sizes, tools, peers),
            "",
        ]
        floors = [f"{s.files:,} files: {s.floor_s:.2f} s" for s in sizes if s.floor_s]
        if floors:
            lines.append(
                f"Scan floor (`scanbench.py scandir-stat`, in-process, median of 3): {'; '.join(floors)}."
            )
    if hashing is not None:
        lines += ["", "### Hashing", "", *hash_lines(hashing)]
    if pcs is not None:
        lines += ["", "### Baidu path: fakepcs with a bandwidth cap", "", *pcs_lines(pcs)]
    lines += ["", "### Agent: latency and idle cost", ""]
    if agent is None:
        agent = ["Not run (`--quick`, or `--only` without `agent`)."]
    lines += agent or [
        "TODO: `bench/agent_bench.py` (the real-time agent's latency and idle CPU) is not there yet."
    ]
    if judge:
        lines += ["", "### Targets", "", *target_lines(sizes, hashing, pcs, peers)]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_block(path: Path, block: str) -> None:
    """Replace the marked block of `path` (or append it when there is none)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text, encoding="utf-8")
