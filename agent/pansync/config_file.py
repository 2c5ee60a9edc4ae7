"""`config.yaml` itself: parse it with lines for errors, write it with commented defaults, add
folders keeping the user's comments.

Job: the YAML side of the configuration (ruamel's round-trip mode, which keeps comments, quotes and
line numbers). Limit: `pansync.config` is the public home of the settings and of `load_config`,
which imports this module only when its cache of the last valid file cannot answer (ruamel costs
a command ~25 ms to import and parse).
"""

from __future__ import annotations

import copy
import difflib
import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from msgspec.structs import fields
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.representer import RoundTripRepresenter

from pansync._config_schema import (
    CONVERTERS,
    FOLDER_KEYS,
    SECTIONS,
    BaiduConfig,
    ClientConfig,
    Config,
    FolderConfig,
    check_name,
    default_client_name,
    endpoint_url,
    exclude_patterns,
    folder_overlap,
    local_path,
    remote_address,
)
from pansync.config import load_config, read_config_text
from pansync.errors import ConfigError
from pansync.paths import ensure_private_dir

__all__ = ["add_folder", "default_config_text", "ensure_config", "parse_config"]

_T = TypeVar("_T")


# -- reading ---------------------------------------------------------------------------------------


_TOP_KEYS = ("client", "folders", *SECTIONS)


class _Reader:
    """Walks the YAML tree and reports the first problem with file, key path and line."""

    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        self.path = path
        self.env = env

    def fail(self, key: str, line: int, detail: str) -> NoReturn:
        raise ConfigError(f"{self.path}: {key}, line {line}: {detail}")

    def mapping(self, value: object, key: str, line: int, keys: Sequence[str]) -> CommentedMap:
        """`value` as a mapping holding only `keys` (null counts as empty)."""
        if value is None:
            return CommentedMap()
        if not isinstance(value, CommentedMap):
            self.fail(key, line, f"expected a mapping with keys {', '.join(keys)}; got {value!r}")
        for name in value:
            if name not in keys:
                near = difflib.get_close_matches(str(name), keys, n=1)
                advice = f"did you mean '{near[0]}'? " if near else ""
                self.fail(
                    f"{key}.{name}" if key else str(name),
                    value.lc.key(name)[0] + 1,
                    f"unknown key '{name}'; {advice}known keys here: {', '.join(keys)}",
                )
        return value

    def get(self, node: CommentedMap, prefix: str, key: str, convert: Callable[[object], _T]) -> _T:
        """`node[key]` through `convert`; a ValueError becomes a ConfigError naming key and line."""
        try:
            return convert(node.get(key))
        except ValueError as error:
            self.fail(f"{prefix}.{key}", node.lc.value(key)[0] + 1, str(error))

    def section(self, root: CommentedMap, name: str, cls: type[_T]) -> _T:
        """The settings of one section: the given keys converted, the others at their defaults."""
        line = root.lc.value(name)[0] + 1 if name in root else 0
        # type[_T] is not known to be a Struct type; every class in SECTIONS is one.
        names = [field.name for field in fields(cls)]  # type: ignore[arg-type]
        node = self.mapping(root.get(name), name, line, names)
        values = {
            key: self.get(node, name, key, CONVERTERS[f"{name}.{key}"])
            for key in names
            if node.get(key) is not None
        }
        return cls(**values)

    def folders(self, root: CommentedMap) -> tuple[FolderConfig, ...]:
        value = root.get("folders")
        if value is None:
            return ()
        if not isinstance(value, CommentedSeq):
            self.fail("folders", root.lc.value("folders")[0] + 1, "expected a list of folder pairs")
        folders: list[FolderConfig] = []
        for index, item in enumerate(value):
            key, line = f"folders[{index}]", value.lc.item(index)[0] + 1
            node = self.mapping(item, key, line, FOLDER_KEYS)
            for required in ("name", "local", "remote"):
                if node.get(required) is None:
                    self.fail(key, line, f"missing '{required}'; give name, local and remote")
            folder = FolderConfig(
                name=self.get(node, key, "name", check_name),
                local=self.get(node, key, "local", local_path(self.env)),
                remote=self.get(node, key, "remote", remote_address),
                exclude=self.get(node, key, "exclude", exclude_patterns),
            )
            problem = folder_overlap(folder, folder)
            if problem:
                self.fail(f"{key}.{problem[0]}", node.lc.value(problem[0])[0] + 1, problem[1])
            for other_index, other in enumerate(folders):
                if other.name.casefold() == folder.name.casefold():
                    self.fail(
                        f"{key}.name",
                        node.lc.value("name")[0] + 1,
                        f"duplicate folder name {folder.name!r} (also folders[{other_index}]); "
                        "names must be unique, ignoring case",
                    )
                problem = folder_overlap(folder, other)
                if problem:
                    self.fail(f"{key}.{problem[0]}", node.lc.value(problem[0])[0] + 1, problem[1])
            folders.append(folder)
        return tuple(folders)


class _Representer(RoundTripRepresenter):
    """Writes null as `null` rather than as nothing, so an edited file stays as explicit as ours."""


_Representer.add_representer(
    type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
)


def _yaml() -> YAML:
    """A round-trip YAML keeping comments, quotes and line numbers, indented like our template."""
    yaml = YAML(typ="rt")
    yaml.Representer = _Representer
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _load_tree(text: str, path: Path) -> CommentedMap:
    try:
        tree = _yaml().load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = error.problem or error.context
        raise ConfigError(f"{path}: {where}YAML syntax error: {problem}") from None
    except YAMLError as error:
        raise ConfigError(f"{path}: YAML syntax error: {error}") from None
    if tree is None:
        return CommentedMap()
    if not isinstance(tree, CommentedMap):
        raise ConfigError(f"{path}: line 1: expected sections such as client: and folders:")
    return tree


def parse_config(text: str, path: Path, env: Mapping[str, str]) -> Config:
    """`text`, the contents of `path`, as settings, or the `ConfigError` that names key and line."""
    root = _load_tree(text, path)
    reader = _Reader(path, env)
    reader.mapping(root, "", 1, _TOP_KEYS)
    line = root.lc.value("client")[0] + 1 if "client" in root else 0
    client = reader.mapping(root.get("client"), "client", line, ("name",))
    name = reader.get(client, "client", "name", check_name) if client.get("name") else ""
    folders = reader.folders(root)
    sections = {section: reader.section(root, section, cls) for section, cls in SECTIONS.items()}
    override = env.get("PANSYNC_BAIDU_ENDPOINT", "").strip()
    if override:
        try:
            sections["baidu"] = BaiduConfig(endpoint=endpoint_url(override))
        except ValueError as error:
            raise ConfigError(f"PANSYNC_BAIDU_ENDPOINT: {error}") from None
    return Config(
        path=path,
        client=ClientConfig(name or default_client_name()),
        folders=folders,
        **sections,
    )


# -- writing ---------------------------------------------------------------------------------------


def _scalar(text: str) -> str:
    """`text` as a YAML scalar: plain when that reads back unchanged, else double-quoted."""
    try:
        plain = "\n" not in text and YAML(typ="safe").load(f"k: {text}\n") == {"k": text}
    except YAMLError:
        plain = False
    return text if plain else json.dumps(text, ensure_ascii=False)


_TEMPLATE = """\
# PanSync configuration (PanSync 配置文件). Every key is shown at its default.
# Durations: 500ms, 30s, 10min, 2h, 1h30m, 30d (a plain number means seconds).
# Sizes: 512KiB, 4MiB (binary) or 4MB (decimal); rates: 2MiB/s, or null for no limit.
# An empty value means the default. Unknown keys are an error, so typos never pass silently.

# This machine (本机).
client:
  # This client's name in the shared lock and registry; default: the host name.
  # Change it only before the first sync: other clients know this one by it.
  name: {client}

# Folder pairs (同步文件夹). name: a short unique label; local: an absolute folder here;
# remote: file:///abs/path (a mounted folder) or baidu:/apps/bypy/<dir> (Baidu Netdisk);
# exclude: gitignore-style patterns, relative to the folder root, e.g. ['*.tmp', 'build/'].
{folders}
# When to sync (同步时机).
sync:
  # realtime: react to changes within seconds; interval: sync every `interval`.
  mode: realtime
  # Time between syncs when mode is interval.
  interval: 1h
  # Only sync inside this daily local-time window, e.g. "22:00-06:00"; null means always.
  window: null
  # Quiet time after a local change before syncing; raise it for slowly written files.
  debounce: 2s
  # Time between cheap checks for remote changes; lower is fresher but costs API calls.
  poll_interval: 30s
  # Time between full listings of both sides, which catch anything the cheap checks missed.
  full_scan_interval: 10min
  # Refuse a sync deleting more than this: a share (50%) or a count (500).
  max_delete: 50%

# Trash for deleted and replaced files (回收站).
trash:
  # How long trashed files are kept.
  retention: 30d
  # Keep the old version of a file another client overwrote.
  keep_replaced: true

# The shared lock (共享锁).
lock:
  # How long a lease lasts without renewal (at least 5s); raise it on slow, flaky links.
  ttl: 120s

# The clients registry (客户端登记).
clients:
  # A client silent this long is dropped from the registry.
  stale_after: 30d

# Transfers (传输).
transfer:
  # Transfers running at once; lower it on a weak uplink.
  concurrency: 4
  # Downloads at once; keep 1: Baidu throttles non-VIP accounts with several download streams.
  download_concurrency: 1
  # Upload cap such as 2MiB/s; null means unlimited.
  upload_limit: null
  # Download cap such as 500KB/s; null means unlimited.
  download_limit: null

# Baidu Netdisk (百度网盘).
baidu:
  # Base URL of the Baidu API; set only for a test server. PANSYNC_BAIDU_ENDPOINT overrides it.
  endpoint: null

# Logging (日志).
log:
  # Level of the log file: debug, info, warning or error. At info, a sync that changes
  # something writes its plan, moves, deletions and a summary; one that changes nothing, nothing.
  level: info
"""


def default_config_text(client_name: str, folders: Sequence[tuple[str, str, str]] = ()) -> str:
    """The commented config that first run writes; every key present, values the defaults."""
    listing = "# e.g.  - {name: main, local: ~/PanSync, remote: baidu:/apps/bypy/pansync}\n"
    listing += "folders:" + ("" if folders else " []") + "\n"
    for name, local, remote in folders:
        listing += f"  - name: {_scalar(name)}\n    local: {_scalar(local)}\n"
        listing += f"    remote: {_scalar(remote)}\n    exclude: []\n"
    return _TEMPLATE.format(client=_scalar(client_name), folders=listing)


def _split_comment(slot: list[Any] | None, index: int) -> Any:
    """Detach the lines after an end-of-line comment from `slot[index]`; return them as a token."""
    if not slot or slot[index] is None:
        return None
    token = slot[index]
    end_of_line, _, rest = token.value.partition("\n")
    if not rest:
        return None
    moved = copy.copy(token)
    moved.value = "\n" + rest
    if end_of_line:
        token.value = end_of_line + "\n"
    else:
        slot[index] = None
    return moved


def _trailing_comment(node: object) -> Any:
    """Detach the blank lines and comments that follow `node` (the next section's heading).

    ruamel hangs them on the deepest last value; an entry appended after it would land below them.
    """
    if isinstance(node, CommentedMap) and node:
        key: Any = list(node)[-1]
        index = 2
    elif isinstance(node, CommentedSeq) and node:
        key, index = len(node) - 1, 0
    else:
        return None
    return _trailing_comment(node[key]) or _split_comment(node.ca.items.get(key), index)


def _write_new(path: Path, text: str) -> None:
    """Create `path` as 0600 whatever the umask (it names private folders); fails if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def ensure_config(
    path: Path,
    *,
    client_name: str | None = None,
    default_folder: tuple[str, str, str] | None = None,
    env: Mapping[str, str] = os.environ,
) -> tuple[Config, bool]:
    """Load `path`, first creating it with commented defaults if absent; True when created.

    The parent folder is created 0700 and the file 0600. `client_name` defaults to the host name.
    """
    if path.exists():
        return load_config(path, env=env), False
    text = default_config_text(
        client_name or default_client_name(), [default_folder] if default_folder else []
    )
    parse_config(text, path, env)  # refuse a bad name or remote before anything is written
    ensure_private_dir(path.parent)
    try:
        _write_new(path, text)
    except FileExistsError:  # another process won the race; use its file
        return load_config(path, env=env), False
    return load_config(path, env=env), True


def add_folder(
    path: Path, name: str, local: str, remote: str, *, env: Mapping[str, str] = os.environ
) -> None:
    """Append a folder pair to the existing config at `path`, keeping the user's comments.

    The pair is checked against the others first and the file is replaced atomically, so a refused
    pair leaves the file untouched.
    """
    config = load_config(path, env=env)
    try:
        new = FolderConfig(check_name(name), local_path(env)(local), remote_address(remote))
    except ValueError as error:
        raise ConfigError(f"{path}: new folder {name!r}: {error}") from None
    for old in (new, *config.folders):
        if old is not new and old.name.casefold() == new.name.casefold():
            raise ConfigError(f"{path}: a folder named {old.name!r} already exists; choose another")
        problem = folder_overlap(new, old)
        if problem:
            raise ConfigError(f"{path}: new folder {name!r}: {problem[0]}: {problem[1]}")
    tree = _load_tree(read_config_text(path), path)
    if tree.get("folders") is None:
        tree["folders"] = CommentedSeq()
    folders = tree["folders"]
    folders.fa.set_block_style()
    # With `folders: []` or `folders:`, what follows hangs on the key, not on a last entry.
    slot = tree.ca.items.get("folders")
    comment = _trailing_comment(folders) if folders else _split_comment(slot, 2)
    entry = CommentedMap()
    entry["name"], entry["local"], entry["remote"] = new.name, str(local), new.remote.url
    if comment is not None:
        entry.ca.items["remote"] = [None, None, comment, None]
    folders.append(entry)
    buffer = io.StringIO()
    _yaml().dump(tree, buffer)
    parse_config(buffer.getvalue(), path, env)  # never write what would not load
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _write_new(temporary, buffer.getvalue())
        os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
