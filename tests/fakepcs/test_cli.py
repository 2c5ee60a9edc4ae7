"""The command line: ``python contrib/fakepcs`` and ``python -m fakepcs``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def launch(args: list[str], **kw: object) -> tuple[subprocess.Popen[str], str]:
    """Start the CLI and read its "listening" line; never leaves a stray process."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, *args], stdout=subprocess.PIPE, text=True, env=env, **kw
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("fakepcs listening on http://127.0.0.1:"), line
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise
    return proc, line.rsplit(" ", 1)[-1]


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize("how", ["folder", "module"])
def test_cli_serves_and_stops(tmp_path: Path, how: str) -> None:
    root = tmp_path / "cloud"
    flags = [
        "--root",
        str(root),
        "--port",
        "0",
        "--token",
        "T0",
        "--rapidupload-31023",
        "--fail-next",
        json.dumps({"kind": "31034", "methods": ["list"]}),
    ]
    if how == "folder":
        proc, url = launch(["contrib/fakepcs", *flags], cwd=str(REPO))
    else:
        proc, url = launch(["-m", "fakepcs", *flags], cwd=str(REPO / "contrib"))
    try:
        q = {"access_token": "T0", "method": "info"}
        assert requests.get(f"{url}/rest/2.0/pcs/quota", params=q, timeout=10).json()["used"] == 0
        r = requests.get(
            f"{url}/rest/2.0/pcs/file",
            timeout=10,
            params={"access_token": "T0", "method": "list", "path": "/apps/bypy"},
        )
        assert r.json()["error_code"] == 31034
        r = requests.post(
            f"{url}/rest/2.0/pcs/file",
            timeout=10,
            params={
                "access_token": "T0",
                "method": "rapidupload",
                "path": "/apps/bypy/x",
                "content-length": "300000",
                "content-md5": "0" * 32,
                "slice-md5": "0" * 32,
            },
        )
        assert r.json()["error_code"] == 31023
    finally:
        stop(proc)
    assert (root / "apps" / "bypy").is_dir()


def test_cli_help_lists_flags() -> None:
    out = subprocess.run(
        [sys.executable, "contrib/fakepcs", "--help"],
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    for flag in (
        "--root",
        "--port",
        "--token",
        "--bandwidth",
        "--error-rate",
        "--latency",
        "--rapidupload-31023",
        "--superfile-md5",
        "--fail-next",
    ):
        assert flag in out
