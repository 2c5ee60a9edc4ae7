"""`python tests/sim --seeds N [--start S] [--clients K] [--remote file]`: run the simulation.

Prints one line per failing seed with its shortest failing step list, and `N runs, M violations`
last; exits non-zero on any violation. `--seed N` replays one seed exactly.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("XDG_DATA_HOME", tempfile.mkdtemp(prefix="pansync-sim-trash-"))

from pansync.log import configure_logging
from tests.sim.simulation import run_seed, shrink


def main() -> int:
    parser = argparse.ArgumentParser(prog="python tests/sim", description=__doc__)
    parser.add_argument("--seeds", type=int, default=20, help="how many seeds to run")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--seed", type=int, help="replay this one seed")
    parser.add_argument("--clients", type=int, default=3, choices=[2, 3, 4])
    parser.add_argument(
        "--remote",
        choices=["file", "fakepcs"],
        default="file",
        help="fakepcs runs with 3%% of requests failing",
    )
    parser.add_argument("--no-shrink", action="store_true", help="report failing seeds as drawn")
    args = parser.parse_args()
    configure_logging(verbosity=0, log_dir=None, console=True, stream=open(os.devnull, "w"))  # noqa: SIM115
    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.seeds)
    runs = violations = 0
    for seed in seeds:
        outcome = run_seed(seed, args.clients, remote=args.remote)
        runs += 1
        if outcome.violations:
            violations += 1
            steps = outcome.steps if args.no_shrink else shrink(outcome, args.clients, args.remote)
            print(f"seed {seed}: {len(outcome.violations)} violation(s): {outcome.violations[0]}")
            for step in steps:
                print(f"    {step}")
            sys.stdout.flush()
    print(f"{runs} runs, {violations} violations")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
