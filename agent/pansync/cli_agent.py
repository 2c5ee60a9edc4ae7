"""The agent's commands on the `pansync` group: run, start, stop, pause, resume, autostart.

Registered by importing this module (`cli` does when one of them is named, or listed by
`--help`); `python -m pansync.cli_agent` runs the group with these commands too, which is what
`pansync start` launches. What `status` and `sync` ask a running agent is `agent_client`.

Limit: talks to people and to the control socket; the agent itself is `agent`, the process
handling `daemon`.
"""

from __future__ import annotations

import platform
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from pansync.cli import Context, _errors, _fail, cli
from pansync.daemon import request, start_agent, stop_agent
from pansync.errors import PanSyncError
from pansync.output import err, out

__all__ = ["main"]

UNIT_NAME = "pansync.service"
PLIST_LABEL = "com.pansync.agent"


# -- commands ---------------------------------------------------------------------------------------


@cli.command()
@click.option("-v", "--verbose", "more", count=True, help="-v every decision; -vv also backend requests.")
@click.option(
    "--detached", is_flag=True, hidden=True, help="Started by `pansync start`: log to the file only."
)
@click.pass_obj
def run(ctx: Context, more: int, detached: bool) -> None:
    """Run the agent in the foreground: watch, poll and sync until Ctrl-C.

    -v prints every decision as it happens (event, debounced, queued, batch, each action, lock);
    -vv adds the backend's requests. Logs also go to the rotated log file.

    \b
    Example:
      pansync run -v
    """
    from pansync.agent import Agent
    from pansync.log import configure_logging

    with _errors():
        config = ctx.config()
        configure_logging(  # detached, stderr is a file nobody rotates: the JSON log has it all
            verbosity=ctx.verbose + more,
            log_dir=ctx.locs.log_dir,
            console=not detached,
            level=config.log.level,
        )
        announce = (lambda line: None) if detached else (lambda line: err(line))
        sys.exit(Agent(config, ctx.locs, verbose=ctx.verbose + more, announce=announce).run())


@cli.command()
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for it to come up.")
@click.pass_obj
def start(ctx: Context, timeout: float) -> None:
    """Start the agent in the background (it keeps running after you log out of this shell).

    \b
    Example:
      pansync start && pansync status
    """
    with _errors():
        ctx.config()  # a broken configuration is reported here, not in a log nobody reads
        try:
            result = start_agent(ctx.locs, str(ctx.config_path), ctx.env, timeout)
        except RuntimeError as exc:
            raise PanSyncError(str(exc), title="Agent did not start") from None
    if result.started:
        out(f"Agent started, pid {result.pid}.")
    else:
        out(f"Agent already running, pid {result.pid}.")


@cli.command()
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait before killing it.")
@click.pass_obj
def stop(ctx: Context, timeout: float) -> None:
    """Stop the background agent; the action in flight finishes and the lock is released first.

    \b
    Example:
      pansync stop --timeout 120
    """
    pid, killed = stop_agent(ctx.locs, timeout)
    if pid is None:
        out("Agent not running.")
    elif killed:
        err(
            f"Agent (pid {pid}) did not stop within {timeout:g}s and was killed. Nothing is torn: files "
            "are replaced atomically, and a lock it held expires after lock.ttl."
        )
    else:
        out(f"Agent stopped (was pid {pid}).")


def _pause_or_resume(ctx: Context, name: str | None, cmd: str) -> None:
    answer = request(ctx.locs, {"cmd": cmd, "folder": name})
    if answer is None:
        _fail(PanSyncError("no agent is running; start it with `pansync start`", title="Agent not running"))
        sys.exit(2)
    if not answer.get("ok"):
        _fail(PanSyncError(str(answer.get("error")), title="Agent refused"))
        sys.exit(2)
    verb = "Paused" if cmd == "pause" else "Resumed"
    out(f"{verb}: {', '.join(answer.get('folders', []))}.")


@cli.command()
@click.option("--folder", "name", help="Only this folder.")
@click.pass_obj
def pause(ctx: Context, name: str | None) -> None:
    """Pause syncing in the running agent (it keeps watching; paused stays paused across restarts).

    \b
    Example:
      pansync pause --folder main
    """
    _pause_or_resume(ctx, name, "pause")


@cli.command()
@click.option("--folder", "name", help="Only this folder.")
@click.pass_obj
def resume(ctx: Context, name: str | None) -> None:
    """Resume syncing after `pansync pause`; queued changes are synced at once.

    \b
    Example:
      pansync resume
    """
    _pause_or_resume(ctx, name, "resume")


# -- autostart ----------------------------------------------------------------------------------------


def _program(ctx: Context) -> list[str]:
    return [sys.executable, "-m", "pansync.cli_agent", "--config", str(ctx.config_path), "run"]


def _quote(arg: str) -> str:
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"' if any(c in arg for c in ' "\\') else arg


def systemd_unit(program: list[str], env: dict[str, str]) -> str:
    """A systemd user unit running `program`; the shipped `packaging/systemd/pansync.service` with
    this computer's interpreter and PanSync home filled in."""
    lines = [
        "[Unit]",
        "Description=PanSync agent: two-way sync of local folders with Baidu Netdisk",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(_quote(a) for a in program),
        *(f"Environment={_quote(f'{k}={v}')}" for k, v in sorted(env.items())),
        "Restart=on-failure",
        "RestartSec=10",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=90",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def launchd_plist(program: list[str], env: dict[str, str], log_path: Path) -> bytes:
    """A LaunchAgent running `program` at login, restarted if it fails (cf. packaging/launchd)."""
    spec: dict[str, Any] = {
        "Label": PLIST_LABEL,
        "ProgramArguments": program,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ProcessType": "Background",
        "ExitTimeOut": 90,
        "StandardOutPath": str(log_path),
        "StandardErrorPath": str(log_path),
    }
    if env:
        spec["EnvironmentVariables"] = env
    return plistlib.dumps(spec)


def _autostart_file(system: str, home: Path, env: dict[str, str]) -> Path:
    if system == "darwin":
        return home / "Library" / "LaunchAgents" / f"{PLIST_LABEL}.plist"
    config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return config_home / "systemd" / "user" / UNIT_NAME


def _run(command: list[str]) -> tuple[bool, str]:
    """Run a service-manager command if it exists; (worked, its output)."""
    if shutil.which(command[0]) is None:
        return False, f"{command[0]} not found"
    proc = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    return proc.returncode == 0, (proc.stderr or proc.stdout).strip()


def autostart_apply(ctx: Context, action: str, system: str | None = None) -> list[str]:
    """Install, remove or report the login item for this platform; returns the lines to print."""
    system = system or platform.system().lower()
    home = Path(ctx.env.get("HOME") or Path.home())
    path = _autostart_file(system, home, dict(ctx.env))
    env = {k: v for k, v in ctx.env.items() if k in ("PANSYNC_HOME", "PANSYNC_CONFIG")}
    if system == "darwin":
        manager = ["launchctl", "load", "-w", str(path)] if action == "enable" else []
        manager = ["launchctl", "unload", "-w", str(path)] if action == "disable" else manager
        content = launchd_plist(_program(ctx), env, home / "Library" / "Logs" / "pansync-agent.log")
    elif system == "linux":
        if action == "enable":
            manager = ["systemctl", "--user", "enable", "--now", UNIT_NAME]
        else:
            manager = ["systemctl", "--user", "disable", "--now", UNIT_NAME]
        content = systemd_unit(_program(ctx), env).encode()
    else:
        return [
            f"autostart is not supported on {system}; run `pansync start` from your login script, "
            "or use packaging/supervisor/pansync.conf with supervisord"
        ]
    if action == "status":
        state = "installed" if path.exists() else "not installed"
        return [f"autostart: {state} ({path})"]
    lines = []
    if action == "enable":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        lines.append(f"Wrote {path}")
        if system == "linux":
            _run(["systemctl", "--user", "daemon-reload"])
    ok, output = _run(manager)
    if action == "disable":
        if path.exists():
            path.unlink()
            lines.append(f"Removed {path}")
        else:
            lines.append(f"autostart was not enabled ({path} does not exist)")
        if system == "linux":
            _run(["systemctl", "--user", "daemon-reload"])
    if ok:
        lines.append(f"Ran: {' '.join(manager)}")
    else:
        lines.append(f"Could not run `{' '.join(manager)}` ({output or 'failed'}); run it yourself.")
    return lines


@cli.command()
@click.argument("action", type=click.Choice(["enable", "disable", "status"]))
@click.pass_obj
def autostart(ctx: Context, action: str) -> None:
    """Start the agent at login: a systemd user unit on Linux, a LaunchAgent on macOS.

    \b
    Example:
      pansync autostart enable
    """
    for line in autostart_apply(ctx, action):
        out(line)


def main() -> None:
    cli(prog_name="pansync")


if __name__ == "__main__":
    main()
