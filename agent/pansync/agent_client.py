"""The client side of a running agent's control socket: its status, and a sync done by it.

`pansync status` shows what the agent says (or, when none runs, the queues it left on disk);
`pansync sync` hands its work to a running agent instead of fighting it for the lock. Kept apart
from the agent's commands (`cli_agent`) so that a sync imports only this, and of the agent's
process only its pid file (`pidfile`) unless one runs.

Limit: asks and reports; the socket is `daemon`'s, the agent `agent`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pansync.errors import PanSyncError
from pansync.output import err
from pansync.paths import Locations
from pansync.pidfile import running_pid
from pansync.units import format_duration, format_size

__all__ = ["AgentSyncFailed", "agent_status", "ask_agent_to_sync", "render_agent_status"]


class AgentSyncFailed(PanSyncError):
    """The running agent synced on request and some of it failed; `exit_code` is `sync`'s status."""

    title = "Sync incomplete"

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def agent_status(locs: Locations, folders: Iterable[str] = ()) -> dict[str, Any]:
    """The agent's view: live from its socket, or (when none runs) the queues left on disk.

    `{"running": bool, "pid", "uptime", "folders": {name: {state, queue, transfers, last_sync,
    next_run, last_error, failures, ...}}}`; times are Unix seconds.
    """
    from pansync.daemon import request

    answer = request(locs, {"cmd": "status"}, timeout=5.0)
    if answer is not None and answer.get("ok"):
        answer.pop("ok", None)
        return answer
    from pansync.workqueue import WorkQueue, queue_path

    offline: dict[str, Any] = {}
    for name in folders:
        path = queue_path(locs.state_dir, name)
        if not path.exists():
            offline[name] = {"state": "stopped", "queue": 0, "failures": []}
            continue
        queue = WorkQueue(path)
        try:
            failures = [
                {"path": i.key, "attempts": i.attempts, "permanent": i.failed, "error": i.last_error}
                for i in queue.failures(20)
            ]
            offline[name] = {"state": "stopped", "queue": queue.depth(), "failures": failures}
        finally:
            queue.close()
    return {"running": False, "pid": None, "folders": offline}


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    moment = datetime.fromtimestamp(epoch).astimezone()
    delta = epoch - time.time()
    relative = f"in {format_duration(round(delta))}" if delta > 0 else f"{format_duration(round(-delta))} ago"
    return f"{moment:%Y-%m-%d %H:%M:%S} ({relative})"


def render_agent_status(say: Callable[[str], None], status: dict[str, Any]) -> None:
    """Human lines for `pansync status`: the agent, then one block per folder."""
    if status.get("running"):
        say(f"agent: running, pid {status['pid']}, up {format_duration(round(status.get('uptime', 0)))}")
    else:
        say("agent: not running (start it with `pansync start`)")
    for name, f in status.get("folders", {}).items():
        line = f"  {name}: {f.get('state', '?')}, {f.get('queue', 0)} queued"
        if status.get("running"):
            line += f", last sync {_when(f.get('last_sync'))}"
            if f.get("next_run"):
                line += f", next run {_when(f['next_run'])}"
        say(line)
        for t in f.get("transfers", []):
            arrow = "↑" if t["direction"] == "up" else "↓"
            size = f"{format_size(t['done'])} of {format_size(t['size'])}"
            say(f"    {arrow} {t['path']} ({size})")
        if f.get("last_error"):
            say(f"    last error: {f['last_error']}")
        if f.get("watch_problem"):
            say(f"    watching: {f['watch_problem']}")
        for item in f.get("failures", []):
            kind = "gave up" if item["permanent"] else f"retrying (attempt {item['attempts']})"
            say(f"    failed: {item['path']}: {item['error']} [{kind}]")


def ask_agent_to_sync(
    locs: Locations, folder: str | None, say: Callable[[str], None] = err, *, force: bool = False
) -> bool:
    """Have the running agent sync now and `say` its progress, a line at a time; False when no
    agent runs.

    `force` is `pansync sync --force` (that one run may exceed `sync.max_delete`). A dry run is not
    the agent's business: `pansync sync --dry-run` plans on its own. Raises `AgentSyncFailed` (its
    `exit_code` 1 or 2, as `sync` exits) when the agent's sync did not fully succeed.
    """
    if running_pid(locs) is None:
        return False  # the usual case: answered without importing the socket's module
    from pansync.daemon import request_stream

    answered, failed, broken = False, 0, False
    shown: set[str] = set()
    ask = {"cmd": "sync-now", "folder": folder, "wait": True, "force": force}
    for message in request_stream(locs, ask, timeout=None):
        answered = True
        event = message.get("event")
        if message.get("ok") is False and event is None:
            raise PanSyncError(str(message.get("error")), title="Agent refused")
        if event == "progress":
            for t in message.get("transfers", []):
                if t["path"] not in shown:
                    shown.add(t["path"])
                    arrow = "↑" if t["direction"] == "up" else "↓"
                    say(f"{arrow} {t['path']} ({format_size(t['size'])})")
        elif event == "done":
            name = message.get("folder")
            if message.get("error"):
                broken = True
                say(f"{name}: not synced: {message['error']}")
            else:
                failed += int(message.get("failed", 0))
                say(
                    f"{name}: synced by the running agent ({message.get('actions', 0)} actions, "
                    f"{message.get('conflicts', 0)} conflicts, {message.get('failed', 0)} failed)",
                )
    if not answered:
        return False
    if broken or failed:
        what = "a folder could not be synced" if broken else f"{failed} items failed; retried later"
        raise AgentSyncFailed(f"{what}; see `pansync status`", 2 if broken else 1)
    return True
