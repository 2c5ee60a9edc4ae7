"""PanSync's own files in the cloud, damaged: the shared index `.pansync/.index.dat` (corrupt,
truncated, foreign, empty, newer format), the lock `.pansync/.config/lock.txt` (garbage, empty,
huge, newer format, a folder), the fence and the client registry. A damaged index is rebuilt with a
warning and deletes nothing; a newer one stops the sync with the "upgrade" message; a damaged lock
is held until it is stale by the server's clock, with a message naming it; nothing crashes."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pansync.errors import LockHeld, PanSyncError
from pansync.index import FORMAT_VERSION, IndexTooNew, decode_index
from pansync.lock import FENCE_PATH, LOCK_PATH
from pansync.remote.base import Remote
from tests.bad_inputs._support import assert_kept, issues, sync_no_wait
from tests.e2e.harness import Client, snapshot
from tests.e2e.test_decisions import converge

REMOTES = ["file", "baidu"]

INDEX = ".index.dat"


def _index_bytes(cloud_remote: Remote) -> bytes:
    got = cloud_remote.read_meta(INDEX)
    assert got is not None
    return got[0]


def _shared_folder(alice: Client, bob: Client, files: int = 12) -> None:
    for i in range(files):
        alice.write(f"docs/f{i:02}.txt", f"file {i}")
    converge(alice, bob)


def _payload_zeroed(data: bytes) -> bytes:
    """A writer's bug: the header and checksum are right, the compressed entries are not."""
    from pansync.index import _verified_segments

    layouts, _ = _verified_segments(data)
    payload = layouts[0].payload
    out = bytearray(data)
    out[payload] = bytes(payload.stop - payload.start)
    running = hashlib.blake2b(digest_size=32)
    at = 0
    for layout in layouts:  # every segment's checksum covers the file up to it
        end = layout.md5s.stop
        running.update(out[at:end])
        out[end : end + 32] = running.copy().digest()
        running.update(out[end : end + 32])
        at = end + 32
    return bytes(out)


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "checksum-valid-bad-payload": _payload_zeroed,  # found only when the entries are decoded
    "bit-flip": lambda data: data[:40] + bytes([data[40] ^ 0xFF]) + data[41:],
    "truncated": lambda data: data[: len(data) // 2],
    "foreign-magic": lambda data: b"PK\x03\x04" + data[4:],  # a zip file's magic
    "empty": lambda data: b"",
    "text": lambda data: b'{"entries": []}\n',
}


@pytest.mark.parametrize("damage", sorted(CORRUPTIONS))
def test_a_damaged_index_is_rebuilt_with_a_warning_and_deletes_nothing(
    alice: Client, bob: Client, cloud: Path, cloud_remote: Remote, damage: str
) -> None:
    _shared_folder(alice, bob)
    cloud_remote.write_meta(INDEX, CORRUPTIONS[damage](_index_bytes(cloud_remote)))
    bob.write("docs/from-bob.txt", "new on bob")
    before_alice, before_bob, before_cloud = alice.tree(), bob.tree(), snapshot(cloud)
    result = bob.sync()
    found = issues(result)
    if damage == "checksum-valid-bad-payload":
        # Only decoding the entries finds it, and bob, whose last commit this index is, appends
        # its change without decoding; alice, which must compare the whole index, finds it.
        assert not found and not result.failed
        result = alice.sync()
        found = issues(result)
    assert ".pansync/.index.dat" in found and "rebuil" in found[".pansync/.index.dat"], found
    assert not result.failed
    assert decode_index(_index_bytes(cloud_remote)).entries  # readable again, and not empty
    assert not alice.sync().failed
    assert_kept(before_alice, alice.tree())
    assert_kept(before_bob, bob.tree())
    assert_kept(before_cloud, snapshot(cloud))
    assert alice.read("docs/from-bob.txt") == "new on bob"
    assert not alice.sync().issues  # the warning is gone once the index is whole again


def _newer(data: bytes) -> bytes:
    """The same index, as a future PanSync would write it: version + 1, checksum recomputed."""
    raw = bytearray(data)
    struct.pack_into("<H", raw, 8, FORMAT_VERSION + 1)
    body = bytes(raw[:-32])
    return body + hashlib.blake2b(body, digest_size=32).digest()


def test_a_newer_format_index_stops_the_sync_with_the_upgrade_message(
    alice: Client, bob: Client, cloud: Path, cloud_remote: Remote
) -> None:
    _shared_folder(alice, bob)
    newer = _newer(_index_bytes(cloud_remote))
    cloud_remote.write_meta(INDEX, newer)
    (alice.root / "docs" / "f00.txt").unlink()  # a deletion that must not be propagated now
    alice.write("docs/new.txt", "new")
    before_alice, before_cloud = alice.tree(), snapshot(cloud)
    with pytest.raises(IndexTooNew, match="upgrade PanSync"):
        alice.sync()
    assert snapshot(cloud) == before_cloud
    assert alice.tree() == before_alice
    assert _index_bytes(cloud_remote) == newer  # never overwritten by this older client
    out = bob.cli("sync")
    assert out.returncode != 0 and "newer PanSync" in out.stderr and "upgrade" in out.stderr
    assert bob.tree() == before_cloud


LOCKS: dict[str, tuple[bytes, str]] = {
    "garbage": (b"\x00\xff\xfe not json at all", "not PanSync lock JSON"),
    "empty": (b"", "empty"),
    "huge": (b"x" * (1 << 20), "more than a lock file can be"),
    "newer-format": (json.dumps({"pansync_lock": 99}).encode(), "upgrade PanSync"),
    "bad-fields": (json.dumps({"pansync_lock": 1, "client_id": 5}).encode(), "client_id"),
}


@pytest.mark.parametrize("damage", sorted(LOCKS))
def test_an_unreadable_lock_is_held_until_stale_by_server_time(
    alice: Client, cloud: Path, cloud_remote: Remote, remote_kind: str, damage: str
) -> None:
    alice.write("a.txt", "a")
    alice.sync()
    data, problem = LOCKS[damage]
    cloud_remote.write_meta(LOCK_PATH, data)
    alice.write("b.txt", "b")
    with pytest.raises(LockHeld) as held:
        sync_no_wait(alice)
    message = held.value.message
    assert f".pansync/{LOCK_PATH}" in message and problem in message, message
    assert "unlock --force" in message
    assert "b.txt" not in snapshot(cloud)
    if remote_kind == "file":  # age it by the file system's clock (fakepcs keeps its own mtimes)
        lock_file = cloud / ".pansync" / LOCK_PATH
        past = time.time() - 3600
        os.utime(lock_file, (past, past))
        assert not sync_no_wait(alice).failed
        assert (cloud / "b.txt").read_text() == "b"
        assert not lock_file.exists()  # taken over, then released


def test_a_lock_path_that_is_a_folder_is_a_clear_error(
    alice: Client, cloud: Path, cloud_remote: Remote, remote_kind: str
) -> None:
    alice.write("a.txt", "a")
    alice.sync()
    if remote_kind == "file":
        (cloud / ".pansync" / LOCK_PATH).mkdir()
    else:
        cloud_remote.mkdir(f".pansync/{LOCK_PATH}")
    alice.write("b.txt", "b")
    with pytest.raises(PanSyncError) as failed:
        sync_no_wait(alice)
    assert f".pansync/{LOCK_PATH}" in str(failed.value)
    assert alice.read("b.txt") == "b" and (cloud / "a.txt").exists()


def test_a_damaged_fence_and_client_registry_do_not_stop_a_sync(
    alice: Client, bob: Client, cloud: Path, cloud_remote: Remote
) -> None:
    from pansync.clients import CLIENTS_DIR, list_clients
    from pansync.session import load_client_id

    _shared_folder(alice, bob, files=2)
    cloud_remote.write_meta(FENCE_PATH, b"\xff not a fence")
    alice_id = load_client_id(alice.home / "state")
    cloud_remote.write_meta(f"{CLIENTS_DIR}/{alice_id}.json", b"[1, 2, 3")
    cloud_remote.write_meta(f"{CLIENTS_DIR}/{'f' * 32}.json", b"\x00\x01")
    alice.write("docs/later.txt", "later")
    assert not alice.sync().failed
    assert not bob.sync().failed
    assert bob.read("docs/later.txt") == "later"
    records = list_clients(cloud_remote)
    assert {r.client_id for r in records} >= {alice_id, "f" * 32}
