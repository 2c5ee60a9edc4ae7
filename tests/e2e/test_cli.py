"""The `pansync` command as a user meets it: real processes, real folders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pansync.config import load_config
from tests.e2e.harness import Client, cloud_trash, snapshot
from tests.e2e.test_decisions import converge

REMOTES = ["file", "baidu"]


def test_init_without_remote_uses_a_local_cloud_and_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "PANSYNC_HOME": str(tmp_path / "home")}
    local = tmp_path / "我的同步"
    out = subprocess.run(
        [sys.executable, "-m", "pansync", "init", "--local", str(local)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "local folder for now" in out.stdout and "baidu:" in out.stdout
    (local / "你好.txt").write_text("世界")
    out = subprocess.run([sys.executable, "-m", "pansync", "sync"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "home" / "data" / "cloud" / "main" / "你好.txt").read_text() == "世界"


def test_the_installed_executable_syncs_and_exits_with_the_commands_status(alice: Client) -> None:
    """The `pansync` console script (`cli.program`, which ends without the interpreter's teardown)
    prints the whole result into a pipe and exits with the command's status, 0 or 2."""
    exe = Path(sys.executable).with_name("pansync")
    if not exe.exists():
        pytest.skip("pansync is not installed beside this Python (`pip install -e .` puts it there)")
    env = {k: v for k, v in alice.env.items() if k != "PYTHONUNBUFFERED"}  # a pipe's block buffer
    alice.write("项目/说明.txt", "第一版")
    done = subprocess.run([str(exe), "sync"], env=env, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.rstrip().endswith("main: in sync (2 actions, 0 conflicts, 0 skipped, 0 failed)")
    refused = subprocess.run(
        [str(exe), "sync", "--folder", "不存在"], env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2 and "'不存在'" in refused.stderr


def test_version_help_and_examples() -> None:
    out = subprocess.run([sys.executable, "-m", "pansync", "--version"], capture_output=True, text=True)
    assert out.stdout.startswith("pansync, version ")
    for command in ["init", "sync", "conflicts", "status", "completion"]:
        out = subprocess.run(
            [sys.executable, "-m", "pansync", command, "--help"], capture_output=True, text=True, check=True
        )
        assert "Example:" in out.stdout, command
    for group in ["trash", "exclude"]:
        out = subprocess.run(
            [sys.executable, "-m", "pansync", group, "--help"], capture_output=True, text=True, check=True
        )
        assert "Example:" in out.stdout, group
        for sub in ["list"]:
            out = subprocess.run(
                [sys.executable, "-m", "pansync", group, sub, "--help"],
                capture_output=True,
                text=True,
                check=True,
            )
            assert "Example:" in out.stdout


def test_shipped_completion_files_are_current() -> None:
    contrib = Path(__file__).resolve().parents[2] / "contrib" / "completions"
    for shell in ["bash", "zsh", "fish"]:
        out = subprocess.run(
            [sys.executable, "-m", "pansync", "completion", shell], capture_output=True, text=True, check=True
        )
        assert (contrib / f"pansync.{shell}").read_text() == out.stdout, f"regenerate pansync.{shell}"


def test_completion_scripts() -> None:
    for shell, marker in [("bash", "complete "), ("zsh", "compdef"), ("fish", "complete ")]:
        out = subprocess.run(
            [sys.executable, "-m", "pansync", "completion", shell], capture_output=True, text=True, check=True
        )
        assert marker in out.stdout and "_PANSYNC_COMPLETE" in out.stdout


def test_broken_config_names_key_and_line(alice: Client) -> None:
    alice.config_path.write_text(
        "client:\n  name: alice\nfolders:\n  - name: main\n    local: /tmp/x\n    remote: ftp://nas/x\n"
    )
    out = alice.cli("sync")
    assert out.returncode == 2
    assert "folders[0].remote, line 6" in out.stderr and "ftp" in out.stderr


def test_a_usage_error_is_clicks_message_and_status_2(alice: Client) -> None:
    out = alice.cli("sync", "--no-such-option")
    assert out.returncode == 2 and "No such option" in out.stderr and "--no-such-option" in out.stderr
    assert alice.cli("no-such-command").returncode == 2


def test_an_interrupt_before_the_command_starts_exits_130(
    alice: Client, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Wherever Ctrl-C lands, `pansync` says "Interrupted." and exits with 130 (click's own
    handling, before a command's body runs, said "Aborted!" and exited with 1)."""
    import pansync.config
    from pansync.cli import main

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pansync.config, "load_config", interrupted)
    monkeypatch.setenv("PANSYNC_HOME", str(alice.home))
    monkeypatch.setattr(sys, "argv", ["pansync", "status"])
    with pytest.raises(SystemExit) as ended:
        main()
    assert ended.value.code == 130
    err = capfd.readouterr().err
    assert "Interrupted." in err and "Aborted" not in err


def test_a_sync_with_nothing_to_do_imports_no_executor_nor_agent_socket(
    alice: Client, remote_kind: str
) -> None:
    """Start-up is most of a small folder's no-op: the executor, the agent's socket module and
    what they pull in (threads, `subprocess`, `socket`) load only for a sync with work or an agent
    to ask. The same command with a file to upload is the control: it imports the executor."""
    watch = ("pansync.execute", "pansync.daemon", "subprocess", "ruamel.yaml", "structlog")
    if remote_kind == "file":
        watch += ("socket",)  # Baidu's remote speaks HTTP
    probe = (
        "import atexit, runpy, sys\n"
        f"atexit.register(lambda: print(sorted(m for m in {watch!r} if m in sys.modules)))\n"
        "sys.argv = ['pansync', 'sync']\n"
        "runpy.run_module('pansync', run_name='__main__')\n"
    )

    def imported() -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe], env=alice.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[-1]

    alice.write("报告/第一章.txt", "初稿")
    assert "'pansync.execute'" in imported()
    assert imported() == "[]"


def test_unknown_folder_is_a_clear_error(alice: Client) -> None:
    out = alice.cli("sync", "--folder", "nope")
    assert out.returncode == 2 and "nope" in out.stderr and "main" in out.stderr
    out = alice.cli("sync", "--folder", "[旧]")  # brackets are a name, not markup
    assert out.returncode == 2 and "'[旧]'" in out.stderr


def _both_edit_a_long_bracketed_name(alice: Client, bob: Client) -> str:
    """A conflict waiting for bob's sync, on a path wider than any terminal, with brackets in it."""
    name = "论文/[草稿]/" + "第三章：实验结果与讨论，" * 4 + "[final].txt"
    alice.write(name, "base")
    converge(alice, bob)
    alice.write(name, "alice's")
    bob.write(name, "bob's")
    alice.sync()
    return name


def test_results_print_whole_paths_one_line_each_in_a_pipe(alice: Client, bob: Client) -> None:
    """Scripts grep these lines: a path wider than any terminal stays on its line, as named."""
    name = _both_edit_a_long_bracketed_name(alice, bob)
    out = bob.cli("sync")
    assert out.returncode == 0, out.stderr
    conflicts = [line for line in out.stdout.splitlines() if line.startswith("conflict: ")]
    assert len(conflicts) == 1 and conflicts[0].startswith(
        f"conflict: {name} -> kept both; yours is 论文/[草稿]/"
    )
    assert conflicts[0].endswith(".txt")


def test_trash_list_and_restore_from_the_cloud(alice: Client, bob: Client, cloud: Path) -> None:
    alice.write("论文/第三章.docx", "draft")
    converge(alice, bob)
    (alice.root / "论文" / "第三章.docx").unlink()
    converge(alice, bob)
    out = alice.cli("trash", "list")
    assert "论文/第三章.docx" in out.stdout and "cloud" in out.stdout
    out = bob.cli("trash", "restore", "论文/第三章.docx")
    assert out.returncode == 0, out.stderr
    converge(alice, bob)
    assert alice.read("论文/第三章.docx") == "draft"
    assert bob.read("论文/第三章.docx") == "draft"


def test_restore_of_something_not_in_trash_is_a_clear_error(alice: Client) -> None:
    alice.write("a.txt", "a")
    alice.sync()
    out = alice.cli("trash", "restore", "nothing-here.txt")
    assert out.returncode == 2 and "Not in trash" in out.stderr


def test_selective_sync_exclude_and_include_again(alice: Client, bob: Client, cloud: Path) -> None:
    alice.write("视频/2023/a.mp4", "movie a")
    alice.write("文档/b.txt", "b")
    converge(alice, bob)
    bob.write("视频/2023/bob-new.mp4", "made on bob")  # not yet in the cloud
    out = bob.cli("exclude", "add", "视频")
    assert out.returncode == 0, out.stderr
    bob.sync()
    assert (cloud / "视频" / "2023" / "bob-new.mp4").read_text() == "made on bob"  # safe first
    assert not (bob.root / "视频").exists()  # then gone from the laptop
    alice.write("视频/2024/new.mp4", "new movie")
    alice.sync()
    bob.sync()
    assert not (bob.root / "视频").exists()  # excluded: not downloaded
    assert (cloud / "视频" / "2023" / "a.mp4").exists()  # and never taken as deleted
    assert "视频" in bob.cli("exclude", "list").stdout
    bob.cli("exclude", "remove", "视频", check=True)
    bob.sync()
    assert (bob.root / "视频" / "2024" / "new.mp4").read_text() == "new movie"
    assert (bob.root / "视频" / "2023" / "bob-new.mp4").read_text() == "made on bob"


def test_status_json(alice: Client) -> None:
    import json

    alice.write("a.txt", "a")
    alice.sync()
    out = alice.cli("status", "--json")
    data = json.loads(out.stdout)
    folder = data["folders"][0]
    assert folder["folder"] == "main" and folder["synced_files"] == 1 and folder["last_sync"]


def test_status_in_a_pipe_is_plain_lines(alice: Client, bob: Client) -> None:
    """No table borders and no wrapping in a pipe: the folder's line and its paths stay whole."""
    name = _both_edit_a_long_bracketed_name(alice, bob)
    bob.sync()
    lines = bob.cli("status").stdout.splitlines()
    assert lines[0] == "agent: not running (start it with `pansync start`)"
    url = load_config(bob.config_path, env=bob.env).folders[0].remote.url
    assert f"main: {bob.root} <-> {url}" in lines
    assert "  synced files: 4" in lines and "  open conflicts: 1" in lines  # two folders, two files
    assert any(line.startswith(f"  conflict: {name} (copy: 论文/[草稿]/") for line in lines)
    assert not any(c in "".join(lines) for c in "┌│└")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_during_sync_leaves_no_torn_file(alice: Client, bob: Client, cloud: Path, sig: int) -> None:
    for i in range(40):
        alice.write(f"big/{i:02}.bin", os.urandom(4 << 20))
    alice.sync()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pansync", "sync"], env=bob.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (bob.root / "big").exists():
        time.sleep(0.02)
    time.sleep(0.2)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    for path in (bob.root / "big").glob("*"):
        if not path.name.startswith(".pansync"):
            assert path.read_bytes() == (cloud / "big" / path.name).read_bytes(), path
    assert not any(p.name.startswith(".pansync.tmp") for p in (bob.root / "big").glob("*"))
    assert not (cloud / ".pansync" / ".config" / "lock.txt").exists()  # the lock was released
    converge(alice, bob)
    assert snapshot(bob.root) == snapshot(cloud)


def test_conflicts_command_lists_open_conflicts(alice: Client, bob: Client) -> None:
    alice.write("x.txt", "base")
    converge(alice, bob)
    alice.write("x.txt", "A")
    bob.write("x.txt", "B")
    alice.sync()
    bob.sync()
    out = bob.cli("conflicts")
    assert "x.txt" in out.stdout and "conflicted copy bob" in out.stdout
    assert cloud_trash is not None


def test_clients_lists_every_computer(alice: Client, bob: Client) -> None:
    alice.write("a.txt", "a")
    alice.sync()
    bob.sync()
    out = alice.cli("clients")
    assert out.returncode == 0, out.stderr
    assert "alice" in out.stdout and "bob" in out.stdout


def test_a_client_record_is_written_when_it_changed_or_grew_old(
    alice: Client, cloud_remote: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync writes the record only when it would change beyond its time: deleted behind its back,
    it stays gone until the name changes or the refresh interval passes."""
    from pansync import session
    from pansync.clients import CLIENTS_DIR, list_clients

    def names() -> list[str]:
        return [r.name for r in list_clients(cloud_remote)]

    def forget_record() -> None:
        for file_name in cloud_remote.list_meta(CLIENTS_DIR):
            cloud_remote.delete_meta(f"{CLIENTS_DIR}/{file_name}")

    alice.write("笔记.txt", "第一版")
    alice.sync()
    assert names() == ["alice"]
    forget_record()
    alice.write("笔记.txt", "第二版")
    alice.sync()
    assert names() == [], "a sync soon after the last registration wrote the record again"
    config = alice.config_path.read_text(encoding="utf-8")
    alice.config_path.write_text(config.replace("name: alice", "name: 爱丽丝"), encoding="utf-8")
    alice.sync()
    assert names() == ["爱丽丝"], "a renamed client kept its old record"
    forget_record()
    monkeypatch.setattr(session, "CLIENT_REFRESH_S", 0.0)
    alice.sync()
    assert names() == ["爱丽丝"], "an old record was not refreshed"


def test_unlock_force_removes_a_dead_holders_lock(alice: Client, bob: Client, cloud_remote: Any) -> None:
    from pansync.errors import LockHeld
    from pansync.lock import Lease

    alice.write("a.txt", "a")
    alice.sync()
    Lease.acquire(cloud_remote, client_id="f" * 32, client_name="dead-laptop", ttl_s=600)
    try:
        bob.sync()
    except LockHeld as exc:
        assert "dead-laptop" in exc.message
    else:
        raise AssertionError("the lock was not honoured")
    assert "dead-laptop" in bob.cli("status").stdout
    out = bob.cli("unlock", "--force")
    assert "dead-laptop" in out.stdout
    assert not bob.sync().failed


def test_auth_stores_tokens_privately_and_syncs_with_baidu(
    alice: Client, remote_kind: str, fake_baidu: Any
) -> None:
    if remote_kind != "baidu":
        pytest.skip("tokens concern the baidu: remote")
    out = alice.cli("auth", "--access-token", fake_baidu.token, "--refresh-token", fake_baidu.refresh_token)
    assert out.returncode == 0, out.stderr
    token_file = alice.home / "state" / "bypy" / "bypy.json"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert fake_baidu.token not in out.stdout + out.stderr
    alice.write("百度.txt", "网盘")
    out = alice.cli("sync")
    assert out.returncode == 0, out.stderr
    assert fake_baidu.token not in out.stdout + out.stderr
