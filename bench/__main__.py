"""PanSync's benchmarks, from the repository root: `python bench --all` or `python bench --quick`.

    .venv/bin/python bench --all      # everything; rewrites the results block of BENCHMARKS.md
    .venv/bin/python bench --quick    # a small smoke (CI): runs every part, checks results, no judging

`--all`: PanSync against Unison and rclone bisync (installed with apt-get when missing and allowed)
on 10,000- and 100,000-file trees — initial sync, no-op re-sync, re-sync after the 175-file change —
then `hash_file` against `md5sum` on 1 GiB, uploads to fakepcs under a bandwidth cap, and the agent
benchmark (`bench/agent_bench.py`) when it is there. Figures are medians of alternating runs,
ratios are PanSync over the best peer, and each target of the benchmark issue is marked met or not.

`--quick`: a 300-file tree, a 64 MiB file, a small fakepcs upload; peers only if installed. It fails
(exit 1) only when a result is wrong — both sides differ, a command fails, the MD5s disagree, or a
rapid upload moves payload — never because something is slow.

The shared tools (`mktree.py`, `scanbench.py`) are read from `../shared/bench` beside the
repository at run time (`--shared DIR` to override).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from _fakepcs import PcsResult, run_pcs
from _harness import PYTHON, REPO, BenchError, ensure_peers, loop_filesystem, shared_bench_dir
from _hashing import HashResult, run_hashing
from _report import render, write_block
from _sync import SizeResult, SyncPlan, make_tools, run_size

MIB = 1024 * 1024


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--all", action="store_true", help="the full benchmark; rewrites BENCHMARKS.md")
    mode.add_argument("--quick", action="store_true", help="a small smoke run; judges no speed")
    p.add_argument("--sizes", help="comma-separated tree sizes (default 10000,100000; quick: 300)")
    p.add_argument("--reps", help="repetitions init,noop,mutate (default 3,5,3; quick: 1,2,1)")
    p.add_argument("--only", help="comma-separated parts: sync,hash,pcs,agent (default: all of them)")
    p.add_argument("--workdir", help="scratch folder (default: a temporary one; --all: /tmp/pansync-bench)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (trees are reused)")
    p.add_argument(
        "--loopfs", metavar="SIZE", help="run on a fresh journaled ext4 of SIZE (e.g. 48G) at the workdir"
    )
    p.add_argument("--no-install", action="store_true", help="never apt-get install missing peers")
    p.add_argument("--shared", help="folder with mktree.py and scanbench.py (default ../shared/bench)")
    p.add_argument("--baseline-engine", metavar="DIR", help="also run the engine in DIR (holding `pansync/`)")
    p.add_argument("--pcs-cap-mib", type=float, default=8.0, help="fakepcs bandwidth cap, MiB/s (default 8)")
    p.add_argument(
        "--output", default=str(REPO / "BENCHMARKS.md"), help="file whose results block to rewrite"
    )
    p.add_argument("--no-write", action="store_true", help="print the results; do not rewrite the file")
    return p.parse_args(argv)


def _agent_bench() -> list[str]:
    script = REPO / "bench" / "agent_bench.py"
    if not script.is_file():
        return []
    done = subprocess.run(
        [PYTHON, str(script), "--json"], capture_output=True, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        return [f"`bench/agent_bench.py --json` failed ({done.returncode}): {' '.join(tail)}"]
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return ["`bench/agent_bench.py --json` printed no JSON; run it by hand."]
    rows = ["From `bench/agent_bench.py --json`:", "", "| measure | value |", "|---|---|"]
    rows += [f"| {key} | {value} |" for key, value in result.items()]
    return rows


def main(argv: list[str]) -> int:
    args = _parse(argv)
    quick = bool(args.quick)
    parts = set((args.only or "sync,hash,pcs,agent").split(","))
    sizes = tuple(int(s) for s in (args.sizes or ("300" if quick else "10000,100000")).split(","))
    init, noop, mut = (int(n) for n in (args.reps or ("1,2,1" if quick else "3,5,3")).split(","))
    plan = SyncPlan(sizes, {"init": init, "noop": noop, "mutate": mut}, mutate=20 if quick else 100,
                    big_mib=2 if quick else None)  # fmt: skip
    failures: list[str] = []
    notes: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)

    with ExitStack() as stack:
        if args.workdir:
            work = Path(args.workdir).resolve()
        elif quick:
            work = Path(tempfile.mkdtemp(prefix="pansync-bench-"))
        else:
            work = Path("/tmp/pansync-bench")
        work.mkdir(parents=True, exist_ok=True)
        if args.loopfs:
            stack.enter_context(loop_filesystem(work, args.loopfs))
        if not (args.keep or args.workdir or args.loopfs):
            stack.callback(shutil.rmtree, work, True)

        size_results: list[SizeResult] = []
        tools: list[str] = []
        peers: list[str] = []
        if "sync" in parts:
            shared = shared_bench_dir(args.shared)
            peers = ensure_peers(install=not (quick or args.no_install))
            missing = sorted({"unison", "rclone_bisync"} - set(peers))
            if missing:
                notes.append(f"peers not installed, skipped: {', '.join(missing)}")
                say(f"bench: {notes[-1]}")
            engine = Path(args.baseline_engine).resolve() if args.baseline_engine else None
            tool_objs = make_tools(work, peers, engine)
            tools = [t.name for t in tool_objs]
            for files in sizes:
                size = run_size(plan, files, work, shared, tool_objs, say)
                size_results.append(size)
                for (tool, phase), samples in size.samples.items():
                    for s in samples:
                        if s.rc != 0 or s.verify not in ("-", "ok"):
                            failures.append(f"{tool} {phase} N={files}: rc={s.rc} verify={s.verify}")

        hashing: HashResult | None = None
        if "hash" in parts:
            hash_size = 64 * MIB if quick else 1024 * MIB
            say(f"hashing: {hash_size // MIB} MiB file, hash_file vs md5sum")
            hashing = run_hashing(work / "hash.bin", hash_size, 1 if quick else 5)
            if not hashing.agree:
                failures.append("hash_file and md5sum disagree")

        pcs: PcsResult | None = None
        if "pcs" in parts:
            cap = int((32.0 if quick else args.pcs_cap_mib) * MIB)
            big, count = (24 * MIB, 40) if quick else (200 * MIB, 2000)
            say(f"fakepcs: 1 x {big // MIB} MiB and {count} x 16 KiB at {cap / MIB:.0f} MiB/s")
            pcs_dir = work / "pcs"
            shutil.rmtree(pcs_dir / "cloud", ignore_errors=True)
            shutil.rmtree(pcs_dir / "state", ignore_errors=True)
            pcs = run_pcs(pcs_dir, cap, big, count, 16 * 1024)
            for case in pcs.cases:
                say(
                    f"  {case.name}: {case.wall_s:.2f} s, {case.fraction:.0%} of the cap, "
                    f"upload bytes {case.upload_in:,}"
                )
                if "rapid" in case.name and case.upload_in != 0:
                    failures.append(f"rapid upload moved {case.upload_in} payload bytes")

        agent: list[str] | None = None
        if "agent" in parts and not quick:
            say("agent: bench/agent_bench.py")
            agent = _agent_bench()

        command = f"python bench {' '.join(argv)}".strip()
        block = render(
            command,
            size_results,
            tools,
            peers,
            hashing,
            pcs,
            agent,
            judge=not quick,
            notes=notes,
            mutate=plan.mutate,
        )
        print(block)
        if not (quick or args.no_write):
            write_block(Path(args.output), block)
            say(f"bench: wrote {args.output}")
    if failures:
        for failure in failures:
            print(f"bench: FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(2)
