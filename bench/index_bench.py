"""Benchmark the shared-index codec on a realistic synthetic tree (not a test: nothing is asserted).

    python bench/index_bench.py --entries 1000000
    python bench/index_bench.py --entries 1000000 --codec lzma --level 0

Paths look like a real archive (`L1_03/L2_17/L3_08/report_012345.pdf`, one folder in ten with
Chinese names), MD5s are random (as real ones are: incompressible), Baidu-style numeric fs_ids,
five clients, 2 % tombstones. Prints encode seconds, decode seconds and the size on disk.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from pathlib import Path

try:
    import pansync  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "agent"))

from pansync.index import IndexEntry, SharedIndex, decode_index, encode_index
from pansync.model import Kind

EXTENSIONS = ("pdf", "docx", "jpg", "txt", "xlsx", "mp4")


def synthetic_index(n: int, seed: int = 1) -> SharedIndex:
    """About `n` entries: files in a three-level tree, plus the directories that hold them."""
    rng = random.Random(seed)
    clients = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(5)]
    md5_hex = os.urandom(16 * n).hex()
    base_ns = 1_600_000_000 * 10**9
    entries: dict[str, IndexEntry] = {}

    def add(key: str, kind: Kind, md5: str) -> None:
        deleted = kind is Kind.FILE and rng.random() < 0.02
        entries[key] = IndexEntry(
            key=key,
            kind=kind,
            size=0 if kind is Kind.DIR else int(rng.lognormvariate(11, 2.5)),
            mtime_ns=base_ns + rng.randrange(100_000_000 * 10**9),
            md5="" if deleted or kind is Kind.DIR else md5,
            remote_id=str(rng.randrange(10**14, 10**15)),
            deleted=deleted,
            generation=rng.randrange(1, 5000),
            client_id=rng.choice(clients),
        )

    files_per_dir = 250
    i = 0
    for a in range(100):
        for b in range(20):
            for c in range(20):
                cjk = c % 10 == 8
                folder = f"L1_{a:02d}/L2_{b:02d}/" + (f"资料_{c:02d}" if cjk else f"L3_{c:02d}")
                for p in (f"L1_{a:02d}", f"L1_{a:02d}/L2_{b:02d}", folder):
                    if p not in entries:
                        add(p, Kind.DIR, "")
                for _ in range(files_per_dir):
                    if len(entries) >= n:
                        return SharedIndex(4999, clients[0], base_ns, entries)
                    stem = f"报告_{i:06d}" if cjk else f"report_{i:06d}"
                    ext = EXTENSIONS[i % len(EXTENSIONS)]
                    add(f"{folder}/{stem}.{ext}", Kind.FILE, md5_hex[32 * i : 32 * i + 32])
                    i += 1
    return SharedIndex(4999, clients[0], base_ns, entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--codec", choices=("zlib", "lzma"), default="zlib")
    parser.add_argument("--level", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="report the best of N runs")
    parser.add_argument("--verify", action="store_true", help="also check the round trip")
    args = parser.parse_args()

    index = synthetic_index(args.entries)
    best_enc = best_dec = float("inf")
    data = b""
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        data = encode_index(index, codec=args.codec, level=args.level)
        t1 = time.perf_counter()
        decoded = decode_index(data)
        t2 = time.perf_counter()
        best_enc, best_dec = min(best_enc, t1 - t0), min(best_dec, t2 - t1)
        if args.verify and decoded != index:
            sys.exit("round trip mismatch")
        del decoded
    print(f"entries   {len(index.entries):,}")
    print(f"codec     {args.codec} level {args.level}")
    print(f"encode s  {best_enc:.2f}")
    print(f"decode s  {best_dec:.2f}")
    print(f"size MB   {len(data) / 1e6:.1f}")


if __name__ == "__main__":
    main()
