"""The config file: loading, every error form, first-run creation, and round-trip edits."""

from __future__ import annotations

import datetime as dt
import re
import socket
import stat
import textwrap
import typing
from pathlib import Path

import msgspec.structs
import pytest
from ruamel.yaml import YAML

from pansync.config import (
    BaiduConfig,
    ClientConfig,
    Config,
    FolderConfig,
    RemoteSpec,
    SyncConfig,
    TransferConfig,
    default_client_name,
    load_config,
    parse_remote_url,
)
from pansync.config_file import add_folder, default_config_text, ensure_config
from pansync.errors import ConfigError
from pansync.units import FractionOrCount, TimeWindow

EXAMPLE = Path(__file__).resolve().parents[2] / "contrib" / "config.example.yaml"
MINIMAL = """\
client:
  name: alice
folders:
  - name: main
    local: /home/alice/PanSync
    remote: file:///mnt/nas/pansync
"""
ENV = {"HOME": "/home/alice"}
NAS = RemoteSpec("file", "/mnt/nas/pansync")


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env if env is not None else ENV)
    return str(caught.value)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- loading ---------------------------------------------------------------------------------------


def test_minimal_config_loads_with_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    config = load_config(path, env=ENV)
    assert config == Config(
        path=path,
        client=ClientConfig("alice"),
        folders=(FolderConfig("main", Path("/home/alice/PanSync"), NAS),),
    )
    assert config.sync.mode == "realtime"
    assert config.sync.debounce == 2.0
    assert config.sync.poll_interval == 30.0
    assert config.sync.full_scan_interval == 600.0
    assert config.sync.max_delete == FractionOrCount(fraction=0.5)
    assert config.trash.retention == 30 * 86400
    assert config.trash.keep_replaced is True
    assert config.lock.ttl == 120.0
    assert config.clients.stale_after == 30 * 86400
    assert config.transfer == TransferConfig(4, 1, None, None)
    assert config.baidu.endpoint is None
    assert config.log.level == "info"


def test_every_setting_can_be_given(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        client:
          name: 小明的电脑
        folders:
          - name: 同步盘
            local: /home/小明/同步盘
            remote: baidu:/apps/bypy/同步盘/
            exclude: ['*.tmp', 'build/', '!keep.tmp']
          - name: docs
            local: ~/Docs
            remote: FILE:///mnt//nas/docs
        sync:
          mode: interval
          interval: 1h30m
          window: 22:00-06:00
          debounce: 500ms
          poll_interval: 45
          full_scan_interval: 2h
          max_delete: 200
        trash:
          retention: 7d
          keep_replaced: false
        lock:
          ttl: 5s
        clients:
          stale_after: 2w
        transfer:
          concurrency: 8
          download_concurrency: 2
          upload_limit: 2MiB/s
          download_limit: 500KB/s
        baidu:
          endpoint: http://127.0.0.1:8080/
        log:
          level: DEBUG
        """,
    )
    config = load_config(path, env={"HOME": "/home/小明"})
    assert config.client.name == "小明的电脑"
    first, second = config.folders
    assert first == FolderConfig(
        "同步盘",
        Path("/home/小明/同步盘"),
        RemoteSpec("baidu", "/apps/bypy/同步盘"),
        ("*.tmp", "build/", "!keep.tmp"),
    )
    assert second.local == Path("/home/小明/Docs")
    assert second.remote.url == "file:///mnt/nas/docs"
    assert config.sync.mode == "interval"
    assert config.sync.interval == 5400
    assert config.sync.window == TimeWindow(dt.time(22), dt.time(6))
    assert config.sync.debounce == 0.5
    assert config.sync.poll_interval == 45
    assert config.sync.full_scan_interval == 7200
    assert config.sync.max_delete == FractionOrCount(count=200)
    assert (config.trash.retention, config.trash.keep_replaced) == (7 * 86400, False)
    assert config.lock.ttl == 5
    assert config.clients.stale_after == 14 * 86400
    assert config.transfer == TransferConfig(8, 2, 2 * 1024**2, 500_000)
    assert config.baidu.endpoint == "http://127.0.0.1:8080"
    assert config.log.level == "debug"


def test_empty_file_gives_defaults_and_the_host_name(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), env=ENV)
    assert config.folders == ()
    assert config.client.name == default_client_name()
    assert config.sync == SyncConfig()


def test_default_client_name_is_a_valid_short_host_name(tmp_path: Path) -> None:
    name = default_client_name()
    assert name in (socket.gethostname().split(".")[0], "pansync-client") or "-" in name
    path = write(tmp_path, f"client:\n  name: {name}\n")
    assert load_config(path, env=ENV).client.name == name


def test_null_values_mean_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "sync:\n  debounce:\n  window: null\ntrash:\nlog: ~\n")
    config = load_config(path, env=ENV)
    assert config.sync == SyncConfig()


def test_environment_overrides_baidu_endpoint(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "baidu:\n  endpoint: https://pan.example\n")
    env = {**ENV, "PANSYNC_BAIDU_ENDPOINT": "http://127.0.0.1:9999"}
    assert load_config(path, env=env).baidu == BaiduConfig("http://127.0.0.1:9999")
    assert load_config(path, env=ENV).baidu == BaiduConfig("https://pan.example")
    with pytest.raises(ConfigError, match="PANSYNC_BAIDU_ENDPOINT: expected an http"):
        load_config(path, env={**ENV, "PANSYNC_BAIDU_ENDPOINT": "ftp://x"})


def test_folder_lookup(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env=ENV)
    assert config.folder("main").name == "main"
    assert config.folder("MAIN").name == "main"
    with pytest.raises(ConfigError) as caught:
        config.folder("photos")
    assert str(caught.value) == (
        f"Configuration error: {config.path}: no folder named 'photos'; known folders: 'main'"
    )


# -- errors: each names the file, the key path and the line ----------------------------------------


def test_bad_scheme_names_file_key_and_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("file:///mnt/nas/pansync", "ftp://nas/x")
    path = write(tmp_path, "# my sync set-up\n" + text)
    assert error_of(path) == (
        f"Configuration error: {path}: folders[0].remote, line 7: "
        "unknown scheme 'ftp'; expected file:// or baidu:"
    )


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "colour: blue\n")
    expected = f"Configuration error: {path}: colour, line 7: unknown key 'colour'"
    assert error_of(path).startswith(expected)


def test_unknown_nested_key_suggests_the_near_one(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "sync:\n  mode: realtime\n  debouce: 2s\n")
    message = error_of(path)
    assert message.startswith(f"Configuration error: {path}: sync.debouce, line 9: unknown key")
    assert "did you mean 'debounce'?" in message


def test_unknown_folder_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "    excludes: ['*.tmp']\n")
    assert f"{path}: folders[0].excludes, line 7: unknown key 'excludes'" in error_of(path)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "sync:\n  debounce: fast\n",
            "sync.debounce, line 8: 'fast' is not a duration; write e.g. 30s",
        ),
        (
            "sync:\n  poll_interval: 0\n",
            "sync.poll_interval, line 8: 0 is too short; at least 1s, e.g. 30s",
        ),
        ("lock:\n  ttl: 2s\n", "lock.ttl, line 8: '2s' is too short; at least 5s, e.g. 120s"),
        ("sync:\n  max_delete: 150%\n", "sync.max_delete, line 8: '150%' is over 100%"),
        (
            "sync:\n  mode: sometimes\n",
            "sync.mode, line 8: expected one of realtime, interval; got 'sometimes'",
        ),
        (
            "sync:\n  window: 9-5\n",
            "sync.window, line 8: '9-5' is not a time window; write e.g. 09:00-17:30",
        ),
        (
            "trash:\n  keep_replaced: yes\n",
            "trash.keep_replaced, line 8: expected true or false, got 'yes'",
        ),
        (
            "transfer:\n  concurrency: many\n",
            "transfer.concurrency, line 8: expected a whole number",
        ),
        ("transfer:\n  download_concurrency: 0\n", "e.g. 4"),
        (
            "transfer:\n  upload_limit: fast\n",
            "transfer.upload_limit, line 8: 'fast' is not a rate; write e.g. 2MiB/s",
        ),
        ("transfer:\n  upload_limit: [1]\n", "expected a single value such as 2MiB/s, got [1]"),
        ("log:\n  level: loud\n", "log.level, line 8: expected one of debug, info, warning, error"),
        ("baidu:\n  endpoint: pan.baidu.com\n", "baidu.endpoint, line 8: expected an http(s) URL"),
        ("sync: fast\n", "sync, line 7: expected a mapping with keys mode, interval"),
    ],
)
def test_bad_values_are_explained(tmp_path: Path, extra: str, expected: str) -> None:
    path = write(tmp_path, MINIMAL + extra)
    message = error_of(path)
    assert message.startswith(f"Configuration error: {path}: ")
    assert expected in message


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("baidu:/photos", "a Baidu path must be a folder under /apps/bypy"),
        ("baidu:/apps/bypy", "a Baidu path must be a folder under /apps/bypy"),
        ("baidu:/apps/bypy/../x", "'.' and '..' are not allowed"),
        ("file://nas/share", "file:// needs an absolute path"),
        ("file:///", "refusing the whole file system"),
        (
            "/mnt/nas",
            "not a remote address; expected file:///abs/path or baidu:/apps/bypy/<dir>; "
            "write file:///mnt/nas",
        ),
    ],
)
def test_bad_remotes(tmp_path: Path, remote: str, expected: str) -> None:
    path = write(tmp_path, MINIMAL.replace("file:///mnt/nas/pansync", remote))
    message = error_of(path)
    assert f"{path}: folders[0].remote, line 6: " in message
    assert expected in message


def test_duplicate_folder_name_ignoring_case(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL + "  - name: Main\n    local: /home/alice/Other\n    remote: baidu:/apps/bypy/o\n",
    )
    assert error_of(path) == (
        f"Configuration error: {path}: folders[1].name, line 7: duplicate folder name 'Main' "
        "(also folders[0]); names must be unique, ignoring case"
    )


def test_relative_local_path(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("/home/alice/PanSync", "小明/同步盘"))
    assert error_of(path) == (
        f"Configuration error: {path}: folders[0].local, line 5: must be absolute "
        "(or start with ~/), got '小明/同步盘'; e.g. /home/alice/PanSync or ~/PanSync"
    )


def test_missing_folder_key(tmp_path: Path) -> None:
    path = write(tmp_path, "folders:\n  - name: main\n    local: /data\n")
    assert f"{path}: folders[0], line 2: missing 'remote'" in error_of(path)


@pytest.mark.parametrize("name", ["a/b", "..", "-x", "", "a" * 65, "名字 有空格"])
def test_bad_folder_names(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, MINIMAL.replace("name: main", f"name: '{name}'"))
    assert f"{path}: folders[0].name, line 4: " in error_of(path)


def test_nested_local_folders_are_refused(tmp_path: Path) -> None:
    inner = "  - name: inner\n    local: /home/alice/PanSync/内\n    remote: baidu:/apps/bypy/x\n"
    path = write(tmp_path, MINIMAL + inner)
    message = error_of(path)
    assert f"{path}: folders[1].local, line 8: '/home/alice/PanSync/内' overlaps" in message
    assert "folder 'main'" in message


def test_remote_inside_own_local_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("file:///mnt/nas", "file:///home/alice/PanSync"))
    assert f"{path}: folders[0].remote, line 6: " in error_of(path)


def test_bad_exclude_pattern(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "    exclude: ['ok', 'bad\\']\n")
    assert f"{path}: folders[0].exclude, line 7: bad pattern" in error_of(path)


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "client:\n  name: alice\nfolders:\n  - name: [main\n")
    message = error_of(path)
    assert re.match(
        rf"Configuration error: {re.escape(str(path))}: line \d+, column \d+: YAML syntax error: ",
        message,
    )
    path = write(tmp_path, "client:\n  name: alice\n bad: indent\n")
    assert f"{path}: line 3, column 2: YAML syntax error" in error_of(path)


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = write(tmp_path, "client:\n  name: a\nclient:\n  name: b\n")
    assert f"{path}: line 3, column 1: YAML syntax error: found duplicate key" in error_of(path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n- b\n")
    assert f"{path}: line 1: expected sections" in error_of(path)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    advice = "run `pansync init` to create it"
    assert error_of(missing) == f"Configuration error: {missing}: no such file; {advice}"
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"client:\n  name: \xff\xfe\n")
    assert f"{binary}: not UTF-8 text" in error_of(binary)


# -- remote addresses ------------------------------------------------------------------------------


def test_parse_remote_url() -> None:
    assert parse_remote_url("file:///mnt/nas/同步") == RemoteSpec("file", "/mnt/nas/同步")
    assert parse_remote_url("baidu:/apps/bypy/docs") == RemoteSpec("baidu", "/apps/bypy/docs")
    assert parse_remote_url("baidu:///apps/bypy/docs/").url == "baidu:/apps/bypy/docs"
    assert str(parse_remote_url(" file:///a//b/ ")) == "file:///a/b"
    assert parse_remote_url("file:///with%20percent").path == "/with%20percent"
    with pytest.raises(ValueError, match=r"^unknown scheme 'ftp'; expected file:// or baidu:$"):
        parse_remote_url("ftp://host/x")
    with pytest.raises(ValueError, match="under /apps/bypy"):
        parse_remote_url("baidu:/我的资源")


# -- first run and edits ---------------------------------------------------------------------------


def _defaults(path: Path, client: str, folders: tuple[FolderConfig, ...] = ()) -> Config:
    return Config(path=path, client=ClientConfig(client), folders=folders)


def test_default_text_loads_as_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, default_config_text("alice"))
    assert load_config(path, env=ENV) == _defaults(path, "alice")


def test_default_text_quotes_what_needs_quoting(tmp_path: Path) -> None:
    folders = [
        ("true", "/home/a/#hash: dir", "file:///mnt/x y"),
        ("照片", "~/照片", "baidu:/apps/bypy/照片"),
    ]
    path = write(tmp_path, default_config_text("null", folders))
    config = load_config(path, env=ENV)
    assert config.client.name == "null"
    assert [f.name for f in config.folders] == ["true", "照片"]
    assert config.folders[0].local == Path("/home/a/#hash: dir")
    assert config.folders[1].local == Path("/home/alice/照片")


def test_ensure_config_creates_private_commented_defaults(tmp_path: Path) -> None:
    path = tmp_path / "home" / "config" / "config.yaml"
    folder = ("同步盘", "/home/小明/同步盘", "baidu:/apps/bypy/同步盘")
    config, created = ensure_config(path, client_name="xiaoming", default_folder=folder, env=ENV)
    assert created
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    expected_folder = FolderConfig(
        "同步盘", Path("/home/小明/同步盘"), RemoteSpec("baidu", "/apps/bypy/同步盘")
    )
    assert config == _defaults(path, "xiaoming", (expected_folder,))
    assert path.read_text(encoding="utf-8") == default_config_text("xiaoming", [folder])
    again, created_again = ensure_config(path, client_name="other", env=ENV)
    assert not created_again
    assert again == config


def test_ensure_config_without_folder_uses_host_name(tmp_path: Path) -> None:
    config, created = ensure_config(tmp_path / "c.yaml", env=ENV)
    assert created
    assert config.client.name == default_client_name()
    assert config.folders == ()


def test_ensure_config_refuses_a_bad_folder_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.yaml"
    with pytest.raises(ConfigError, match="unknown scheme 'ftp'"):
        ensure_config(path, client_name="a", default_folder=("m", "/data", "ftp://x/y"), env=ENV)
    assert not path.exists()


USER_FILE = """\
# Alice's settings — do not lose this comment
client:
  name: alice   # the laptop

folders:
  # the main pair
  - name: main
    local: /home/alice/PanSync
    remote: file:///mnt/nas/pansync  # NAS share
    exclude:
      - '*.tmp'  # editor junk

# sync tuning
sync:
  debounce: 5s  # slow editor
"""


def test_add_folder_keeps_comments_and_mode(tmp_path: Path) -> None:
    path = write(tmp_path, USER_FILE)
    path.chmod(0o600)
    add_folder(path, "照片", "/home/alice/照片", "baidu:/apps/bypy/照片", env=ENV)
    text = path.read_text(encoding="utf-8")
    for comment in (
        "do not lose this comment",
        "# the laptop",
        "# the main pair",
        "# NAS share",
        "# editor junk",
        "# sync tuning",
        "# slow editor",
    ):
        assert comment in text
    assert text.index("name: 照片") < text.index("# sync tuning")
    config = load_config(path, env=ENV)
    assert [f.name for f in config.folders] == ["main", "照片"]
    assert config.folders[1].remote == RemoteSpec("baidu", "/apps/bypy/照片")
    assert config.sync.debounce == 5
    assert mode(path) == 0o600


def test_add_folder_to_fresh_default_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    ensure_config(path, client_name="bob", env=ENV)
    add_folder(path, "docs", "~/Docs", "file:///mnt/nas/docs", env=ENV)
    add_folder(path, "文档", "/home/bob/文档", "baidu:/apps/bypy/文档", env=ENV)
    config = load_config(path, env=ENV)
    assert [f.name for f in config.folders] == ["docs", "文档"]
    assert config.folders[0].local == Path("/home/alice/Docs")
    text = path.read_text(encoding="utf-8")
    assert "window: null" in text, "nulls stay explicit"
    assert text.index("name: 文档") < text.index("# When to sync")
    assert config == msgspec.structs.replace(_defaults(path, "bob"), folders=config.folders)


@pytest.mark.parametrize(
    ("name", "local", "remote", "expected"),
    [
        ("MAIN", "/elsewhere", "baidu:/apps/bypy/x", "a folder named 'main' already exists"),
        ("x", "relative/path", "baidu:/apps/bypy/x", "new folder 'x': must be absolute"),
        ("x", "/elsewhere", "ftp://x", "new folder 'x': unknown scheme 'ftp'"),
        ("x", "/home/alice/PanSync/sub", "baidu:/apps/bypy/x", "new folder 'x': local: "),
        ("a/b", "/elsewhere", "baidu:/apps/bypy/x", "new folder 'a/b': 'a/b' is not a valid name"),
    ],
)
def test_add_folder_refusals_leave_the_file_unchanged(
    tmp_path: Path, name: str, local: str, remote: str, expected: str
) -> None:
    path = write(tmp_path, USER_FILE)
    with pytest.raises(ConfigError) as caught:
        add_folder(path, name, local, remote, env=ENV)
    assert str(caught.value).startswith(f"Configuration error: {path}: ")
    assert expected in str(caught.value)
    assert path.read_text(encoding="utf-8") == USER_FILE
    assert list(tmp_path.iterdir()) == [path], "no temporary file left behind"


# -- the documented example stays complete ---------------------------------------------------------


def _documented_keys() -> dict[str, set[str]]:
    """Section -> keys, taken from the Structs themselves."""
    hints = typing.get_type_hints(Config)
    keys: dict[str, set[str]] = {}
    for section in msgspec.structs.fields(Config):
        if section.name == "path":
            continue
        shape = hints[section.name]
        if section.name == "folders":
            (shape, _) = typing.get_args(shape)
        keys[section.name] = {field.name for field in msgspec.structs.fields(shape)}
    return keys


@pytest.mark.parametrize("source", ["example", "default"])
def test_documented_configs_mention_every_key_with_a_comment(source: str) -> None:
    if source == "example":
        text = EXAMPLE.read_text(encoding="utf-8")
    else:
        text = default_config_text("alice", [("main", "~/PanSync", "baidu:/apps/bypy/pansync")])
    tree = YAML().load(text)
    lines = text.splitlines()
    for section, keys in _documented_keys().items():
        assert section in tree, section
        node = tree[section][0] if section == "folders" else tree[section]
        assert set(node) == keys, section
        if section == "folders":
            header = "\n".join(line for line in lines if line.startswith("#"))
            assert all(f"{key}:" in header for key in keys)
            continue
        for key in keys:
            line = node.lc.key(key)[0]
            assert lines[line - 1].strip().startswith("#"), f"{section}.{key} has no comment"


def test_example_loads_with_default_settings() -> None:
    config = load_config(EXAMPLE, env=ENV)
    assert config == _defaults(EXAMPLE, config.client.name, config.folders)
    assert {f.remote.scheme for f in config.folders} == {"file", "baidu"}
