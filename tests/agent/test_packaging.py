"""The shipped service files, and `pansync autostart` writing this computer's own version of them."""

from __future__ import annotations

import configparser
import os
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pansync.cli import Context
from pansync.cli_agent import autostart_apply
from tests.e2e.harness import Client

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def verify_user_unit(unit: Path, home: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    return subprocess.run(
        ["systemd-analyze", "--user", "verify", str(unit)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_shipped_systemd_unit_verifies(tmp_path: Path) -> None:
    home = tmp_path / "home"  # %h: where the README installs the venv
    (home / ".pansync-venv" / "bin").mkdir(parents=True)
    (home / ".pansync-venv" / "bin" / "pansync").symlink_to(Path(sys.executable).parent / "pansync")
    proc = verify_user_unit(PACKAGING / "systemd" / "pansync.service", home, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (PACKAGING / "systemd" / "pansync.service").read_text()
    assert "Type=simple" in text and "Restart=on-failure" in text and "pansync run" in text


def test_the_launchd_plist_parses_and_names_the_program() -> None:
    with open(PACKAGING / "launchd" / "com.pansync.agent.plist", "rb") as f:
        spec = plistlib.load(f)
    assert spec["Label"] == "com.pansync.agent"
    assert spec["ProgramArguments"][-1].endswith('.pansync-venv/bin/pansync" run')
    assert spec["RunAtLoad"] is True and spec["KeepAlive"] == {"SuccessfulExit": False}


def test_the_supervisor_section_runs_pansync_and_stops_it_gently() -> None:
    parser = configparser.RawConfigParser()
    parser.read(PACKAGING / "supervisor" / "pansync.conf")
    program = parser["program:pansync"]
    assert program["command"].endswith("/bin/pansync run")
    assert program["stopsignal"] == "TERM" and int(program["stopwaitsecs"]) >= 60
    assert program["exitcodes"] == "0" and program["autorestart"] == "unexpected"


def home_env(client: Client, home: Path) -> dict[str, str]:
    env = {k: v for k, v in client.env.items() if k != "XDG_CONFIG_HOME"}
    return {**env, "HOME": str(home)}


def test_autostart_on_linux_writes_a_user_unit_and_says_what_to_run(
    make_client: Callable[..., Client], tmp_path: Path
) -> None:
    client = make_client("alice")
    home = tmp_path / "fakehome"
    home.mkdir()
    env = home_env(client, home)
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "pansync.cli_agent", "autostart", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if not sys.platform.startswith("linux"):
        pytest.skip("the Linux branch of autostart")
    assert "not installed" in run("status").stdout
    out = run("enable")
    unit = home / ".config" / "systemd" / "user" / "pansync.service"
    assert out.returncode == 0 and f"Wrote {unit}" in out.stdout
    assert "systemctl --user enable --now pansync.service" in out.stdout  # ran it, or says to
    text = unit.read_text()
    assert f"ExecStart={sys.executable} -m pansync.cli_agent --config " in text
    assert f"Environment=PANSYNC_HOME={client.home}" in text
    if shutil.which("systemd-analyze"):
        proc = verify_user_unit(unit, home, tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "installed" in run("status").stdout
    out = run("disable")
    assert f"Removed {unit}" in out.stdout and not unit.exists()
    assert "was not enabled" in run("disable").stdout


def test_autostart_on_macos_writes_a_launch_agent(tmp_path: Path) -> None:
    ctx = Context(None, 0)
    ctx.env = {"HOME": str(tmp_path), "PANSYNC_HOME": "/srv/pansync"}
    lines = autostart_apply(ctx, "enable", system="darwin")
    plist = tmp_path / "Library" / "LaunchAgents" / "com.pansync.agent.plist"
    assert lines[0] == f"Wrote {plist}"
    spec = plistlib.loads(plist.read_bytes())
    assert spec["ProgramArguments"][:3] == [sys.executable, "-m", "pansync.cli_agent"]
    assert spec["ProgramArguments"][-1] == "run"
    assert spec["EnvironmentVariables"] == {"PANSYNC_HOME": "/srv/pansync"}
    lines = autostart_apply(ctx, "disable", system="darwin")
    assert f"Removed {plist}" in lines and not plist.exists()
    assert "not supported" in autostart_apply(ctx, "enable", system="plan9")[0]


def test_agent_commands_have_examples() -> None:
    from pansync import cli_agent  # importing registers them on the group

    for name in ("run", "start", "stop", "pause", "resume", "autostart"):
        assert "Example:" in (cli_agent.cli.commands[name].help or ""), name


def test_every_command_defined_elsewhere_is_named_for_lazy_loading() -> None:
    """`cli` imports `cli_agent` and `cli_folders` only for their commands: a command they add
    without a line in `COMMANDS_ELSEWHERE` would be missing from `pansync --help`."""
    from pansync import cli_agent, cli_folders
    from pansync.cli import COMMANDS_ELSEWHERE, cli

    registered = {
        name: command.callback.__module__
        for name, command in cli.commands.items()
        if command.callback is not None
        and command.callback.__module__ in (cli_agent.__name__, cli_folders.__name__)
    }
    assert registered == COMMANDS_ELSEWHERE


def test_a_sync_and_help_load_what_they_need() -> None:
    script = """
import sys
from click.testing import CliRunner
from pansync.cli import cli
runner = CliRunner()
helped = runner.invoke(cli, ["--help"])
assert helped.exit_code == 0 and "autostart" in helped.output and "conflicts" in helped.output, helped.output
"""
    quiet = (
        "import sys, pansync.cli\n"
        "assert 'pansync.cli_agent' not in sys.modules and 'pansync.cli_folders' not in sys.modules"
    )
    for code in (script, quiet):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
