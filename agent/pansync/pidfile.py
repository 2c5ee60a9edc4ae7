"""The agent's pid file: is an agent running for this PANSYNC_HOME, and which one?

`<runtime>/agent.pid` is held with an exclusive `flock` for the agent's whole life, so "is an
agent running?" never trusts a stale pid: the kernel drops the lock when the process dies, kill -9
included (and a zombie that nobody reaps holds no lock either). Apart from `daemon` (sockets,
processes) so that `pansync sync` can ask the question without importing either.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from pansync.paths import Locations, ensure_private_dir

__all__ = ["PidFile", "pid_path", "read_pid", "running_pid"]


def pid_path(locs: Locations) -> Path:
    return locs.runtime_dir / "agent.pid"


class PidFile:
    """`<runtime>/agent.pid`, locked for as long as the agent lives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> int | None:
        """Lock it and write our pid; None on success, else the pid of the agent holding it."""
        ensure_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        for attempt in range(20):  # `running_pid` probes take a shared lock for an instant
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if attempt == 19:
                    os.close(fd)
                    return read_pid(self.path) or -1
                time.sleep(0.025)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n{time.time():.3f}\n".encode())
        self._fd = fd
        return None

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None


def read_pid(path: Path) -> int | None:
    try:
        first = path.read_text(encoding="ascii").split()
        return int(first[0]) if first else None
    except (OSError, ValueError):
        return None


def _is_locked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def running_pid(locs: Locations) -> int | None:
    """The pid of this PANSYNC_HOME's running agent, or None (a stale pid file counts as none)."""
    path = pid_path(locs)
    return read_pid(path) if _is_locked(path) else None
