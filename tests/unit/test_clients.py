"""The client registry (`pansync.clients`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pansync.clients import (
    CLIENTS_DIR,
    ClientInfo,
    ClientRecord,
    is_stale,
    is_valid_client_id,
    list_clients,
    register_client,
    remove_client,
)
from pansync.remote.local import LocalRemote
from tests.unit._metastore import MemoryMetaStore

DAY_NS = 86400 * 10**9
ALICE = ClientInfo("0b7c6a52-1f3e-4d2a-9c57-3f0d8e3b1a11", "Alice's laptop", "alice-mbp", "macOS-14", "0.1.0")
BOB = ClientInfo("5e1d2c3b-aaaa-4bbb-8ccc-123456789abc", "办公室台式机", "office-pc", "Linux-6.1", "0.1.0")


def test_register_creates_then_refreshes_keeping_first_seen() -> None:
    store = MemoryMetaStore()
    first = register_client(store, ALICE, now_ns=1 * DAY_NS)
    assert (first.first_seen_ns, first.last_seen_ns) == (DAY_NS, DAY_NS)
    newer = ClientInfo(ALICE.client_id, "Alice (renamed)", "alice-mbp", "macOS-15", "0.2.0")
    second = register_client(store, newer, now_ns=3 * DAY_NS)
    assert (second.first_seen_ns, second.last_seen_ns) == (DAY_NS, 3 * DAY_NS)
    assert (second.name, second.platform, second.version) == ("Alice (renamed)", "macOS-15", "0.2.0")
    assert list_clients(store) == [second]


def test_list_sorts_by_name_and_round_trips_every_field() -> None:
    store = MemoryMetaStore()
    bob = register_client(store, BOB, now_ns=2 * DAY_NS)
    alice = register_client(store, ALICE, now_ns=DAY_NS)
    assert list_clients(store) == [alice, bob]
    assert list_clients(MemoryMetaStore()) == []


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"",
        b"[1, 2]",
        json.dumps({"pansync_client": 1, "id": "x"}).encode(),
        b"{" * 100_000,
        b" " * (100 * 1024),
    ],
)
def test_a_corrupt_record_is_listed_as_unreadable(content: bytes) -> None:
    store = MemoryMetaStore()
    register_client(store, ALICE, now_ns=DAY_NS)
    store.write_meta(f"{CLIENTS_DIR}/{BOB.client_id}.json", content)
    records = list_clients(store)
    assert [r.readable for r in records] == [False, True]
    broken = records[0]
    assert broken.client_id == BOB.client_id and broken.problem
    assert broken.last_seen_ns == store.now_ns  # ages out by its server mtime


def test_a_record_under_another_clients_name_is_unreadable() -> None:
    store = MemoryMetaStore()
    register_client(store, ALICE, now_ns=DAY_NS)
    data, _ = store.files[f"{CLIENTS_DIR}/{ALICE.client_id}.json"]
    store.write_meta(f"{CLIENTS_DIR}/{BOB.client_id}.json", data)
    problems = [r.problem for r in list_clients(store) if not r.readable]
    assert len(problems) == 1 and "not its file name" in str(problems[0])


def test_a_newer_record_format_with_the_same_keys_is_read() -> None:
    store = MemoryMetaStore()
    register_client(store, ALICE, now_ns=DAY_NS)
    path = f"{CLIENTS_DIR}/{ALICE.client_id}.json"
    obj = json.loads(store.files[path][0])
    obj.update(pansync_client=7, added_later="ignored")
    store.write_meta(path, json.dumps(obj).encode())
    assert list_clients(store)[0].readable


def test_register_overwrites_its_own_corrupt_record() -> None:
    store = MemoryMetaStore()
    store.write_meta(f"{CLIENTS_DIR}/{ALICE.client_id}.json", b"\xff\xfe")
    record = register_client(store, ALICE, now_ns=5 * DAY_NS)
    assert record.first_seen_ns == 5 * DAY_NS
    assert list_clients(store) == [record]


def test_foreign_file_names_are_skipped_never_read() -> None:
    store = MemoryMetaStore()
    store.write_meta(f"{CLIENTS_DIR}/notes.txt", b"hello")
    store.write_meta(f"{CLIENTS_DIR}/../x.json", b"{}")
    store.write_meta(f"{CLIENTS_DIR}/.hidden.json", b"{}")
    assert list_clients(store) == []
    assert ("read", f"{CLIENTS_DIR}/notes.txt") not in store.ops


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", ".pansync", "x" * 65, "名字"])
def test_unsafe_client_ids_are_refused(bad: str) -> None:
    assert not is_valid_client_id(bad)
    with pytest.raises(ValueError):
        register_client(MemoryMetaStore(), ClientInfo(bad, "n", "h", "p", "v"), now_ns=1)


def test_is_stale_by_last_seen() -> None:
    record = ClientRecord("a", "A", "h", "p", "v", first_seen_ns=0, last_seen_ns=10 * DAY_NS)
    assert not is_stale(record, now_ns=40 * DAY_NS, stale_after_s=30 * 86400)
    assert is_stale(record, now_ns=40 * DAY_NS + 1, stale_after_s=30 * 86400)


def test_remove_client() -> None:
    store = MemoryMetaStore()
    register_client(store, ALICE, now_ns=DAY_NS)
    remove_client(store, ALICE.client_id)
    remove_client(store, ALICE.client_id)
    assert list_clients(store) == []


def test_for_this_machine_fills_host_and_platform() -> None:
    info = ClientInfo.for_this_machine("abc", "me", "0.1")
    assert info.host and info.platform


def test_registry_on_a_local_folder_remote(tmp_path: Path) -> None:
    remote = LocalRemote(tmp_path)
    now = remote.server_time_ns()
    register_client(remote, ALICE, now)
    register_client(remote, BOB, now)
    assert [r.name for r in list_clients(remote)] == ["Alice's laptop", "办公室台式机"]
    assert (tmp_path / ".pansync" / ".config" / "clients" / f"{ALICE.client_id}.json").is_file()
