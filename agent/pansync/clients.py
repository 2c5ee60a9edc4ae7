"""`clients`: the client registry, one record per client under `.pansync/.config/clients/`.

Each client registers its persistent id, name, host, platform and version, and refreshes its
`last_seen` (by the server's clock) whenever it syncs, so `pansync clients` can say who shares a
folder and who has gone quiet. One file per client means clients never write the same file, so the
registry needs no lock.

Limit: records are informative. Nothing here decides a sync; an unreadable record is listed as
unreadable, never fatal.
"""

from __future__ import annotations

import json
import os
import platform
import re
from typing import Any

from msgspec import Struct

from pansync.lock import MetaStore

__all__ = [
    "CLIENTS_DIR",
    "RECORD_FORMAT",
    "ClientInfo",
    "ClientRecord",
    "is_stale",
    "is_valid_client_id",
    "list_clients",
    "register_client",
    "remove_client",
]

CLIENTS_DIR = ".config/clients"
"""The registry folder, relative to the remote's `.pansync/` folder."""

RECORD_FORMAT = 1
"""Version of a record's JSON. Later versions may only add keys, so any version is read here."""

_MAX_RECORD_BYTES = 64 * 1024
_MAX_TEXT = 512
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def is_valid_client_id(client_id: str) -> bool:
    """True for ids safe as a file name on every remote (uuids are); others are never used."""
    return _ID.fullmatch(client_id) is not None


class ClientInfo(Struct, frozen=True):
    """What a client says about itself when it registers."""

    client_id: str
    name: str
    host: str
    platform: str
    version: str

    @classmethod
    def for_this_machine(cls, client_id: str, name: str, version: str) -> ClientInfo:
        """Fill `host` and `platform` from this machine (the one place that asks the OS)."""
        # Not `platform.platform()`: it runs `uname -p` in a subprocess, on every sync.
        system = f"{platform.system()}-{platform.release()}-{platform.machine()}"
        return cls(client_id, name, os.uname().nodename, system, version)


class ClientRecord(Struct, frozen=True):
    """One registry record. Times are the server's clock (ns since the epoch).

    An unreadable record has `problem` set, its id from the file name, empty texts, and
    `last_seen_ns` from the file's server mtime, so it still ages out.
    """

    client_id: str
    name: str
    host: str
    platform: str
    version: str
    first_seen_ns: int
    last_seen_ns: int
    problem: str | None = None

    @property
    def readable(self) -> bool:
        return self.problem is None


def _path(client_id: str) -> str:
    if not is_valid_client_id(client_id):
        raise ValueError(f"invalid client id {client_id!r}")
    return f"{CLIENTS_DIR}/{client_id}.json"


def _encode(record: ClientRecord) -> bytes:
    body = {
        "pansync_client": RECORD_FORMAT,
        "id": record.client_id,
        "name": record.name,
        "host": record.host,
        "platform": record.platform,
        "version": record.version,
        "first_seen_ns": record.first_seen_ns,
        "last_seen_ns": record.last_seen_ns,
    }
    return (json.dumps(body, indent=1) + "\n").encode("ascii")


def _parse(client_id: str, data: bytes, mtime_ns: int) -> ClientRecord:
    """Parse a record; any problem yields an unreadable record rather than an exception."""

    def bad(problem: str) -> ClientRecord:
        return ClientRecord(client_id, "", "", "", "", 0, mtime_ns, problem)

    if len(data) > _MAX_RECORD_BYTES:
        return bad(f"record is {len(data)} bytes, too large to be a client record")
    try:
        obj: Any = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return bad("record is not JSON")
    if type(obj) is not dict or type(obj.get("pansync_client")) is not int:
        return bad("record is not a PanSync client record")
    texts: list[Any] = [obj.get(k) for k in ("id", "name", "host", "platform", "version")]
    times: list[Any] = [obj.get(k) for k in ("first_seen_ns", "last_seen_ns")]
    if not all(type(t) is str and len(t) <= _MAX_TEXT for t in texts):
        return bad("record has a missing or malformed text field")
    if not all(type(t) is int and abs(t) < 2**63 for t in times):
        return bad("record has a missing or malformed time")
    if texts[0] != client_id:
        return bad(f"record is for client {str(texts[0])[:64]!r}, not its file name's")
    return ClientRecord(*texts, *times)


def register_client(remote: MetaStore, info: ClientInfo, now_ns: int) -> ClientRecord:
    """Create or refresh this client's record; `first_seen` survives, `last_seen` becomes `now_ns`.

    `now_ns` should be the server's time, so that ages compare across clients.
    """
    path = _path(info.client_id)
    first_seen = now_ns
    got = remote.read_meta(path)
    if got is not None:
        old = _parse(info.client_id, got[0], got[1])
        if old.readable and 0 < old.first_seen_ns <= now_ns:
            first_seen = old.first_seen_ns
    record = ClientRecord(
        info.client_id, info.name, info.host, info.platform, info.version, first_seen, now_ns
    )
    remote.write_meta(path, _encode(record))
    return record


def list_clients(remote: MetaStore) -> list[ClientRecord]:
    """Every registered client, by name; unreadable records are included with `problem` set."""
    records = []
    for file_name in remote.list_meta(CLIENTS_DIR):
        client_id, dot, ext = file_name.rpartition(".")
        if not dot or ext != "json" or not is_valid_client_id(client_id):
            continue  # not a record (an untrusted name is never turned into a path)
        got = remote.read_meta(_path(client_id))
        if got is not None:
            records.append(_parse(client_id, got[0], got[1]))
    return sorted(records, key=lambda r: (r.name.casefold(), r.client_id))


def remove_client(remote: MetaStore, client_id: str) -> None:
    """Forget a client (one that is gone for good); no error if it was not registered."""
    remote.delete_meta(_path(client_id))


def is_stale(record: ClientRecord, now_ns: int, stale_after_s: float) -> bool:
    """True when the client has not been seen for `stale_after_s` (`clients.stale_after`)."""
    return now_ns - record.last_seen_ns > stale_after_s * 1e9
