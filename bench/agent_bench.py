"""Benchmark the real-time agent (not a test: nothing is asserted).

    python bench/agent_bench.py                      # 100,000 files, 60 s idle, 50 latency samples
    python bench/agent_bench.py --files 20000 --duration 30 --samples 30
    python bench/agent_bench.py --quick              # 10,000 files, 10 s idle, 10 samples

What it does, in a scratch folder (`--workdir`, kept with `--keep`):

1. makes a tree with `../shared/bench/mktree.py DEST --files N --seed 1 --big-mib 0`;
2. syncs it once to a `file://` remote with `pansync sync` (the initial upload, timed);
3. starts `pansync run` on it and waits until its startup sync is done and it is idle;
4. **idle**: CPU time (user + system, from /proc) and wake-ups (voluntary context switches of all
   its threads) over `--duration` seconds, and its RSS (now and peak);
5. **latency**: `--samples` files, one at a time, each written once the agent is idle again: the
   time from the end of a file's last write to the moment it appears under its real name in the
   remote (the agent's debounce, the sync's scan of both sides, the upload), as p50 / p95 / max.

Linux only (reads /proc). The latency includes `sync.debounce` (`--debounce`, default 2s as in the
configuration) and one full sync of the whole tree per change.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    import pansync  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "agent"))

from pansync.daemon import request
from pansync.paths import locations

MKTREE = Path(__file__).resolve().parents[2] / "shared" / "bench" / "mktree.py"
"""The seeded tree generator beside the repository (`../shared/bench/`)."""
CONFIG = """\
client:
  name: bench
folders:
  - name: main
    local: {root}
    remote: {remote}
sync:
  debounce: {debounce}
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def wakeups(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def memory_mib(pid: int) -> tuple[float, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def wait_idle(env: dict[str, str], proc: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds until the agent's startup sync is done and it has nothing queued."""
    locs = locations(env)
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the agent exited with status {proc.returncode}")
        answer = request(locs, {"cmd": "status"}, timeout=5.0)
        if answer and answer.get("ok"):
            folder = answer["folders"]["main"]
            if folder["runs"] >= 1 and folder["state"] == "idle" and folder["queue"] == 0:
                return time.monotonic() - start
        time.sleep(0.2)
    raise SystemExit(f"the agent was not idle after {timeout:g}s")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir or tempfile.mkdtemp(prefix="pansync-agent-bench-"))
    root, cloud, home = work / "root", work / "cloud", work / "home"
    cloud.mkdir(parents=True, exist_ok=True)
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "config.yaml").write_text(
        CONFIG.format(root=root, remote=cloud.as_uri(), debounce=args.debounce), encoding="utf-8"
    )
    env = {**os.environ, "PANSYNC_HOME": str(home), "XDG_DATA_HOME": str(work / "xdg")}
    result: dict[str, Any] = {"files": args.files, "duration_s": args.duration, "debounce": args.debounce}

    t = time.monotonic()
    if not root.exists():
        subprocess.run(
            [
                sys.executable,
                str(MKTREE),
                str(root),
                "--files",
                str(args.files),
                "--seed",
                "1",
                "--big-mib",
                "0",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    result["mktree_s"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    subprocess.run([sys.executable, "-m", "pansync", "sync"], env=env, check=True, capture_output=True)
    result["initial_sync_s"] = round(time.monotonic() - t, 1)

    with open(work / "agent.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pansync.cli_agent", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        result["startup_to_idle_s"] = round(wait_idle(env, proc, 600), 2)
        time.sleep(2)  # let the startup's own echoes settle
        cpu0, wake0 = cpu_seconds(proc.pid), wakeups(proc.pid)
        time.sleep(args.duration)
        cpu1, wake1 = cpu_seconds(proc.pid), wakeups(proc.pid)
        rss, peak = memory_mib(proc.pid)
        result.update(
            idle_cpu_s=round(cpu1 - cpu0, 3),
            idle_cpu_share=f"{(cpu1 - cpu0) / args.duration:.4%}",
            idle_wakeups=wake1 - wake0,
            rss_mib=round(rss, 1),
            peak_rss_mib=round(peak, 1),
            threads=threads(proc.pid),
        )

        latencies = []
        run_dir = f"bench-latency-{time.time_ns()}"  # fresh names: a reused --workdir holds old ones
        for i in range(args.samples):
            rel = f"{run_dir}/{i:04}.txt"
            path = root / rel
            path.parent.mkdir(exist_ok=True)
            with open(path, "wb") as f:
                f.write(os.urandom(4096))
            written = time.monotonic()
            target = cloud / rel
            while not target.exists():
                if time.monotonic() - written > 120:
                    raise SystemExit(f"{rel} did not reach the remote in 120s; see {work / 'agent.log'}")
                time.sleep(0.002)
            latencies.append(time.monotonic() - written)
            wait_idle(env, proc, 120)  # each sample starts from a quiet agent, not mid-sync
        result.update(
            latency_p50_s=round(statistics.median(latencies), 3),
            latency_p95_s=round(percentile(latencies, 0.95), 3),
            latency_max_s=round(max(latencies), 3),
            samples=len(latencies),
        )
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=100_000, help="size of the watched tree")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of idle measured")
    parser.add_argument("--samples", type=int, default=50, help="files written one at a time")
    parser.add_argument("--debounce", default="2s", help="sync.debounce for the agent")
    parser.add_argument("--quick", action="store_true", help="10,000 files, 10 s idle, 10 samples")
    parser.add_argument("--workdir", help="use (and keep) this folder; a tree already there is reused")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.quick:
        args.files, args.duration, args.samples = 10_000, 10.0, 10
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}  {value}")


if __name__ == "__main__":
    main()
