"""An in-memory model of the two sides, for CanopyCheck-style tests of the planner.

Each side is a dict from path to node; applying an action changes the model the way the real
executor changes disks and clouds (moves keep identity, trash keeps content), and the synced tree is
updated as the executor records it. Nothing here touches a disk: the point is to run thousands of
perturbations per minute through the real `plan`.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field

from pansync.actions import (
    Action,
    Download,
    Forget,
    LocalMkdir,
    LocalMove,
    LocalRename,
    LocalTrash,
    Record,
    RemoteMkdir,
    RemoteMove,
    RemoteRename,
    RemoteTrash,
    Upload,
)
from pansync.model import Kind, LocalEntry, RemoteEntry, SyncedEntry
from pansync.names import is_under

_ids = itertools.count(1)


def new_id() -> int:
    return next(_ids)


@dataclass
class Node:
    kind: Kind
    content: bytes = b""
    ident: int = field(default_factory=new_id)
    version: int = field(default_factory=new_id)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class Side:
    """One side's tree of nodes, keyed by path."""

    def __init__(self, case_sensitive: bool = True) -> None:
        self.nodes: dict[str, Node] = {}
        self.case_sensitive = case_sensitive
        self.trash: list[bytes] = []

    def __repr__(self) -> str:
        return f"Side({self.contents()!r})"

    def fold(self, path: str) -> str:
        return path if self.case_sensitive else path.casefold()

    def find(self, path: str) -> str | None:
        """The stored spelling of `path` on this side (case-insensitive sides match any case)."""
        if path in self.nodes:
            return path
        if not self.case_sensitive:
            folded = path.casefold()
            for key in self.nodes:
                if key.casefold() == folded:
                    return key
        return None

    def subtree(self, path: str) -> list[str]:
        return [k for k in self.nodes if is_under(k, path)]

    def parent_ok(self, path: str) -> bool:
        parent = path.rpartition("/")[0]
        return not parent or (parent in self.nodes and self.nodes[parent].kind is Kind.DIR)

    def ensure_parents(self, path: str) -> None:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            existing = self.find(parent)
            if existing is None:
                self.nodes[parent] = Node(Kind.DIR)
            else:
                assert self.nodes[existing].kind is Kind.DIR, f"parent {parent} is a file"

    def put(self, path: str, node: Node) -> None:
        existing = self.find(path)
        assert existing is None or existing == path, f"case collision: {path} vs {existing}"
        assert existing is None or self.nodes[existing].kind is Kind.FILE, f"overwriting dir {path}"
        self.ensure_parents(path)
        self.nodes[path] = node

    def move(self, src: str, dst: str) -> None:
        assert src in self.nodes, f"move of missing {src}"
        clash = self.find(dst)
        assert clash is None or clash.casefold() == src.casefold(), f"move onto existing {dst}"
        self.ensure_parents(dst)
        for key in sorted(self.subtree(src)):
            self.nodes[dst + key[len(src) :]] = self.nodes.pop(key)

    def remove(self, path: str) -> None:
        for key in self.subtree(path):
            node = self.nodes.pop(key)
            if node.kind is Kind.FILE:
                self.trash.append(node.content)

    def contents(self) -> dict[str, tuple[Kind, bytes]]:
        return {k: (n.kind, n.content) for k, n in self.nodes.items()}


def local_entry(path: str, node: Node) -> LocalEntry:
    is_file = node.kind is Kind.FILE
    return LocalEntry(
        name=path,
        kind=node.kind,
        size=len(node.content) if is_file else 0,
        mtime_ns=node.version,
        inode=node.ident,
        md5=md5(node.content) if is_file else "",
    )


def remote_entry(path: str, node: Node) -> RemoteEntry:
    is_file = node.kind is Kind.FILE
    return RemoteEntry(
        name=path,
        kind=node.kind,
        size=len(node.content) if is_file else 0,
        mtime_ns=node.version,
        remote_id=str(node.ident),
        md5=md5(node.content) if is_file else "",
    )


def synced_entry(local: LocalEntry, remote: RemoteEntry) -> SyncedEntry:
    return SyncedEntry(
        kind=local.kind,
        size=local.size,
        md5=local.md5,
        local_name=local.name,
        local_mtime_ns=local.mtime_ns,
        local_inode=local.inode,
        remote_name=remote.name,
        remote_id=remote.remote_id,
        remote_mtime_ns=remote.mtime_ns,
    )


class World:
    """Both sides and the synced tree of one client."""

    def __init__(self, remote_case_sensitive: bool = True) -> None:
        self.local = Side()
        self.remote = Side(case_sensitive=remote_case_sensitive)
        self.synced: dict[str, SyncedEntry] = {}

    def local_tree(self) -> dict[str, LocalEntry]:
        return {k: local_entry(k, n) for k, n in self.local.nodes.items()}

    def remote_tree(self) -> dict[str, RemoteEntry]:
        return {k: remote_entry(k, n) for k, n in self.remote.nodes.items()}

    def _record(self, key: str, local_path: str, remote_path: str) -> None:
        self.synced[key] = synced_entry(
            local_entry(local_path, self.local.nodes[local_path]),
            remote_entry(remote_path, self.remote.nodes[remote_path]),
        )

    def _rebase_synced(self, old: str, new: str) -> None:
        for key in [k for k in self.synced if is_under(k, old)]:
            entry = self.synced.pop(key)
            new_key = new + key[len(old) :]
            self.synced[new_key] = SyncedEntry(
                kind=entry.kind,
                size=entry.size,
                md5=entry.md5,
                local_name=new_key,
                local_mtime_ns=entry.local_mtime_ns,
                local_inode=entry.local_inode,
                remote_name=new_key,
                remote_id=entry.remote_id,
                remote_mtime_ns=entry.remote_mtime_ns,
            )

    def apply(self, action: Action) -> None:
        match action:
            case LocalRename(key=key, new_key=new_key):
                self.local.move(key, new_key)
            case RemoteRename(key=key, new_key=new_key):
                self.remote.move(key, new_key)
            case RemoteMove(key=key, new_key=new_key):
                self.remote.move(key, new_key)
                self._rebase_synced(key, new_key)
            case LocalMove(key=key, new_key=new_key):
                self.local.move(key, new_key)
                self._rebase_synced(key, new_key)
            case RemoteTrash(key=key):
                self.remote.remove(key)
                for k in [k for k in self.synced if is_under(k, key)]:
                    del self.synced[k]
            case LocalTrash(key=key):
                self.local.remove(key)
                for k in [k for k in self.synced if is_under(k, key)]:
                    del self.synced[k]
            case RemoteMkdir(key=key):
                existing = self.remote.find(key)
                assert existing in (None, key), f"mkdir {key} meets {existing}"
                if existing is None:
                    self.remote.put(key, Node(Kind.DIR))
                self._record(key, key, key)
            case LocalMkdir(key=key):
                if key not in self.local.nodes:
                    self.local.put(key, Node(Kind.DIR))
                self._record(key, key, key)
            case Upload(key=key, local=local, replaces=replaces):
                source = self.local.nodes[local.name]
                assert source.kind is Kind.FILE
                if replaces is not None:
                    self.remote.trash.append(self.remote.nodes[replaces.name].content)
                else:
                    assert self.remote.find(key) is None, f"upload over unexpected {key}"
                self.remote.put(key, Node(Kind.FILE, source.content))
                self._record(key, local.name, key)
            case Download(key=key, remote=remote, replaces=replaces):
                source = self.remote.nodes[remote.name]
                assert source.kind is Kind.FILE
                if replaces is None:
                    assert key not in self.local.nodes, f"download over unexpected {key}"
                self.local.put(key, Node(Kind.FILE, source.content))
                self._record(key, key, remote.name)
            case Record(key=key, local=local, remote=remote):
                self.synced[key] = synced_entry(local, remote)
            case Forget(key=key):
                self.synced.pop(key, None)
