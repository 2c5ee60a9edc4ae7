"""Shared pieces of the benchmarks: where the shared tools are, how a command is measured, and the
three sync tools (PanSync, Unison, rclone bisync) driven the same way on the same trees.

Every measured command runs as its own process; its wall time comes from the clock around it and its
CPU time and peak RSS from `os.wait4` (that child and what it waited for), so nothing of the bench
process leaks into a figure. Limit: measures and checks results; judges nothing (`_report` does).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""The repository root (this file is `bench/_harness.py`)."""

PYTHON = sys.executable


class BenchError(Exception):
    """A benchmark could not run (a missing tool, a failed command): one line for the user."""


def shared_bench_dir(override: str | None = None) -> Path:
    """`../shared/bench` beside the repository (mktree.py, scanbench.py), found at run time."""
    path = Path(override) if override else REPO.parent / "shared" / "bench"
    if not (path / "mktree.py").is_file():
        raise BenchError(
            f"the shared benchmark tools are missing: expected mktree.py and scanbench.py in {path} "
            "(the project's shared/bench folder, beside the repository); pass --shared DIR to point "
            "at another copy"
        )
    return path


@dataclass(frozen=True)
class Sample:
    """One measured run of one command."""

    wall_s: float
    cpu_s: float
    """User + system CPU seconds of the command and its children."""
    maxrss_mib: float
    rc: int
    verify: str = "-"
    """`ok` or `DIFF` after runs that must leave both sides equal; `-` where nothing is checked."""


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The bench's environment for measured commands: bytecode caching on (as after `pip install`),
    no colours, and the caller's additions."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def measure(cmd: Sequence[str], *, env: dict[str, str], log: Path, cwd: Path | None = None) -> Sample:
    """Run `cmd` once (its output appended to `log`) and measure it; dirty pages are flushed first,
    outside the timing, so one run's writes are not billed to the next."""
    os.sync()
    with open(log, "ab") as out:
        out.write(f"\n# {time.strftime('%H:%M:%S')} {' '.join(cmd)}\n".encode())
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc  # reaped by wait4 above
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, rc)


def run(cmd: Sequence[str], *, env: dict[str, str] | None = None, quiet: bool = True) -> str:
    """Run an unmeasured helper command; its output is returned, a failure raises `BenchError`."""
    done = subprocess.run(list(cmd), env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BenchError(f"{' '.join(cmd[:3])}... failed ({done.returncode}): {' | '.join(tail)}")
    if not quiet:
        print(done.stdout, end="")
    return done.stdout


def load() -> str:
    """The machine's load averages: other work on a shared machine skews every figure."""
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


# -- trees ------------------------------------------------------------------------------------------


def make_tree(shared: Path, dest: Path, files: int, seed: int, big_mib: int | None = None) -> Path:
    """A deterministic tree from `mktree.py`, reused when a complete one is already there."""
    stamp = dest.with_name(dest.name + ".done")
    if dest.is_dir() and stamp.is_file():
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    cmd = [PYTHON, str(shared / "mktree.py"), str(dest), "--files", str(files), "--seed", str(seed)]
    if big_mib is not None:
        cmd += ["--big-mib", str(big_mib)]
    run(cmd)
    stamp.write_text("ok\n")
    return dest


ROOT_MARKER = ".pansync.root"
"""PanSync's marker in its copy of the tree: the mutation picks files at random, and a sync after
the marker's deletion is PanSync refusing a root that may be an empty mount point, not a sync."""


def mutate_tree(shared: Path, root: Path, count: int, seed: int) -> None:
    """`mktree.py ROOT --mutate K --seed S`: modify K files, add K/2, delete K/4 (never PanSync's
    root marker, which no user edits: it is put back as it was)."""
    marker = root / ROOT_MARKER
    kept = marker.read_bytes() if marker.exists() else None
    run([PYTHON, str(shared / "mktree.py"), str(root), "--mutate", str(count), "--seed", str(seed)])
    if kept is not None and (not marker.exists() or marker.read_bytes() != kept):
        marker.write_bytes(kept)


def copy_tree(src: Path, dest: Path) -> None:
    """A copy with mtimes kept (`cp -a`), as peers.sh makes it."""
    remove(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    run(["cp", "-a", str(src), str(dest)])


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def listing_digest(root: Path) -> str:
    """MD5 of the sorted (path, size, mtime in seconds) of every file, PanSync's own names left out:
    the same check peers.sh makes after each run that must leave both sides equal."""
    rows: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".pansync")]
        rel = os.path.relpath(dirpath, root)
        for name in filenames:
            if name.startswith(".pansync"):
                continue
            st = os.lstat(os.path.join(dirpath, name))
            path = name if rel == "." else f"{rel}/{name}"
            rows.append(f"{path}\t{st.st_size}\t{int(st.st_mtime)}")
    rows.sort()
    return hashlib.md5("\n".join(rows).encode("utf-8", "surrogateescape")).hexdigest()


def scan_floor(shared: Path, root: Path, reps: int = 3) -> float:
    """Median in-process seconds of `scanbench.py scandir-stat ROOT`: Python's floor for a scan."""
    walls: list[float] = []
    for _ in range(reps):
        out = run([PYTHON, str(shared / "scanbench.py"), "scandir-stat", str(root)])
        for part in out.split():
            if part.startswith("wall_s="):
                walls.append(float(part.split("=", 1)[1]))
    if not walls:
        raise BenchError("scanbench.py printed no wall_s")
    return statistics.median(walls)


# -- the tools --------------------------------------------------------------------------------------


@dataclass
class Tool:
    """One sync tool with its own local tree, remote folder and state, under `base`."""

    name: str
    base: Path
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.log = self.base / "runs.log"

    @property
    def local(self) -> Path:
        return self.base / "local"

    @property
    def remote(self) -> Path:
        return self.base / "remote"

    @property
    def state(self) -> Path:
        return self.base / "state"

    def reset(self) -> None:
        """Back to "never synced": an empty remote and no state (the local tree stays)."""
        remove(self.remote)
        remove(self.state)
        self.remote.mkdir(parents=True)
        self.state.mkdir(parents=True)

    def init_cmd(self) -> list[str]:
        return self.sync_cmd()

    def sync_cmd(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return clean_env()

    def prepare(self) -> None:
        """Untimed set-up before the first measured run (e.g. byte-compiling)."""

    def verify(self) -> str:
        return "ok" if listing_digest(self.local) == listing_digest(self.remote) else "DIFF"

    def measure(self, phase: str) -> Sample:
        cmd = self.init_cmd() if phase == "init" else self.sync_cmd()
        sample = measure(cmd, env=self.env(), log=self.log)
        if phase in ("init", "mutate"):
            check = self.verify() if sample.rc == 0 else "skipped"
            sample = Sample(sample.wall_s, sample.cpu_s, sample.maxrss_mib, sample.rc, check)
        return sample


_COMPILE_ENGINE = (
    "import compileall, os, pansync\ncompileall.compile_dir(os.path.dirname(pansync.__file__), quiet=1)"
)

_PANSYNC_CONFIG = """\
client:
  name: bench
folders:
  - name: main
    local: {local}
    remote: {remote}
"""


class PanSync(Tool):
    """`pansync sync` with its own PANSYNC_HOME and a `file://` remote, as the e2e harness sets up.

    `engine` (a folder holding the `pansync` package) runs another version of the engine through
    PYTHONPATH, for before/after figures from one run."""

    def __init__(self, name: str, base: Path, engine: Path | None = None) -> None:
        super().__init__(name, base)
        self.engine = engine

    def reset(self) -> None:
        super().reset()
        with contextlib.suppress(FileNotFoundError):
            (self.local / ROOT_MARKER).unlink()  # the next first sync marks the root anew
        config = self.state / "config" / "config.yaml"
        config.parent.mkdir(parents=True)
        config.write_text(_PANSYNC_CONFIG.format(local=self.local, remote=self.remote.as_uri()))

    def sync_cmd(self) -> list[str]:
        return [PYTHON, "-m", "pansync", "sync"]

    def env(self) -> dict[str, str]:
        extra = {"PANSYNC_HOME": str(self.state), "PYTHONPYCACHEPREFIX": str(self.base.parent / "pycache")}
        if self.engine is not None:
            extra["PYTHONPATH"] = str(self.engine)
        return clean_env(extra)

    def prepare(self) -> None:
        """Byte-compile the engine into the bench's cache, as `pip install` would have."""
        run([PYTHON, "-c", _COMPILE_ENGINE], env=self.env())


class Unison(Tool):
    """Unison 2.52 as peers.sh runs it: batch, automatic, mtimes propagated."""

    def sync_cmd(self) -> list[str]:
        return [
            "unison", str(self.local), str(self.remote), "-batch", "-auto", "-times", "-ui", "text",
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        return clean_env({"UNISON": str(self.state / "unison")})


class RcloneBisync(Tool):
    """rclone bisync as peers.sh runs it: `--resync` for the first run, plain afterwards."""

    def init_cmd(self) -> list[str]:
        return [*self.sync_cmd(), "--resync"]

    def sync_cmd(self) -> list[str]:
        return [
            "rclone",
            "bisync",
            str(self.local),
            str(self.remote),
            "--workdir",
            str(self.state / "bisync"),
        ]

    def env(self) -> dict[str, str]:
        config = self.base / "rclone.conf"
        config.touch()
        return clean_env({"RCLONE_CONFIG": str(config)})


PEERS = {"unison": ("unison", Unison), "rclone_bisync": ("rclone", RcloneBisync)}
"""Peer name -> (executable, class). Debian packages: `unison`, `rclone`."""


def ensure_peers(install: bool) -> list[str]:
    """The peers found on PATH, after `apt-get install` of missing ones when `install` is set."""
    missing = sorted({exe for exe, _ in PEERS.values() if shutil.which(exe) is None})
    if missing and install and shutil.which("apt-get") and os.geteuid() == 0:
        print(f"bench: installing {' '.join(missing)} with apt-get", flush=True)
        cmd = ["apt-get", "install", "-y", "-q", *missing]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(cmd, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
            subprocess.run(cmd, env=env, capture_output=True, check=False)
    return [name for name, (exe, _) in PEERS.items() if shutil.which(exe) is not None]


@contextlib.contextmanager
def loop_filesystem(base: Path, size: str) -> Iterator[None]:
    """Mount a fresh journaled ext4 (a sparse image, loop device) at `base` for the run.

    On an ext4 without a journal, creating files soon after deleting many is ten times slower
    (BASELINE.md), which would bill one run's deletions to the next run's initial sync."""
    image = base.with_name(base.name + ".img")
    base.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mountpoint", "-q", str(base)], check=False).returncode == 0:
        yield
        return
    remove(image)
    run(["truncate", "-s", size, str(image)])
    run(["mkfs.ext4", "-q", "-F", str(image)])
    device = run(["losetup", "--direct-io=on", "-f", "--show", str(image)]).strip()
    try:
        run(["mount", device, str(base)])
        try:
            yield
        finally:
            subprocess.run(["umount", str(base)], check=False)
    finally:
        subprocess.run(["losetup", "-d", device], check=False)
        image.unlink(missing_ok=True)
