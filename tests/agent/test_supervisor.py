"""The shipped `[program:pansync]` section under a real supervisord: it runs the agent, the agent
syncs, `supervisorctl stop` stops it mid-batch, and the remote's lock is released."""

from __future__ import annotations

import configparser
import contextlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.agent.conftest import eventually, reap_background_agent
from tests.e2e.harness import Client

PROGRAM = Path(__file__).resolve().parents[2] / "packaging" / "supervisor" / "pansync.conf"

pytestmark = pytest.mark.skipif(
    shutil.which("supervisord") is None or shutil.which("supervisorctl") is None,
    reason="supervisord is not installed (Debian: apt-get install supervisor)",
)


def adapted_program(client: Client, log: Path) -> str:
    """The shipped section, with this test's interpreter, PanSync home and log file."""
    parser = configparser.RawConfigParser()
    parser.read(PROGRAM)
    section = dict(parser["program:pansync"])
    section["command"] = f"{sys.executable} -m pansync.cli_agent run"
    keep = ("PANSYNC_HOME", "XDG_DATA_HOME", "HOME", "PATH", "PYTHONPATH")
    env = {k: client.env[k] for k in keep if k in client.env}
    section["environment"] = ",".join(f'{k}="{v}"' for k, v in env.items())
    section["stdout_logfile"] = str(log)
    return "[program:pansync]\n" + "".join(f"{k}={v}\n" for k, v in section.items())


@pytest.fixture
def supervised(fast_client: Callable[[str], Client], tmp_path: Path) -> Iterator[tuple[Client, Path]]:
    client = fast_client("alice")
    conf = tmp_path / "supervisord.conf"
    conf.write_text(
        f"""[unix_http_server]
file={tmp_path}/supervisor.sock
chmod=0700

[supervisord]
nodaemon=true
logfile={tmp_path}/supervisord.log
pidfile={tmp_path}/supervisord.pid
childlogdir={tmp_path}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{tmp_path}/supervisor.sock

{adapted_program(client, tmp_path / "agent.log")}"""
    )
    daemon = subprocess.Popen(
        ["supervisord", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield client, conf
    finally:
        ctl(conf, "shutdown")
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(10)
        reap_background_agent(client)


def ctl(conf: Path, *args: str) -> str:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc = subprocess.run(
            ["supervisorctl", "-c", str(conf), *args], capture_output=True, text=True, timeout=60, check=False
        )
        return proc.stdout + proc.stderr
    return ""


def test_supervisord_runs_the_shipped_program_and_stops_it_cleanly(
    supervised: tuple[Client, Path], cloud: Path
) -> None:
    client, conf = supervised
    eventually(lambda: "RUNNING" in ctl(conf, "status", "pansync"), 30, "supervisord to start the agent")
    client.write("hello.txt", "from supervisord")
    eventually(lambda: (cloud / "hello.txt").exists(), 30, "the agent to sync a file")

    payload = b"x" * 4096
    for i in range(1500):
        client.write(f"many/{i % 10}/{i}.bin", payload)
    lock = cloud / ".pansync" / ".config" / "lock.txt"
    eventually(lock.exists, 30, "a batch to take the lock")
    out = ctl(conf, "stop", "pansync")  # SIGTERM, as the section says; waits up to stopwaitsecs
    assert "pansync: stopped" in out, out
    assert "STOPPED" in ctl(conf, "status", "pansync")  # exit 0: not "EXITED"/"FATAL"
    assert not lock.exists(), "the agent left its lock behind"
    assert not any(p.name.startswith(".pansync") for p in client.root.rglob("*") if p.name != ".pansync.root")
