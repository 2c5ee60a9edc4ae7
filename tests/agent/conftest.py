"""Agents as real processes: each test client gets `pansync run` in a subprocess of its own.

Every agent a test starts is stopped (SIGTERM, then SIGKILL) in the fixture's teardown, so no test
leaves a process behind, pass or fail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pansync.daemon import request
from pansync.paths import Locations, locations
from tests.e2e.harness import Client

FAST = """\
sync:
  debounce: 0.3s
  poll_interval: 1s
  full_scan_interval: 1min
lock:
  ttl: 30s
"""
"""Small intervals so the tests run in seconds (the units parser reads `0.3s`; poll_interval >= 1s)."""


def agent_cli(client: Client, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`pansync ARGS` with the agent's commands (before cli.py imports them, via their module)."""
    return subprocess.run(
        [sys.executable, "-m", "pansync.cli_agent", *args],
        env=client.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def locs_of(client: Client) -> Locations:
    return locations(client.env)


def eventually(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    assert condition(), f"timed out after {timeout:g}s waiting for {what}"


class AgentProcess:
    """`pansync run` for one client, its output in a log file beside the client's home.

    Not `-v`: per-event console lines slow a 1,000-file batch several times over; the JSON log under
    the client's home has every decision anyway.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.log = client.home.parent / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> AgentProcess:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pansync.cli_agent", "run"],
                env={**self.client.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        eventually(self.answers, 20, f"{self.client.name}'s agent to answer")
        return self

    def answers(self) -> bool:
        assert self.proc is not None
        assert self.proc.poll() is None, f"agent exited: {self.log.read_text()[-3000:]}"
        answer = request(locs_of(self.client), {"cmd": "ping"}, timeout=2.0)
        return answer is not None and bool(answer.get("ok"))

    def status(self) -> dict[str, object]:
        answer = request(locs_of(self.client), {"cmd": "status"}, timeout=5.0)
        assert answer is not None
        return answer

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise


@pytest.fixture
def spawn() -> Iterator[Callable[[Client], AgentProcess]]:
    started: list[AgentProcess] = []

    def make(client: Client) -> AgentProcess:
        agent = AgentProcess(client)
        started.append(agent)
        return agent

    yield make
    for agent in started:
        with contextlib.suppress(Exception):  # stop() kills on timeout; either way it is gone
            agent.stop(15)


@pytest.fixture
def fast_client(make_client: Callable[..., Client]) -> Callable[[str], Client]:
    return lambda name: make_client(name, extra_config=FAST)


def reap_background_agent(client: Client) -> None:
    """Kill an agent started with `pansync start`, found through its pid file."""
    pid_file = Path(client.env["PANSYNC_HOME"]) / "run" / "agent.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
