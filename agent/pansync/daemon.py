"""`daemon`: the agent as a background process: start, stop, and the control socket.

- The **pid file** is `pidfile`'s: an exclusive `flock` held for the agent's whole life.
- The **control socket** `<runtime>/agent.sock` is a Unix socket with mode 0600 in a 0700 folder.
  Each connection sends one JSON line (`{"cmd": "status"}`, `pause`, `resume`, `sync-now`,
  `stop`) and reads JSON lines back: one answer, or for `sync-now` with `"wait": true` a stream of
  `progress` lines ending with `done`. Connections are served on their own threads, so status
  answers while a batch runs; the accept loop blocks in `accept()`, so an idle agent does not wake.
- **start** launches `pansync run` detached (a new session, stdio to files), and returns once the
  socket answers; **stop** asks through the socket (falling back to SIGTERM), waits for the running
  action to finish and the lock to be released, and after a timeout kills with SIGKILL, saying so.
  Both are idempotent.

Limit: processes and sockets; what the agent does is `agent`'s. Unix only (Windows has no
`fcntl`; PanSync targets Linux and macOS).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from msgspec import Struct

from pansync.log import get_logger
from pansync.paths import Locations, ensure_private_dir
from pansync.pidfile import running_pid

__all__ = [
    "ControlServer",
    "StartResult",
    "agent_command",
    "request",
    "request_stream",
    "socket_path",
    "start_agent",
    "stop_agent",
]

log = get_logger(__name__)

_MAX_REQUEST = 64 * 1024
_SUN_PATH_MAX = 100
"""sockaddr_un holds 104 (macOS) or 108 (Linux) bytes; longer paths are reached through a folder fd."""

Send = Callable[[dict[str, Any]], None]
Handler = Callable[[dict[str, Any], Send], None]


def socket_path(locs: Locations) -> Path:
    return locs.runtime_dir / "agent.sock"


def err_path(locs: Locations) -> Path:
    """The detached agent's stderr: where `start` looks when the agent dies while starting."""
    return locs.runtime_dir / "agent.err"


# -- the socket -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _short_address(path: Path) -> Iterator[str]:
    """An address for `path` that fits in sockaddr_un: the path itself, or `/proc/self/fd/N/name`."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        yield str(path)
        return
    if not Path("/proc/self/fd").is_dir():
        raise OSError(f"the socket path {path} is too long for a Unix socket; set a shorter PANSYNC_HOME")
    fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_PATH", 0))
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


class ControlServer:
    """The agent's end of the control socket: one thread accepting, one thread per connection."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    def start(self) -> None:
        ensure_private_dir(self.path.parent)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a socket left by a crashed agent; the pid lock says we are alone
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            with _short_address(self.path) as address:
                sock.bind(address)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        sock.listen(16)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept_loop, name="control", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                if self._closing.is_set():
                    return
                time.sleep(0.1)
                continue
            if self._closing.is_set():
                conn.close()
                return
            threading.Thread(target=self._serve, args=(conn,), name="control-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10.0)  # a client that connects and says nothing does not keep a thread
        with conn, conn.makefile("rwb") as stream:
            try:
                line = stream.readline(_MAX_REQUEST)
            except OSError:
                return
            conn.settimeout(None)  # answers may stream for as long as a sync takes

            def send(message: dict[str, Any]) -> None:
                stream.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
                stream.flush()

            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("expected a JSON object")
            except ValueError as exc:
                with contextlib.suppress(OSError):
                    send({"ok": False, "error": f"bad request: {exc}"})
                return
            try:
                self.handler(request, send)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the asker went away (Ctrl-C on `pansync sync`)
            except Exception as exc:
                log.exception("control request failed", request=request)
                with contextlib.suppress(OSError):
                    send({"ok": False, "error": str(exc)})

    def close(self) -> None:
        self._closing.set()
        if self._sock is not None:
            with contextlib.suppress(OSError), _connect(self.path, timeout=1.0):
                pass  # wakes the blocked accept()
            self._sock.close()
            self._sock = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@contextlib.contextmanager
def _connect(path: Path, timeout: float | None) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with _short_address(path) as address:
            sock.connect(address)
        yield sock
    finally:
        sock.close()


def request_stream(
    locs: Locations, payload: Mapping[str, Any], timeout: float | None = 10.0
) -> Iterator[dict[str, Any]]:
    """Send one request to the running agent and yield its answers; nothing if none runs."""
    path = socket_path(locs)
    if running_pid(locs) is None:
        return
    try:
        with _connect(path, timeout) as sock, sock.makefile("rwb") as stream:
            stream.write(json.dumps(payload).encode() + b"\n")
            stream.flush()
            for line in stream:
                yield json.loads(line)
    except (OSError, ValueError) as exc:
        log.debug("control socket unavailable", error=str(exc))


def request(locs: Locations, payload: Mapping[str, Any], timeout: float = 10.0) -> dict[str, Any] | None:
    """One request, one answer; None when no agent answers."""
    for answer in request_stream(locs, payload, timeout):
        return answer
    return None


# -- start and stop -------------------------------------------------------------------------------------


class StartResult(Struct, frozen=True):
    pid: int
    started: bool
    """False when an agent was already running (and `pid` is its)."""


def agent_command(config_path: str | None) -> list[str]:
    """The command line of the background agent: this interpreter, this package, `run --detached`.

    `-m pansync.cli_agent` works whether or not `pansync.cli` imports the agent's commands.
    """
    command = [sys.executable, "-m", "pansync.cli_agent"]
    if config_path:
        command += ["--config", config_path]
    return [*command, "run", "--detached"]


def start_agent(
    locs: Locations, config_path: str | None, env: Mapping[str, str], timeout: float = 30.0
) -> StartResult:
    """Start the agent in the background; return once its control socket answers.

    Raises `RuntimeError` with the agent's last words if it exits or stays silent.
    """
    pid = running_pid(locs)
    if pid is not None:
        return StartResult(pid, started=False)
    ensure_private_dir(locs.runtime_dir)
    err_file = err_path(locs)
    with open(os.devnull, "rb") as devnull, open(err_file, "wb") as err:
        proc = subprocess.Popen(
            agent_command(config_path),
            env=dict(env),
            stdin=devnull,
            stdout=err,
            stderr=err,
            start_new_session=True,  # survives the terminal closing; Ctrl-C in it does not reach it
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise RuntimeError(f"the agent exited while starting (status {code}): {_tail(err_file)}")
        answer = request(locs, {"cmd": "ping"}, timeout=2.0)
        if answer is not None and answer.get("ok"):
            return StartResult(proc.pid, started=True)
        time.sleep(0.1)
    raise RuntimeError(
        f"the agent (pid {proc.pid}) did not answer within {timeout:g}s; see {err_file} and the log"
    )


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    return " | ".join(text[-lines:]) or "(no output)"


def stop_agent(locs: Locations, timeout: float = 60.0, poll: float = 0.1) -> tuple[int | None, bool]:
    """Stop the running agent; (its pid or None when none ran, True when it had to be killed).

    Asks politely (socket, then SIGTERM), waits up to `timeout` for the action in flight to finish
    and the lock to be released, then sends SIGKILL. Returns once the process is gone.
    """
    pid = running_pid(locs)
    if pid is None:
        return None, False
    answer = request(locs, {"cmd": "stop"}, timeout=5.0)
    if answer is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(locs) is None:
            return pid, False
        time.sleep(poll)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if running_pid(locs) is None:
            break
        time.sleep(poll)
    return pid, True
