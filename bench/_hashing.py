"""The hashing benchmark: `pansync.hashing.hash_file` (MD5 + first-256-KiB MD5 + CRC32 in one pass)
against coreutils `md5sum`, on one file from the page cache, runs alternating.

`hash_file` runs in a fresh Python process that times the call itself (interpreter start-up is not
hashing); `md5sum` is timed as a whole command. Both must agree on the MD5. Limit: one file size.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from _harness import PYTHON, BenchError, clean_env, load

_CHILD = """
import json, sys, time
from pansync.hashing import hash_file
t = time.perf_counter(); d = hash_file(sys.argv[1]); dt = time.perf_counter() - t
print(json.dumps({"s": dt, "md5": d.md5}))
"""


@dataclass
class HashResult:
    size: int
    pansync_s: list[float]
    md5sum_s: list[float]
    agree: bool
    loads: list[str]

    def mb_s(self, seconds: list[float]) -> float:
        return self.size / 1e6 / statistics.median(seconds)


def make_file(path: Path, size: int) -> Path:
    if path.is_file() and path.stat().st_size == size:
        return path
    block = os.urandom(16 * 1024 * 1024)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(block[: min(left, len(block))])
            left -= len(block)
            block = block[1:] + block[:1]  # no two blocks alike
    return path


def run_hashing(path: Path, size: int, reps: int) -> HashResult:
    if shutil.which("md5sum") is None:
        raise BenchError("md5sum (coreutils) is not on PATH")
    make_file(path, size)
    with open(path, "rb") as f:  # into the page cache: both sides read from memory
        while f.read(16 * 1024 * 1024):
            pass
    result = HashResult(size, [], [], True, [load()])
    env = clean_env({"PYTHONPYCACHEPREFIX": str(path.parent / "pycache")})
    for _ in range(reps):
        out = subprocess.run(
            [PYTHON, "-c", _CHILD, str(path)], env=env, capture_output=True, text=True, check=True
        )
        child = json.loads(out.stdout)
        result.pansync_s.append(float(child["s"]))
        start = time.perf_counter()
        done = subprocess.run(["md5sum", str(path)], capture_output=True, text=True, check=True)
        result.md5sum_s.append(time.perf_counter() - start)
        result.agree = result.agree and done.stdout.split()[0] == child["md5"]
    result.loads.append(load())
    return result
