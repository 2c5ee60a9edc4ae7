"""The configuration file: load and validate it, create it with commented defaults, add folders.

Job: turn `config.yaml` into typed, frozen settings, or into one `ConfigError` line that names the
file, the key path and the line, e.g. `/home/a/.config/pansync/config.yaml: folders[0].remote,
line 7: unknown scheme 'ftp'; expected file:// or baidu:`. Limit: reads and writes only the config
file; it never checks that folders exist or that remotes answer. The settings' Structs and
defaults are defined in `_config_schema` and re-exported here; the YAML itself (parsing with lines,
writing, adding folders) is `config_file`'s, and `default_config_text` there and
`contrib/config.example.yaml` repeat the defaults (tests keep them equal).

A command loads the file every time it runs, and YAML costs ~25 ms of it (importing ruamel and
parsing). `load_config(cache=...)` keeps the settings of the last file that loaded in the state
folder, under a digest of everything they were made from: the file's path and text, the
environment values and host name that defaults come from, and PanSync's version and parsing code.
Any difference, or a cache that cannot be read, means a parse as before; a file with an error is
never cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from pansync import __version__
from pansync._config_schema import (
    BAIDU_APP_ROOT,
    BaiduConfig,
    ClientConfig,
    ClientsConfig,
    Config,
    FolderConfig,
    LockConfig,
    LogConfig,
    LogLevel,
    RemoteSpec,
    SyncConfig,
    SyncMode,
    TransferConfig,
    TrashConfig,
    default_client_name,
    parse_remote_url,
)
from pansync.errors import ConfigError
from pansync.paths import ensure_private_dir

__all__ = [
    "BAIDU_APP_ROOT",
    "CONFIG_CACHE_NAME",
    "BaiduConfig",
    "ClientConfig",
    "ClientsConfig",
    "Config",
    "FolderConfig",
    "LockConfig",
    "LogConfig",
    "LogLevel",
    "RemoteSpec",
    "SyncConfig",
    "SyncMode",
    "TransferConfig",
    "TrashConfig",
    "default_client_name",
    "load_config",
    "parse_remote_url",
    "read_config_text",
]

CONFIG_CACHE_NAME = "config.cache"
"""In the state folder: the settings of the last configuration file that loaded (see above)."""
_CACHE_FORMAT = b"pansync-config-cache-1"
_PARSING_CODE = ("config.py", "config_file.py", "_config_schema.py", "units.py")
"""The modules whose code decides what a file means: an edit to any of them is a new digest."""


def read_config_text(path: Path) -> str:
    """The file's text, or the `ConfigError` that says why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; run `pansync init` to create it") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (bad byte at offset {error.start})") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None


def load_config(path: Path, *, env: Mapping[str, str] = os.environ, cache: Path | None = None) -> Config:
    """Load and validate `path`; `env` supplies `HOME` for `~` and `PANSYNC_BAIDU_ENDPOINT`.

    With `cache`, the settings come from that file when it holds those of this very text and
    environment (see the module's note), and are kept there after a parse."""
    text = read_config_text(path)
    if cache is None or (digest := _digest(path, text, env)) is None:
        return _parse(text, path, env)
    config = _cached(cache, digest)
    if config is None:
        config = _parse(text, path, env)
        _keep(cache, digest, config)
    return config


def _parse(text: str, path: Path, env: Mapping[str, str]) -> Config:
    from pansync.config_file import parse_config  # ruamel, only when the cache cannot answer

    return parse_config(text, path, env)


def _digest(path: Path, text: str, env: Mapping[str, str]) -> bytes | None:
    """What the settings are made from, digested; None when the parsing code cannot be stat'ed."""
    here = Path(__file__).parent
    parts: list[object] = [__version__, str(path), text, os.uname().nodename]
    parts += [env.get(name, "") for name in ("HOME", "PANSYNC_BAIDU_ENDPOINT")]
    try:
        for name in _PARSING_CODE:
            st = (here / name).stat()
            parts += [name, st.st_mtime_ns, st.st_size]
    except OSError:
        return None
    return _CACHE_FORMAT + hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=20).digest()


def _as_builtin(value: Any) -> Any:
    if isinstance(value, Path | str):  # str: ruamel's quoted-scalar subclasses
        return str(value)
    raise NotImplementedError(type(value))


def _from_builtin(kind: type, value: Any) -> Any:
    if kind is Path:
        return Path(value)
    raise NotImplementedError(kind)


def _cached(cache: Path, digest: bytes) -> Config | None:
    try:
        data = cache.read_bytes()
        if not data.startswith(digest):
            return None
        return msgspec.msgpack.decode(data[len(digest) :], type=Config, dec_hook=_from_builtin)
    except (OSError, msgspec.MsgspecError, ValueError):
        return None  # missing, old, damaged: parse


def _keep(cache: Path, digest: bytes, config: Config) -> None:
    """Write the cache (0600, replaced whole); a failure only costs the next command a parse."""
    temporary = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    try:
        data = digest + msgspec.msgpack.encode(config, enc_hook=_as_builtin)
        ensure_private_dir(cache.parent)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, cache)
    except (OSError, NotImplementedError, msgspec.MsgspecError):
        with contextlib.suppress(OSError):
            temporary.unlink()
