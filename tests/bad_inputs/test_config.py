"""Broken configuration and ignore rules: every mistake is one `ConfigError` (or folder error) naming
the file, the key and the line, with a hint; none is a crash, and a sync with bad ignore rules stops
before touching anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from pansync.config import load_config
from pansync.errors import ConfigError, FolderError
from tests.bad_inputs._support import assert_kept
from tests.e2e.harness import Client, snapshot

BASE = """\
client:
  name: alice
folders:
  - name: main
    local: {d}/root
    remote: file://{d}/cloud
"""


def _with(d: Path, old: str, new: str) -> str:
    text = BASE.format(d=d)
    old = old.format(d=d)
    assert old in text
    return text.replace(old, new.format(d=d))


# (config text for folder d, fragments the one-line message must hold)
CASES: dict[str, tuple[str, list[str]]] = {
    # YAML that does not parse: the line and column of the problem
    "tab-indent": ("client:\n\tname: alice\n", ["line 2, column 1", "YAML syntax error", "'\\t'"]),
    "unclosed-brace": ("client: {name: alice\nfolders: []\n", ["line 2, column 8", "YAML syntax error"]),
    "bad-indent": ("client:\n  name: alice\n folders: []\n", ["line 3, column 2", "YAML syntax error"]),
    "duplicate-key": (
        "sync:\n  mode: realtime\nsync:\n  mode: interval\n",
        ["line 3, column 1", 'duplicate key "sync"'],
    ),
    # unknown keys, named with their line and a suggestion
    "unknown-section": (BASE + "synk:\n  mode: realtime\n", ["synk, line 7", "did you mean 'sync'"]),
    "unknown-sync-key": (BASE + "sync:\n  debounse: 2s\n", ["sync.debounse, line 8", "'debounce'"]),
    # units and values
    "debounce-fast": (BASE + "sync:\n  debounce: fast\n", ["sync.debounce, line 8", "not a duration"]),
    "max-delete-150%": (BASE + "sync:\n  max_delete: 150%\n", ["sync.max_delete, line 8", "over 100%"]),
    "max-delete-negative": (BASE + "sync:\n  max_delete: -5\n", ["sync.max_delete, line 8", "-5"]),
    "upload-limit-per-hour": (
        BASE + "transfer:\n  upload_limit: 2MB/h\n",
        ["transfer.upload_limit, line 8", "'2MB/h' is not a rate", "2MiB/s"],
    ),
    "ttl-1s": (BASE + "lock:\n  ttl: 1s\n", ["lock.ttl, line 8", "at least 5s"]),
    "retention-forever": (BASE + "trash:\n  retention: forever\n", ["trash.retention, line 8", "30d"]),
    "concurrency-0": (BASE + "transfer:\n  concurrency: 0\n", ["transfer.concurrency, line 8", "at least 1"]),
    "keep-replaced-text": (
        BASE + "trash:\n  keep_replaced: yes please\n",
        ["trash.keep_replaced, line 8", "true or false"],
    ),
    "window-25h": (BASE + "sync:\n  window: 25:00-06:00\n", ["sync.window, line 8", "impossible time"]),
    "endpoint-ftp": (BASE + "baidu:\n  endpoint: ftp://x\n", ["baidu.endpoint, line 8", "http(s) URL"]),
    # folders
    "local-relative": (
        "{relative}",
        ["folders[0].local, line 5", "must be absolute", "relative/root"],
    ),
    "local-is-slash": ("{slash}", ["folders[0].local, line 5", "whole file system"]),
    "remote-ftp": ("{ftp}", ["folders[0].remote, line 6", "unknown scheme 'ftp'", "file:// or baidu:"]),
    "remote-two-slashes": ("{two_slashes}", ["folders[0].remote, line 6", "three slashes"]),
    "remote-outside-app-folder": ("{outside}", ["folders[0].remote, line 6", "/apps/bypy"]),
    "same-local-root-twice": (
        BASE + "  - name: second\n    local: {d}/root\n    remote: file://{d}/cloud2\n",
        ["folders[1].local, line 8", "overlaps the local folder of folder 'main'"],
    ),
    "remote-inside-local": ("{nested_remote}", ["folders[0].remote, line 6", "overlaps"]),
    "folder-name-twice": (
        BASE + "  - name: MAIN\n    local: {d}/root2\n    remote: file://{d}/cloud2\n",
        ["folders[1].name, line 7", "duplicate folder name 'MAIN'"],
    ),
    "exclude-bad-regex": ("{bad_regex}", ["folders[0].exclude, line 6", "bad pattern '[z-a]'"]),
    "exclude-bad-pattern": ("{bad_git}", ["folders[0].exclude, line 6", "bad pattern '!'"]),
}


def _text(d: Path, template: str) -> str:
    specials = {
        "{relative}": _with(d, "local: {d}/root", "local: relative/root"),
        "{slash}": _with(d, "local: {d}/root", "local: /"),
        "{ftp}": _with(d, "remote: file://{d}/cloud", "remote: ftp://nas/share"),
        "{two_slashes}": _with(d, "remote: file://{d}/cloud", "remote: file://cloud"),
        "{outside}": _with(d, "remote: file://{d}/cloud", "remote: baidu:/elsewhere/x"),
        "{nested_remote}": _with(d, "remote: file://{d}/cloud", "remote: file://{d}/root/cloud"),
        "{bad_regex}": _with(d, "    remote:", "    exclude: ['[z-a]']\n    remote:"),
        "{bad_git}": _with(d, "    remote:", "    exclude: ['!']\n    remote:"),
    }
    if template in specials:
        return specials[template]
    return template.format(d=d) if "{d}" in template else template


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_config_is_one_error_naming_file_key_and_line(tmp_path: Path, case: str) -> None:
    template, fragments = CASES[case]
    path = tmp_path / "config.yaml"
    path.write_text(_text(tmp_path, template), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path, env={"HOME": str(tmp_path)})
    message = error.value.message
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert "\n" not in message


def test_a_config_that_is_not_utf8_or_not_a_file(tmp_path: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"client:\n  name: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"binary\.yaml: not UTF-8 text \(bad byte at offset 16\)"):
        load_config(binary)
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError, match=r"folder\.yaml: cannot read"):
        load_config(folder)


def test_the_cli_prints_one_line_and_exits_2_for_a_bad_config(alice: Client) -> None:
    alice.config_path.write_text(
        alice.config_path.read_text() + "sync:\n  debounce: fast\n  max_delete: 150%\n", encoding="utf-8"
    )
    out = alice.cli("sync")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "sync.debounce" in lines[0] and "line 8" in lines[0], out.stderr
    assert not alice.root.exists()  # nothing was set up from a config that does not load


IGNORE_FILES: dict[str, tuple[bytes, str]] = {
    "bad-regex": (b"*.tmp\n[z-a]\n", "line 2: bad pattern '[z-a]'"),
    "bad-negation": (b"build/\n!\n", "line 2: bad pattern '!'"),
    "not-utf8": (b"\xff\xfe*\x00.tmp\n", "cannot read it"),
}


@pytest.mark.parametrize("damage", sorted(IGNORE_FILES))
def test_unusable_ignore_rules_stop_the_sync_before_anything_changes(
    alice: Client, bob: Client, cloud: Path, damage: str
) -> None:
    alice.write("keep.txt", "k")
    alice.write("secret.tmp", "never upload")
    alice.write(".pansyncignore", "*.tmp\n")
    alice.sync()
    bob.sync()
    data, fragment = IGNORE_FILES[damage]
    (alice.root / ".pansyncignore").write_bytes(data)
    (alice.root / "keep.txt").unlink()  # a deletion that must wait for the rules to be fixed
    before_cloud = snapshot(cloud)
    with pytest.raises(FolderError) as stopped:
        alice.sync()
    message = str(stopped.value)
    assert ".pansyncignore" in message and fragment in message, message
    assert "Nothing was synced" in message
    assert_kept(before_cloud, snapshot(cloud))
    assert "secret.tmp" not in snapshot(cloud)
    (alice.root / ".pansyncignore").write_text("*.tmp\n")
    assert not alice.sync().failed
    assert set(snapshot(cloud)) == set()  # now the deletion goes through, the secret never went up


def test_an_ignore_file_that_is_a_folder_stops_the_sync(alice: Client, cloud: Path) -> None:
    alice.write("a.txt", "a")
    alice.sync()
    (alice.root / ".pansyncignore").mkdir()
    alice.write("b.txt", "b")
    with pytest.raises(FolderError, match=r"\.pansyncignore: cannot read it"):
        alice.sync()
    assert set(snapshot(cloud)) == {"a.txt"}
