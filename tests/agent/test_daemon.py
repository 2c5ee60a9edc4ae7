"""The background agent: start, status, pause, sync through it, stop; the socket and the pid file."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pansync.agent_client import agent_status, ask_agent_to_sync, render_agent_status
from pansync.daemon import ControlServer, Send, request, request_stream, socket_path
from pansync.paths import Locations
from pansync.pidfile import PidFile
from tests.agent.conftest import agent_cli, eventually, locs_of, reap_background_agent
from tests.e2e.harness import Client


@pytest.fixture
def client(fast_client: Callable[[str], Client]) -> Iterator[Client]:
    c = fast_client("alice")
    yield c
    agent_cli(c, "stop", "--timeout", "10")
    reap_background_agent(c)


def test_start_status_pause_sync_stop_and_their_idempotency(client: Client, cloud: Path) -> None:
    started = agent_cli(client, "start")
    assert started.returncode == 0 and started.stdout.startswith("Agent started, pid "), started
    pid = int(started.stdout.split("pid ")[1].rstrip(".\n"))
    again = agent_cli(client, "start")
    assert again.returncode == 0 and again.stdout.strip() == f"Agent already running, pid {pid}."

    locs = locs_of(client)
    status = agent_status(locs, ["main"])
    assert status["running"] and status["pid"] == pid and status["folders"]["main"]["queue"] >= 0
    assert (socket_path(locs).stat().st_mode & 0o777) == 0o600

    assert agent_cli(client, "pause").stdout.strip() == "Paused: main."
    eventually(lambda: agent_status(locs)["folders"]["main"]["state"] == "paused", 10, "paused")
    client.write("while-paused.txt", "waits")
    said: list[str] = []
    assert ask_agent_to_sync(locs, "main", said.append)  # sync-now beats a pause
    assert any(line.startswith("main: synced by the running agent (1 actions") for line in said)
    assert (cloud / "while-paused.txt").read_text() == "waits"
    assert agent_cli(client, "resume").stdout.strip() == "Resumed: main."

    lines: list[str] = []
    render_agent_status(lines.append, agent_status(locs, ["main"]))
    text = "\n".join(lines)
    assert f"agent: running, pid {pid}" in text and "main: idle, 0 queued" in text

    stopped = agent_cli(client, "stop")
    assert stopped.returncode == 0 and stopped.stdout.strip() == f"Agent stopped (was pid {pid})."
    assert agent_cli(client, "stop").stdout.strip() == "Agent not running."
    refused = agent_cli(client, "pause")
    assert refused.returncode == 2 and "Agent not running" in refused.stderr
    assert not ask_agent_to_sync(locs, None)
    offline = agent_status(locs, ["main"])
    assert offline == {"running": False, "pid": None, "folders": {"main": offline["folders"]["main"]}}
    assert offline["folders"]["main"]["queue"] == 0
    assert not (cloud / ".pansync" / ".config" / "lock.txt").exists()


def test_start_reports_a_broken_configuration_at_once(client: Client) -> None:
    client.config_path.write_text("sync:\n  debounce: soon\n")
    out = agent_cli(client, "start")
    assert out.returncode == 2 and "sync.debounce" in out.stderr


def test_a_second_agent_for_the_same_home_refuses_to_run(client: Client) -> None:
    assert agent_cli(client, "start").returncode == 0
    second = agent_cli(client, "run")
    assert second.returncode == 2 and "already running" in second.stderr


def test_the_pid_file_is_exclusive_and_stale_ones_do_not_count(tmp_path: Path) -> None:
    first, second = PidFile(tmp_path / "agent.pid"), PidFile(tmp_path / "agent.pid")
    assert first.acquire() is None
    assert second.acquire() == os.getpid()
    first.release()
    assert not (tmp_path / "agent.pid").exists()
    (tmp_path / "agent.pid").write_text("999999\n")  # left by a killed agent: nobody holds its lock
    assert second.acquire() is None
    second.release()


def test_the_control_socket_answers_while_a_request_streams_and_has_a_long_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)  # past the 108 bytes a Unix socket address holds
    locs = Locations(deep, deep, deep, deep, deep)
    release = threading.Event()

    def handler(request: dict[str, Any], send: Send) -> None:
        if request["cmd"] == "slow":
            for i in range(3):
                send({"event": "progress", "i": i})
                release.wait(5)
            send({"event": "done"})
        else:
            send({"ok": True, "echo": request["cmd"]})

    server = ControlServer(socket_path(locs), handler)
    pid_file = PidFile(deep / "agent.pid")
    assert pid_file.acquire() is None
    server.start()
    try:
        assert len(str(socket_path(locs))) > 108
        assert stat.S_IMODE(socket_path(locs).stat().st_mode) == 0o600
        stream = request_stream(locs, {"cmd": "slow"}, timeout=10)
        assert next(stream) == {"event": "progress", "i": 0}
        assert request(locs, {"cmd": "status"}) == {"ok": True, "echo": "status"}  # while one streams
        release.set()
        assert [m["event"] for m in stream] == ["progress", "progress", "done"]
    finally:
        server.close()
        pid_file.release()
    assert not socket_path(locs).exists()
