"""The Baidu path: uploads through `BaiduRemote` to fakepcs (contrib/fakepcs) with a bandwidth cap.

fakepcs runs as its own process (`--bandwidth` caps each direction, shared by all connections), so
the server's work does not compete with the client for the GIL. The client is `BaiduRemote.upload`
as the executor calls it: one file per call, `transfer.concurrency` (4) calls at a time. Reported:
payload bytes per second as a fraction of the cap, and fakepcs's own byte counters. A second
upload of a large file the cloud already holds must move no payload (rapid upload). Limit: the
engine's move into place after each upload is not timed here (it carries no payload).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import PYTHON, REPO, BenchError, clean_env, load

TOKEN, REFRESH = "bench-access-token", "bench-refresh-token"
ROOT = "/apps/bypy/bench"


@dataclass
class UploadCase:
    name: str
    files: int
    payload: int
    """Bytes of file content."""
    wall_s: float
    wire_in: int
    """Bytes fakepcs received (bodies, multipart framing included)."""
    upload_in: int
    """Of those, bytes of `upload` and `upload.tmpfile` requests: the payload actually moved."""
    cap: int

    @property
    def fraction(self) -> float:
        return self.payload / self.wall_s / self.cap


@dataclass
class PcsResult:
    cap: int
    cases: list[UploadCase] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)


class _Server:
    """fakepcs in a child process; its URL read from the line it prints on start."""

    def __init__(self, root: Path, cap: int, log: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        cmd = [
            PYTHON, str(REPO / "contrib" / "fakepcs"), "--root", str(root), "--port", "0",
            "--token", TOKEN, "--refresh-token", REFRESH, "--bandwidth", str(cap),
        ]  # fmt: skip
        self._log = open(log, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, env=clean_env())
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if "http://" not in line:
            self.stop()
            raise BenchError(f"fakepcs did not start (said {line!r}); see {log}")
        self.url = line[line.index("http://") :].split()[0]

    def admin(self, name: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        with urllib.request.urlopen(f"{self.url}/__admin/{name}", data=data, timeout=30) as reply:
            return json.loads(reply.read() or b"null")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def _counters(server: _Server) -> tuple[int, int]:
    stats = server.admin("stats")
    incoming: dict[str, int] = stats.get("bytes_in", {})
    total = sum(incoming.values())
    upload = sum(n for key, n in incoming.items() if key == "upload" or key.startswith("upload."))
    return total, upload


def _files(folder: Path, count: int, size: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(count):
        path = folder / f"f{i:05d}.bin"
        if not (path.is_file() and path.stat().st_size == size):
            path.write_bytes(os.urandom(size))
        made.append(path)
    return made


def run_pcs(work: Path, cap: int, big: int, small_count: int, small_size: int) -> PcsResult:
    sys.path.insert(0, str(REPO / "agent"))  # a checkout without `pip install -e` works too
    from pansync.auth import store_tokens
    from pansync.remote.baidu import BaiduRemote

    result = PcsResult(cap, loads=[load()])
    server = _Server(work / "cloud", cap, work / "fakepcs.log")
    try:
        state = work / "state"
        store_tokens(state, TOKEN, REFRESH)
        remote = BaiduRemote(ROOT, state_dir=state, endpoint=server.url, concurrency=4)
        remote.ensure_root()
        big_file = _files(work / "big", 1, big)
        small_files = _files(work / "small", small_count, small_size)

        def case(name: str, files: list[Path], prefix: str) -> None:
            server.admin("stats/reset", {})
            start = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda p: remote.upload(p, f"{prefix}/{p.name}"), files))
            wall = time.perf_counter() - start
            wire, upload = _counters(server)
            payload = sum(p.stat().st_size for p in files)
            result.cases.append(UploadCase(name, len(files), payload, wall, wire, upload, cap))

        case("big", big_file, "big")
        case("small", small_files, "small")
        case("big again (rapid upload)", big_file, "copy")
        remote.close()
    finally:
        server.stop()
    result.loads.append(load())
    return result
