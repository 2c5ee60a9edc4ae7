"""Locations and config-file resolution, with real env dicts and real folders under tmp_path."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pansync.paths import Locations, ensure_private_dir, locations, resolve_config_path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_pansync_home_holds_everything(tmp_path: Path) -> None:
    home = tmp_path / "客户端A"
    env = {"PANSYNC_HOME": str(home), "HOME": str(tmp_path / "user")}
    assert locations(env) == Locations(
        config_dir=home / "config",
        state_dir=home / "state",
        log_dir=home / "logs",
        runtime_dir=home / "run",
        data_dir=home / "data",
    )
    assert not home.exists(), "computing locations must not create folders"


def test_pansync_home_with_tilde_uses_env_home(tmp_path: Path) -> None:
    env = {"PANSYNC_HOME": "~/clients/b", "HOME": str(tmp_path)}
    assert locations(env).state_dir == tmp_path / "clients" / "b" / "state"


def test_relative_pansync_home_is_made_absolute() -> None:
    env = {"PANSYNC_HOME": "relative/home"}
    assert locations(env).config_dir.is_absolute()


def test_platform_dirs_without_pansync_home() -> None:
    found = locations({})
    for folder in (found.config_dir, found.state_dir, found.log_dir, found.data_dir):
        assert folder.is_absolute()
        assert "pansync" in folder.parts
    assert found.runtime_dir.is_absolute()
    assert found.runtime_dir.parent.is_dir() or found.runtime_dir == found.state_dir


def test_config_path_from_cli_wins(tmp_path: Path) -> None:
    env = {"PANSYNC_CONFIG": str(tmp_path / "env.yaml"), "PANSYNC_HOME": str(tmp_path / "h")}
    assert resolve_config_path(str(tmp_path / "cli.yaml"), env) == tmp_path / "cli.yaml"


def test_config_path_from_cli_expands_tilde(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert resolve_config_path("~/我的配置.yaml", env) == tmp_path / "我的配置.yaml"


def test_config_path_from_env_before_home(tmp_path: Path) -> None:
    env = {"PANSYNC_CONFIG": str(tmp_path / "env.yaml"), "PANSYNC_HOME": str(tmp_path / "h")}
    assert resolve_config_path(None, env) == tmp_path / "env.yaml"


def test_config_path_under_pansync_home(tmp_path: Path) -> None:
    env = {"PANSYNC_HOME": str(tmp_path / "h"), "HOME": str(tmp_path / "user")}
    assert resolve_config_path(None, env) == tmp_path / "h" / "config" / "config.yaml"


def test_legacy_dot_pansync_used_when_it_exists(tmp_path: Path) -> None:
    legacy = tmp_path / ".pansync" / "config.yaml"
    legacy.parent.mkdir()
    legacy.write_text("client: {name: a}\n", encoding="utf-8")
    assert resolve_config_path(None, {"HOME": str(tmp_path)}) == legacy


def test_legacy_dot_pansync_ignored_under_pansync_home(tmp_path: Path) -> None:
    legacy = tmp_path / ".pansync" / "config.yaml"
    legacy.parent.mkdir()
    legacy.write_text("client: {name: a}\n", encoding="utf-8")
    env = {"HOME": str(tmp_path), "PANSYNC_HOME": str(tmp_path / "test-client")}
    assert resolve_config_path(None, env) == tmp_path / "test-client" / "config" / "config.yaml"


def test_platform_config_dir_when_nothing_else(tmp_path: Path) -> None:
    path = resolve_config_path(None, {"HOME": str(tmp_path)})
    assert path == locations({}).config_dir / "config.yaml"


def test_empty_variables_count_as_unset(tmp_path: Path) -> None:
    env = {"PANSYNC_CONFIG": "", "PANSYNC_HOME": " ", "HOME": str(tmp_path)}
    assert resolve_config_path("", env) == locations({}).config_dir / "config.yaml"


def test_ensure_private_dir_is_0700_whatever_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "a" / "状态"
    old = os.umask(0o000)
    try:
        assert ensure_private_dir(target) == target
    finally:
        os.umask(old)
    assert _mode(target) == 0o700
    ensure_private_dir(target)  # again: no error
    assert _mode(target) == 0o700


def test_ensure_private_dir_leaves_existing_folders_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    ensure_private_dir(shared)
    assert _mode(shared) == 0o755
