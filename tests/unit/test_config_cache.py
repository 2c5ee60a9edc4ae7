"""`load_config(cache=...)`: the settings of the last file that loaded, read back without YAML, and
never when anything they were made from differs."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

import pansync.config_file
from pansync.config import CONFIG_CACHE_NAME, load_config
from pansync.errors import ConfigError

CONFIG = """\
client:
  name: 笔记本
folders:
  - name: 文档
    local: ~/文档（工作）
    remote: file:///srv/共享/文档
    exclude: ["*.tmp", "草稿/"]
  - name: photos
    local: /data/照片
    remote: baidu:/apps/bypy/照片
sync:
  mode: interval
  window: "22:00-06:00"
  max_delete: 200
transfer:
  upload_limit: 2MiB/s
log:
  level: debug
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return config, tmp_path / "state" / CONFIG_CACHE_NAME


def _no_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise AssertionError("parsed although the cache holds this file")

    monkeypatch.setattr(pansync.config_file, "parse_config", refuse)


def test_the_cache_gives_what_a_parse_gives(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, cache = files
    env = {"HOME": "/home/小明"}
    parsed = load_config(config, env=env)
    assert load_config(config, env=env, cache=cache) == parsed  # a parse, kept
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    _no_parse(monkeypatch)
    again = load_config(config, env=env, cache=cache)
    assert again == parsed
    assert again.folders[0].local == Path("/home/小明/文档（工作）")
    assert type(again.folders[0].local) is type(parsed.folders[0].local)


def test_a_command_whose_file_is_cached_imports_no_yaml(files: tuple[Path, Path]) -> None:
    config, cache = files
    script = """
import sys
from pathlib import Path
from pansync.config import load_config
load_config(Path(sys.argv[1]), env={"HOME": "/home/a"}, cache=Path(sys.argv[2]))
print("ruamel.yaml" in sys.modules)
"""
    runs = [
        subprocess.run(
            [sys.executable, "-c", script, str(config), str(cache)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    ]
    assert runs == ["True", "False"]


def test_an_edit_of_the_same_size_is_parsed(files: tuple[Path, Path]) -> None:
    config, cache = files
    load_config(config, env={}, cache=cache)
    config.write_text(CONFIG.replace("level: debug", "level: error"), encoding="utf-8")
    assert load_config(config, env={}, cache=cache).log.level == "error"


def test_another_home_is_parsed(files: tuple[Path, Path]) -> None:
    config, cache = files
    load_config(config, env={"HOME": "/home/a"}, cache=cache)
    again = load_config(config, env={"HOME": "/home/b"}, cache=cache)
    assert again.folders[0].local == Path("/home/b/文档（工作）")


def test_an_endpoint_override_is_parsed(files: tuple[Path, Path]) -> None:
    config, cache = files
    load_config(config, env={}, cache=cache)
    again = load_config(config, env={"PANSYNC_BAIDU_ENDPOINT": "http://127.0.0.1:9/"}, cache=cache)
    assert again.baidu.endpoint == "http://127.0.0.1:9"


def test_a_file_broken_after_a_good_one_is_an_error_not_the_old_settings(files: tuple[Path, Path]) -> None:
    config, cache = files
    load_config(config, env={}, cache=cache)
    config.write_text(CONFIG.replace("mode: interval", "mode: sometimes"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sync\.mode, line 12: .*'sometimes'"):
        load_config(config, env={}, cache=cache)


@pytest.mark.parametrize("damage", [b"", b"pansync-config-cache-1", b"\x00" * 64, "cut"])
def test_a_damaged_cache_is_parsed_over(files: tuple[Path, Path], damage: bytes | str) -> None:
    config, cache = files
    parsed = load_config(config, env={}, cache=cache)
    data = cache.read_bytes()
    cache.write_bytes(data[: len(data) - 7] if damage == "cut" else damage)  # type: ignore[arg-type]
    assert load_config(config, env={}, cache=cache) == parsed
    assert cache.read_bytes() == data  # written again


def test_a_cache_that_cannot_be_written_costs_only_the_parse(files: tuple[Path, Path]) -> None:
    config, cache = files
    cache.parent.write_text("a file where the state folder should be", encoding="utf-8")
    parsed = load_config(config, env={}, cache=cache)
    assert load_config(config, env={}, cache=cache) == parsed
