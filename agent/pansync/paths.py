"""Where PanSync keeps its own files: configuration, state, logs, runtime files and data.

Job: answer "which folder?" from the environment, with `PANSYNC_HOME` relocating everything into one
folder so several clients can live on one machine (tests, simulations). Limit: computes paths and
creates private folders on request; never reads or writes the files inside them. Only `PANSYNC_*`
and `HOME` are read from the `env` argument; without `PANSYNC_HOME`, platformdirs also reads the
XDG variables of the real process environment.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import platformdirs
from msgspec import Struct

__all__ = [
    "APP_NAME",
    "CONFIG_FILE_NAME",
    "Locations",
    "ensure_private_dir",
    "locations",
    "resolve_config_path",
]

APP_NAME = "pansync"
CONFIG_FILE_NAME = "config.yaml"


class Locations(Struct, frozen=True):
    """The five folders PanSync uses; none of them is created by computing this."""

    config_dir: Path
    """Holds `config.yaml` (unless `--config`, `PANSYNC_CONFIG` or `~/.pansync` say otherwise)."""
    state_dir: Path
    """Per-client sync state: the synced tree and the work queue. Losing it costs a full rescan."""
    log_dir: Path
    """Rotated JSON-lines logs (`pansync.log`)."""
    runtime_dir: Path
    """The daemon's pid file and control socket; may be wiped at logout or reboot."""
    data_dir: Path
    """Longer-lived data that is not state, such as remote credentials."""


def _home(env: Mapping[str, str]) -> Path:
    """The user's home folder, from `env['HOME']` when given so tests stay out of the real one."""
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def _expand(text: str, env: Mapping[str, str]) -> Path:
    """`text` as an absolute path, with a leading `~` read against `env`'s home folder."""
    if text == "~" or text.startswith("~/"):
        return _home(env) / text[2:]
    return Path(text).expanduser().absolute()


def _pansync_home(env: Mapping[str, str]) -> Path | None:
    home = env.get("PANSYNC_HOME", "").strip()
    return _expand(home, env) if home else None


def _usable_runtime_dir(dirs: platformdirs.PlatformDirs) -> Path | None:
    """platformdirs' runtime folder if it can be used, else None.

    Headless servers, containers and `su` sessions often have no `XDG_RUNTIME_DIR`; platformdirs
    then warns or raises, and its guesses may not exist. The runtime dir only holds the pid file
    and the socket, so any doubt means "use the state dir instead".
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runtime = Path(dirs.user_runtime_dir)
    except (OSError, ValueError):
        return None
    base = runtime.parent
    if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
        return None
    return runtime


def locations(env: Mapping[str, str] = os.environ) -> Locations:
    """The folders for this process: all under `$PANSYNC_HOME` if set, else the platform's own."""
    home = _pansync_home(env)
    if home is not None:
        return Locations(
            config_dir=home / "config",
            state_dir=home / "state",
            log_dir=home / "logs",
            runtime_dir=home / "run",
            data_dir=home / "data",
        )
    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    state_dir = Path(dirs.user_state_dir)
    return Locations(
        config_dir=Path(dirs.user_config_dir),
        state_dir=state_dir,
        log_dir=Path(dirs.user_log_dir),
        runtime_dir=_usable_runtime_dir(dirs) or state_dir,
        data_dir=Path(dirs.user_data_dir),
    )


def resolve_config_path(cli_path: str | None, env: Mapping[str, str] = os.environ) -> Path:
    """The config file to use, first match wins (DESIGN.md §5).

    1. `--config FILE`; 2. `$PANSYNC_CONFIG`; 3. with `PANSYNC_HOME` set,
    `$PANSYNC_HOME/config/config.yaml` (and nothing else, so test clients never read the real
    user's file); 4. `~/.pansync/config.yaml` if it exists; 5. `<config_dir>/config.yaml`.
    The file need not exist; callers create it or report it missing.
    """
    if cli_path:
        return _expand(cli_path, env)
    from_env = env.get("PANSYNC_CONFIG", "").strip()
    if from_env:
        return _expand(from_env, env)
    if _pansync_home(env) is None:
        legacy = _home(env) / ".pansync" / CONFIG_FILE_NAME
        if legacy.is_file():
            return legacy
    return locations(env).config_dir / CONFIG_FILE_NAME


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and its parents) so only this user can enter it; return it.

    A new folder gets mode 0700 whatever the umask. An existing folder keeps its mode: it may be
    the user's home or a folder they set up on purpose.
    """
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    return path
