"""`python tests/sim --seeds N [--start S] [--clients K|mix] [--remote file|fakepcs] [--jobs J]`.

Prints one line per failing seed with its shortest failing step list, and `N runs, M violations`
last; exits non-zero on any violation. `--seed N` replays one seed exactly. `--clients mix` gives
seed S 2 + S % 3 clients, so one run covers 2, 3 and 4. `--record FILE` writes the result into
FILE's block between `<!-- sim-result:begin -->` and `<!-- sim-result:end -->`. `--fork-always`
lists a local-folder cloud in a forked child however small, comparing folder digests on both sides.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pansync import remote_tree
from pansync.log import configure_logging
from tests.sim.simulation import Outcome, run_seed, shrink

ROOT = Path(__file__).resolve().parents[2]
RECORD_BEGIN = "<!-- sim-result:begin -->"
RECORD_END = "<!-- sim-result:end -->"


def clients_for(seed: int, clients: str) -> int:
    return 2 + seed % 3 if clients == "mix" else int(clients)


def _quiet_logging() -> None:
    configure_logging(verbosity=0, log_dir=None, console=True, stream=open(os.devnull, "w"))  # noqa: SIM115


def _run(job: tuple[int, int, str]) -> Outcome:
    seed, clients, remote = job
    try:
        return run_seed(seed, clients, remote=remote)
    finally:
        shutil.rmtree(Path(os.environ["XDG_DATA_HOME"]) / "Trash", ignore_errors=True)


def _outcomes(jobs: list[tuple[int, int, str]], workers: int) -> Iterator[Outcome]:
    if workers <= 1:
        yield from map(_run, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=_quiet_logging) as pool:
        yield from pool.map(_run, jobs, chunksize=4)


def _commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def record(path: Path, command: str, summary: str, failures: list[str], seconds: float) -> None:
    """Rewrite the result block of `path`, so the document always holds the last long run."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    lines = [
        RECORD_BEGIN,
        "",
        f"`{command}`",
        "",
        f"**{summary}** in {hours} h {minutes:02d} min {secs:02d} s, on {date.today().isoformat()}, "
        f"commit `{_commit()}`, {os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "",
    ]
    if failures:
        lines += ["Failing seeds (shrunk step lists):", "", "```", *failures, "```", ""]
    else:
        lines += ["No seed failed.", ""]
    lines.append(RECORD_END)
    text = path.read_text(encoding="utf-8")
    block = re.compile(re.escape(RECORD_BEGIN) + ".*?" + re.escape(RECORD_END), re.DOTALL)
    if not block.search(text):
        raise SystemExit(f"{path}: no {RECORD_BEGIN} ... {RECORD_END} block to write the result into")
    path.write_text(block.sub(lambda _m: "\n".join(lines), text), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python tests/sim", description=__doc__)
    parser.add_argument("--seeds", type=int, default=20, help="how many seeds to run")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--seed", type=int, help="replay this one seed")
    parser.add_argument("--clients", default="3", choices=["2", "3", "4", "mix"])
    parser.add_argument(
        "--remote",
        choices=["file", "fakepcs"],
        default="file",
        help="fakepcs runs with 3%% of requests failing",
    )
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes")
    parser.add_argument(
        "--fork-always",
        action="store_true",
        help="list a local-folder cloud in a forked child at every size (and so compare folder "
        "digests on both sides), as syncs of 5,000 entries and more do",
    )
    parser.add_argument("--no-shrink", action="store_true", help="report failing seeds as drawn")
    parser.add_argument("--record", type=Path, help="write the result into this Markdown file")
    args = parser.parse_args()
    # The simulation's own system trash, never the user's; emptied after each seed (contents are per seed).
    trash = os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="pansync-sim-trash-")
    try:
        return _simulate(args)
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def _simulate(args: argparse.Namespace) -> int:
    _quiet_logging()
    if args.fork_always:
        remote_tree.FORK_MIN = 0  # the workers are forked from here: they inherit it
    started = time.monotonic()
    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.seeds)
    jobs = [(seed, clients_for(seed, args.clients), args.remote) for seed in seeds]
    runs = violations = 0
    failures: list[str] = []
    for outcome in _outcomes(jobs, args.jobs):
        runs += 1
        if outcome.violations:
            violations += 1
            clients = clients_for(outcome.seed, args.clients)
            steps = outcome.steps if args.no_shrink else shrink(outcome, clients, args.remote)
            report = [
                f"seed {outcome.seed} ({clients} clients): {len(outcome.violations)} violation(s): "
                f"{outcome.violations[0]}"
            ]
            report += [f"    {step}" for step in steps]
            failures += report
            print("\n".join(report), flush=True)
    summary = f"{runs} runs, {violations} violations"
    print(summary)
    if args.record:
        command = "python tests/sim " + " ".join(sys.argv[1:])
        record(args.record, command, summary, failures, time.monotonic() - started)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
