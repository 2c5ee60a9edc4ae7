"""The settings' shapes and rules: frozen Structs (msgspec) with defaults, and one converter per key.

Job: say what each setting is, its default and when to change it (attribute docstrings), and turn
one raw value into a typed one or a `ValueError` that quotes it and shows a good one. Limit: no YAML
and no files; `pansync.config` walks the file, adds key paths and lines, and is the public home of
these names (import them from there).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from msgspec import Struct, field
from msgspec.structs import fields

from pansync.errors import ConfigError
from pansync.units import (
    FractionOrCount,
    TimeWindow,
    format_duration,
    parse_duration,
    parse_fraction_or_count,
    parse_rate,
    parse_window,
)

__all__ = [
    "BAIDU_APP_ROOT",
    "CONVERTERS",
    "FOLDER_KEYS",
    "SECTIONS",
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
    "check_name",
    "default_client_name",
    "endpoint_url",
    "exclude_patterns",
    "folder_overlap",
    "local_path",
    "parse_remote_url",
    "remote_address",
]

BAIDU_APP_ROOT = "/apps/bypy"
"""bypy's app folder; Baidu's API lets the app touch nothing outside it."""

SyncMode = Literal["realtime", "interval"]
LogLevel = Literal["debug", "info", "warning", "error"]


# -- remotes ---------------------------------------------------------------------------------------


class RemoteSpec(Struct, frozen=True):
    """Where a folder's other side lives: a mounted folder (`file`) or Baidu Netdisk (`baidu`)."""

    scheme: Literal["file", "baidu"]
    path: str
    """Absolute, normalised POSIX path: no trailing slash, no `.` or `..` parts."""

    @property
    def url(self) -> str:
        return f"file://{self.path}" if self.scheme == "file" else f"baidu:{self.path}"

    def __str__(self) -> str:
        return self.url


def _clean_abs_path(path: str) -> str:
    """`path` without repeated or trailing slashes; refuses relative paths and `.`/`..` parts."""
    if not path.startswith("/"):
        raise ValueError("needs an absolute path")
    parts = [part for part in path.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise ValueError(f"'.' and '..' are not allowed in {path!r}")
    return "/" + "/".join(parts)


def parse_remote_url(text: str) -> RemoteSpec:
    """`file:///abs/path` or `baidu:/apps/bypy/<dir>` as a `RemoteSpec`; ValueError tells why not.

    A file path is taken literally (no %-decoding), since `%` is a legal file name character.
    """
    scheme, colon, rest = text.strip().partition(":")
    if not colon or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        hint = f"; write file://{text}" if text.startswith("/") else ""
        raise ValueError(
            f"{text!r} is not a remote address; expected file:///abs/path or "
            f"baidu:{BAIDU_APP_ROOT}/<dir>{hint}"
        )
    scheme = scheme.lower()
    if scheme == "file":
        if not rest.startswith("///"):
            hint = "e.g. file:///mnt/nas/pansync (three slashes)"
            raise ValueError(f"{text!r}: file:// needs an absolute path, {hint}")
        try:
            path = _clean_abs_path(rest[2:])
        except ValueError as error:
            raise ValueError(f"{text!r}: {error}") from None
        if path == "/":
            raise ValueError(f"{text!r}: refusing the whole file system; name a folder")
        return RemoteSpec("file", path)
    if scheme == "baidu":
        example = f"e.g. baidu:{BAIDU_APP_ROOT}/pansync"
        try:
            path = _clean_abs_path(rest[2:] if rest.startswith("///") else rest)
        except ValueError as error:
            raise ValueError(f"{text!r}: {error}; {example}") from None
        if not path.startswith(BAIDU_APP_ROOT + "/"):
            raise ValueError(
                f"{text!r}: a Baidu path must be a folder under {BAIDU_APP_ROOT} "
                f"(the only place bypy may write); {example}"
            )
        return RemoteSpec("baidu", path)
    raise ValueError(f"unknown scheme {scheme!r}; expected file:// or baidu:")


# -- settings --------------------------------------------------------------------------------------


class ClientConfig(Struct, frozen=True):
    """`client:` — who this machine is."""

    name: str
    """This machine's name in the shared lock and clients registry. Change it only before the first
    sync, or when two machines share a host name: other clients know this one by it."""


class FolderConfig(Struct, frozen=True):
    """One `folders:` entry: a local folder and the remote it is kept equal to."""

    name: str
    """Short label used by the CLI and for state files; renaming it forgets this folder's state."""
    local: Path
    """Absolute folder on this machine (`~` expanded)."""
    remote: RemoteSpec
    """The other side; several clients sync the same remote to share a folder."""
    exclude: tuple[str, ...] = ()
    """gitignore-style patterns, relative to the folder root, never synced in either direction."""


class SyncConfig(Struct, frozen=True):
    """`sync:` — when and how eagerly to sync, and the mass-delete guard."""

    mode: SyncMode = "realtime"
    """`realtime` reacts to changes within seconds; `interval` syncs every `interval`, for metered
    links or when Baidu's rate limits bite."""
    interval: float = 3600.0
    """Seconds between syncs when `mode` is `interval`."""
    window: TimeWindow | None = None
    """Daily local-time window (`HH:MM-HH:MM`, may span midnight) outside which nothing syncs;
    set it to keep the uplink free during working hours."""
    debounce: float = 2.0
    """Quiet seconds after a local change before syncing it; raise it for slowly written files."""
    poll_interval: float = 30.0
    """Seconds between cheap checks for remote changes; lower means fresher and more API calls."""
    full_scan_interval: float = 600.0
    """Seconds between full listings of both sides, which catch anything the cheap checks missed."""
    max_delete: FractionOrCount = field(default_factory=lambda: FractionOrCount(fraction=0.5))
    """Refuse a sync that would delete more than this (a share like `50%` or a count like `500`);
    lower it to be safer, raise it before deleting much on purpose."""


class TrashConfig(Struct, frozen=True):
    """`trash:` — how long removed or overwritten files are kept for restoring."""

    retention: float = 30 * 86400.0
    """Seconds deleted and replaced files are kept in the trash; lower it when space is short."""
    keep_replaced: bool = True
    """Keep the old version of a file another client overwrote; turn off only to save space."""


class LockConfig(Struct, frozen=True):
    """`lock:` — the lease that lets one client at a time change a shared folder."""

    ttl: float = 120.0
    """Seconds a lease lasts without renewal (at least 5s); raise it on slow, flaky links."""


class ClientsConfig(Struct, frozen=True):
    """`clients:` — the registry of clients sharing the remotes."""

    stale_after: float = 30 * 86400.0
    """Seconds of silence after which a client is dropped from the registry (its disk is kept)."""


class TransferConfig(Struct, frozen=True):
    """`transfer:` — parallelism and bandwidth caps."""

    concurrency: int = 4
    """Transfers (mostly uploads) running at once; lower it on a weak uplink."""
    download_concurrency: int = 1
    """Downloads at once; 1 because Baidu throttles non-VIP accounts that open several streams."""
    upload_limit: int | None = None
    """Upload cap in bytes per second (`2MiB/s`); null means unlimited."""
    download_limit: int | None = None
    """Download cap in bytes per second (`500KB/s`); null means unlimited."""


class BaiduConfig(Struct, frozen=True):
    """`baidu:` — Baidu Netdisk specifics."""

    endpoint: str | None = None
    """Base URL of the Baidu PCS API; set only for a test server. `PANSYNC_BAIDU_ENDPOINT` wins."""


class LogConfig(Struct, frozen=True):
    """`log:` — the log file (the console follows `-v`/`-vv`)."""

    level: LogLevel = "info"
    """Level of the log file (`debug`, `info`, `warning`, `error`); `debug` when reporting a bug."""


class Config(Struct, frozen=True):
    """The whole configuration file, validated; `load_config` makes one."""

    path: Path
    """The file this was loaded from."""
    client: ClientConfig
    folders: tuple[FolderConfig, ...] = ()
    sync: SyncConfig = field(default_factory=SyncConfig)
    trash: TrashConfig = field(default_factory=TrashConfig)
    lock: LockConfig = field(default_factory=LockConfig)
    clients: ClientsConfig = field(default_factory=ClientsConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    baidu: BaiduConfig = field(default_factory=BaiduConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def folder(self, name: str) -> FolderConfig:
        """The folder pair called `name` (ignoring case as a fallback: names are unique so)."""
        wanted = unicodedata.normalize("NFC", name.strip())
        for folder in self.folders:
            if folder.name == wanted:
                return folder
        for folder in self.folders:
            if folder.name.casefold() == wanted.casefold():
                return folder
        known = ", ".join(f"'{folder.name}'" for folder in self.folders)
        raise ConfigError(
            f"{self.path}: no folder named {name!r}; "
            + (f"known folders: {known}" if known else "no folders are configured yet")
        )


# -- rules across settings -------------------------------------------------------------------------

_NAME_CHARS = (
    r"A-Za-z0-9_.\-\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    r"\U00020000-\U0002fa1f"
)
_NAME = f"[{_NAME_CHARS}]{{1,64}}"
"""Compiled on first use (`re`'s cache): a sync whose settings come from the cache never asks."""


def check_name(value: object) -> str:
    """A folder or client name: letters, digits, `_ . -` and CJK, 1-64 long, NFC-normalised."""
    hint = "use letters, digits, _ . - or CJK characters, e.g. main or 文档"
    if not isinstance(value, str):
        raise ValueError(f"expected a name, got {value!r}; {hint}")
    name = unicodedata.normalize("NFC", value.strip())
    if not re.fullmatch(_NAME, name) or name in (".", "..") or name.startswith("-"):
        raise ValueError(f"{value!r} is not a valid name; {hint}")
    return name


def default_client_name() -> str:
    """This machine's short host name, made a valid client name."""
    host = os.uname().nodename.split(".")[0]
    return re.sub(f"[^{_NAME_CHARS}]", "-", host).strip("-")[:64] or "pansync-client"


def folder_overlap(new: FolderConfig, old: FolderConfig) -> tuple[str, str] | None:
    """(key, problem) if `new` shares or nests a folder with `old`: they would fight over files.

    With `old` being `new` itself, checks that a `file://` remote stays clear of its own local root.
    """
    checks = []
    if new is not old:
        checks.append(("local", str(new.local), str(old.local), "local folder"))
        if new.remote.scheme == old.remote.scheme:
            checks.append(("remote", new.remote.path, old.remote.path, "remote"))
        if old.remote.scheme == "file":
            checks.append(("local", str(new.local), old.remote.path, "remote"))
    if new.remote.scheme == "file":
        checks.append(("remote", new.remote.path, str(old.local), "local folder"))
    for key, mine, theirs, what in checks:
        if (mine + "/").startswith(theirs + "/") or (theirs + "/").startswith(mine + "/"):
            return key, (
                f"{mine!r} overlaps the {what} of folder {old.name!r} ({theirs!r}); "
                "folder pairs must not share or nest their folders"
            )
    return None


# -- reading values --------------------------------------------------------------------------------


def _unit_value(value: object, example: str) -> str | int | float:
    """`value` if it is text or a number (what the unit parsers take), else a ValueError."""
    if isinstance(value, str | int | float):
        return value
    raise ValueError(f"expected a single value such as {example}, got {value!r}")


def _duration(minimum: float, example: str) -> Callable[[object], float]:
    """A duration converter refusing values under `minimum` seconds."""

    def convert(value: object) -> float:
        seconds = parse_duration(_unit_value(value, example))
        if seconds < minimum:
            least = format_duration(minimum)
            raise ValueError(f"{value!r} is too short; at least {least}, e.g. {example}")
        return seconds

    return convert


def _choice(*choices: str) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if not isinstance(value, str) or value.strip().lower() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}; got {value!r}")
        return value.strip().lower()

    return convert


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {value!r}; e.g. 4")
    return int(value)


def endpoint_url(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value.strip()):
        raise ValueError(f"expected an http(s) URL, got {value!r}; e.g. http://127.0.0.1:8080")
    return value.strip().rstrip("/")


def remote_address(value: object) -> RemoteSpec:
    if not isinstance(value, str):
        raise ValueError(f"expected an address such as file:///mnt/nas/pansync, got {value!r}")
    return parse_remote_url(value)


def exclude_patterns(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"expected a list of patterns, got {value!r}; e.g. ['*.tmp', 'build/']")
    from pansync.ignore import compile_patterns

    for pattern in value:
        try:
            compile_patterns([pattern])
        except (ValueError, re.error) as error:  # pathspec lets the regex engine's error through
            raise ValueError(f"bad pattern {pattern!r} ({error}); e.g. '*.tmp'") from None
    return tuple(value)


def local_path(env: Mapping[str, str]) -> Callable[[object], Path]:
    """A converter for `folders[].local`: absolute, `~` read against `env['HOME']`."""

    def convert(value: object) -> Path:
        example = "e.g. /home/alice/PanSync or ~/PanSync"
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected a folder path, got {value!r}; {example}")
        text = value.strip()
        if text == "~" or text.startswith("~/"):
            text = (env.get("HOME") or str(Path.home())) + text[1:]
        if not text.startswith("/"):
            raise ValueError(f"must be absolute (or start with ~/), got {value!r}; {example}")
        if Path(text) == Path("/"):
            raise ValueError(f"refusing to sync the whole file system; {example}")
        return Path(text)

    return convert


# How each setting is read: "section.key" -> converter. The defaults are the Structs' defaults.
SECTIONS: dict[str, type[Any]] = {
    "sync": SyncConfig,
    "trash": TrashConfig,
    "lock": LockConfig,
    "clients": ClientsConfig,
    "transfer": TransferConfig,
    "baidu": BaiduConfig,
    "log": LogConfig,
}
CONVERTERS: dict[str, Callable[[object], Any]] = {
    "sync.mode": _choice("realtime", "interval"),
    "sync.interval": _duration(1, "1h"),
    "sync.window": lambda value: parse_window(_unit_value(value, "22:00-06:00")),
    "sync.debounce": _duration(0, "2s"),
    "sync.poll_interval": _duration(1, "30s"),
    "sync.full_scan_interval": _duration(1, "10min"),
    "sync.max_delete": lambda value: parse_fraction_or_count(_unit_value(value, "50%")),
    "trash.retention": _duration(0, "30d"),
    "trash.keep_replaced": _bool,
    "lock.ttl": _duration(5, "120s"),
    "clients.stale_after": _duration(1, "30d"),
    "transfer.concurrency": _count,
    "transfer.download_concurrency": _count,
    "transfer.upload_limit": lambda value: parse_rate(_unit_value(value, "2MiB/s")),
    "transfer.download_limit": lambda value: parse_rate(_unit_value(value, "500KB/s")),
    "baidu.endpoint": endpoint_url,
    "log.level": _choice("debug", "info", "warning", "error"),
}
FOLDER_KEYS = tuple(field.name for field in fields(FolderConfig))
