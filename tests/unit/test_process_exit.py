"""The quick exit: the status and output `sys.exit` gives, exit handlers run, no teardown."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PRELUDE = """
import atexit, sys, threading, time
from pansync.process_exit import leave

class Finalized:
    def __del__(self):
        sys.stdout.write(" [torn down]")

keep = Finalized()  # a module global: freed only by the interpreter's teardown
atexit.register(lambda: sys.stdout.write(" [exit handler]"))
sys.stdout.write("完成：同步结束")  # buffered: only the flush at exit writes it to the pipe
"""


BUFFERED = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
"""stdout to a pipe is block-buffered, as a service manager or `| less` has it."""


def _run(body: str) -> subprocess.CompletedProcess[str]:
    code = PRELUDE + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=BUFFERED
    )


@pytest.mark.parametrize(
    ("code", "status", "stderr"),
    [("None", 0, ""), ("0", 0, ""), ("3", 3, ""), ("'同步失败：配置有误'", 1, "同步失败：配置有误\n")],
)
def test_status_and_output_are_those_of_sys_exit(code: str, status: int, stderr: str) -> None:
    done = _run(f"leave({code})")
    assert (done.returncode, done.stderr) == (status, stderr)
    assert done.stdout == "完成：同步结束 [exit handler]"  # flushed, handlers run, no teardown


def test_sys_exit_tears_down_which_leave_skips() -> None:
    """The control: the same program ended by `sys.exit` frees its globals (what costs the time)."""
    done = _run("sys.exit(0)")
    assert done.returncode == 0 and done.stdout.endswith(" [torn down]")


def test_a_running_thread_is_waited_for(tmp_path: Path) -> None:
    """With a second thread alive the ordinary exit runs: a non-daemon thread finishes its work."""
    marker = tmp_path / "written"
    done = _run(f"""
        def late():
            time.sleep(0.3)
            open({str(marker)!r}, "w").close()
        threading.Thread(target=late).start()
        leave(4)
    """)
    assert done.returncode == 4 and marker.exists()


@pytest.mark.parametrize("end", ["leave(0)", "sys.exit(0)"])
def test_a_reader_gone_is_the_status_python_gives(end: str) -> None:
    """stdout's reader closed before the flush: 120, as CPython exits when its own flush fails."""
    code = PRELUDE + f"sys.stdin.read()\n{end}\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=BUFFERED,
    )
    assert proc.stdout is not None and proc.stdin is not None
    proc.stdout.close()
    proc.stdin.close()
    assert proc.wait(timeout=60) == 120
