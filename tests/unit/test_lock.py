"""The lease (`pansync.lock`): held, stale takeover, skewed clocks, bad lock files, renew/release."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from pansync.errors import LockHeld, LockLost
from pansync.lock import (
    FENCE_PATH,
    LOCK_PATH,
    Lease,
    LockInfo,
    encode_lock,
    force_unlock,
    parse_lock,
    read_lock,
)
from pansync.remote.local import LocalRemote
from tests.unit._metastore import MemoryMetaStore

TTL = 30.0


class FakeClock:
    """A client's monotonic clock and sleep, driven by the test; `skew` offsets what it reports."""

    def __init__(self, store: MemoryMetaStore | None = None, skew: float = 0.0) -> None:
        self.t = 1000.0 + skew
        self.store = store
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
        if self.store is not None:  # the server's time passes too (at its own offset)
            self.store.advance(seconds)


def acquire(store: Any, client: str = "a", **kw: Any) -> Lease:
    clock = kw.pop("clock", None) or FakeClock(store if isinstance(store, MemoryMetaStore) else None)
    params: dict[str, Any] = {
        "client_id": f"client-{client}",
        "client_name": f"Laptop {client.upper()}",
        "ttl_s": TTL,
        "clock": clock,
        "sleep": clock.sleep,
        "rng": random.Random(client),
        "host": f"host-{client}",
        "pid": 100 + ord(client[0]),
        "settle_s": 0.0,
    }
    params.update(kw)
    return Lease.acquire(store, **params)


# -- the basics ----------------------------------------------------------------------------------------


def test_acquire_free_lock_writes_a_readable_record() -> None:
    store = MemoryMetaStore()
    lease = acquire(store)
    record = parse_lock(store.files[LOCK_PATH][0])
    assert record == lease.record
    assert (record.client_id, record.host, record.pid, record.ttl_s) == ("client-a", "host-a", 197, TTL)
    assert record.acquired_ns == record.renewed_ns <= store.now_ns
    assert lease.generation == 1
    assert json.loads(store.files[FENCE_PATH][0])["generation"] == 1
    lease.check()


def test_held_lock_names_its_holder() -> None:
    store = MemoryMetaStore()
    acquire(store, "a")
    store.advance(12)
    with pytest.raises(LockHeld) as caught:
        acquire(store, "b")
    message = caught.value.message
    for part in ("Laptop A", "host-a", "pid 197", "since 2023-11-14", "12s ago", "unlock --force"):
        assert part in message


def test_wait_polls_until_the_holder_releases() -> None:
    store = MemoryMetaStore()
    holder = acquire(store, "a")
    clock = FakeClock(store)
    sleeps = 0

    def sleep(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        clock.sleep(seconds)
        if sleeps == 3:
            holder.release()

    lease = acquire(store, "b", wait_s=20, poll_s=1.0, clock=clock, sleep=sleep)
    assert lease.client_id == "client-b"
    assert lease.generation == 2
    assert sleeps == 3


def test_wait_gives_up_after_wait_s() -> None:
    store = MemoryMetaStore()
    acquire(store, "a")
    clock = FakeClock()  # the server clock stands still: the holder never goes stale
    with pytest.raises(LockHeld):
        acquire(store, "b", wait_s=5, poll_s=1.0, clock=clock)
    assert 4.0 <= sum(clock.slept) <= 5.0 + 1e-9
    assert all(0.5 <= s <= 1.5 for s in clock.slept[:-1])  # jittered polls


def test_release_deletes_only_our_lock_and_is_idempotent() -> None:
    store = MemoryMetaStore()
    lease = acquire(store)
    lease.release()
    assert LOCK_PATH not in store.files
    lease.release()
    with pytest.raises(LockLost):
        lease.check()


def test_context_manager_releases_even_on_error() -> None:
    store = MemoryMetaStore()
    with pytest.raises(RuntimeError), acquire(store):
        raise RuntimeError("boom")
    assert LOCK_PATH not in store.files
    with acquire(store) as lease:
        assert lease.generation == 2
    assert LOCK_PATH not in store.files


def test_generations_increase_across_holders() -> None:
    store = MemoryMetaStore()
    generations = []
    for client in "abcabc":
        with acquire(store, client) as lease:
            generations.append(lease.generation)
    assert generations == [1, 2, 3, 4, 5, 6]


# -- renew, check, expiry (by the server's clock) ------------------------------------------------------


def test_renew_extends_the_lease_by_server_time() -> None:
    store = MemoryMetaStore()
    lease = acquire(store)
    for _ in range(4):
        store.advance(TTL * 0.8)
        lease.renew()
    assert store.now_ns - lease.record.acquired_ns > 3 * TTL * 1e9
    lease.check()
    assert lease.record.renewed_ns == store.files[LOCK_PATH][1]
    with pytest.raises(LockHeld):
        acquire(store, "b")


def test_check_and_renew_fail_once_expired() -> None:
    store = MemoryMetaStore()
    lease = acquire(store)
    store.advance(TTL + 1)
    with pytest.raises(LockLost, match="expired"):
        lease.check()
    with pytest.raises(LockLost):
        lease.renew()


def test_expires_in_is_a_local_estimate() -> None:
    store = MemoryMetaStore()
    clock = FakeClock()
    lease = acquire(store, clock=clock)
    assert lease.expires_in() == pytest.approx(TTL)
    clock.t += 10
    assert lease.expires_in() == pytest.approx(TTL - 10)


# -- stale takeover ------------------------------------------------------------------------------------


def test_stale_lock_is_taken_over_and_the_old_holder_loses() -> None:
    store = MemoryMetaStore()
    old = acquire(store, "a")
    store.advance(TTL + 0.5)
    new = acquire(store, "b")
    assert new.generation == old.generation + 1
    with pytest.raises(LockLost, match="Laptop B"):
        old.check()
    with pytest.raises(LockLost):
        old.renew()
    old.release()  # must not delete the new holder's lock
    new.check()


def test_not_stale_one_tick_before_the_ttl() -> None:
    store = MemoryMetaStore()
    acquire(store, "a")
    store.advance(TTL - 0.001)
    with pytest.raises(LockHeld):
        acquire(store, "b")


def test_a_longer_declared_ttl_is_honoured_by_others() -> None:
    store = MemoryMetaStore()
    acquire(store, "a", ttl_s=300)
    store.advance(TTL + 100)
    with pytest.raises(LockHeld):
        acquire(store, "b", ttl_s=TTL)
    store.advance(300)
    acquire(store, "b", ttl_s=TTL)


@pytest.mark.parametrize("skew", [-86400.0 * 365, 86400.0, 1e9])
def test_a_skewed_client_clock_changes_nothing(skew: float) -> None:
    store = MemoryMetaStore()
    holder = acquire(store, "a")
    store.advance(TTL / 2)
    with pytest.raises(LockHeld):
        acquire(store, "b", clock=FakeClock(skew=skew))
    store.advance(TTL)
    lease = acquire(store, "b", clock=FakeClock(skew=-skew))
    assert lease.generation == holder.generation + 1


def test_a_skewed_client_clock_on_a_local_folder(tmp_path: Path) -> None:
    remote = LocalRemote(tmp_path)
    Lease.acquire(remote, client_id="a", client_name="A", ttl_s=60, settle_s=0)
    skewed = FakeClock(skew=10 * 365 * 86400.0)
    with pytest.raises(LockHeld):
        Lease.acquire(remote, client_id="b", client_name="B", ttl_s=60, clock=skewed, sleep=skewed.sleep)
    lock_file = tmp_path / ".pansync" / ".config" / "lock.txt"
    old = time.time() - 61  # a's last renewal, 61 s ago by the server (file system) clock
    os.utime(lock_file, (old, old))
    lease = Lease.acquire(remote, client_id="b", client_name="B", ttl_s=60, clock=skewed, sleep=skewed.sleep)
    assert lease.generation == 2


def test_takeover_backs_off_if_the_lock_changed_since_judged_stale() -> None:
    store = MemoryMetaStore()
    acquire(store, "a")
    store.advance(TTL + 1)
    reads = 0
    winner: list[Lease] = []

    def c_takes_over_first(op: str, path: str) -> None:
        nonlocal reads
        if op == "read" and path == LOCK_PATH:
            reads += 1
            if reads == 2:  # b has judged a's lock stale; c's takeover lands before b's re-read
                winner.append(acquire(store, "c"))

    store.before = c_takes_over_first
    with pytest.raises(LockHeld, match="Laptop C"):
        acquire(store, "b")
    store.before = None
    winner[0].check()


def test_two_contenders_for_a_stale_lock_end_with_one_holder() -> None:
    """b deletes a's fresh lock in the gap between its own re-read and delete: one must lose."""
    store = MemoryMetaStore()
    acquire(store, "z")
    store.advance(TTL + 1)
    b_clock = FakeClock()
    leases: dict[str, Lease] = {}

    def b_races(op: str, path: str) -> None:
        # Right after a deletes the stale lock, b (which also read the stale content) runs its
        # whole takeover: its re-read sees the lock gone and it creates its own.
        if op == "delete" and path == LOCK_PATH and "b" not in leases:
            store.before = None
            leases["b"] = acquire(store, "b", clock=b_clock, wait_s=0)

    store.before = b_races
    outcomes = []
    try:
        leases["a"] = acquire(store, "a")
        outcomes.append("a")
    except LockHeld:
        outcomes.append("a lost")
    holders = []
    for name, lease in leases.items():
        try:
            lease.check()
            holders.append(name)
        except LockLost:
            pass
    assert len(holders) == 1, (holders, outcomes)


def test_settle_catches_a_contender_that_overwrote_us() -> None:
    store = MemoryMetaStore()
    acquire(store, "z")
    store.advance(TTL + 1)
    clock = FakeClock()

    def contender_replaces_our_lock(seconds: float) -> None:
        clock.sleep(seconds)
        if seconds == 0.25:  # during a's settle, b's late delete + create lands
            store.delete_meta(LOCK_PATH)
            store.create_meta_exclusive(LOCK_PATH, encode_lock(parse_lock(b_record)))

    b_record = encode_lock(acquire(MemoryMetaStore(), "b").record)
    with pytest.raises(LockHeld, match="Laptop B"):
        acquire(store, "a", clock=clock, sleep=contender_replaces_our_lock, settle_s=0.25)


# -- bad lock files: held until stale, then taken over ---------------------------------------------------


BAD_LOCKS = {
    "garbage": b"\x89\x00\xffnot a lock",
    "empty": b"",
    "huge": b"{" + b" " * (200 * 1024) + b"}",
    "newer": json.dumps({"pansync_lock": 99, "client_id": "x"}).encode(),
    "wrong types": json.dumps({"pansync_lock": 1, "client_id": 5}).encode(),
    "deep": b"[" * 60_000,
}


@pytest.mark.parametrize("name", sorted(BAD_LOCKS))
def test_bad_lock_file_is_held_until_stale_then_taken_over(name: str) -> None:
    store = MemoryMetaStore()
    store.create_meta_exclusive(LOCK_PATH, BAD_LOCKS[name])
    with pytest.raises(LockHeld, match="unreadable lock file"):
        acquire(store, "a")
    info = read_lock(store)
    assert info is not None and info.record is None and info.problem
    store.advance(TTL + 1)
    lease = acquire(store, "a")
    assert lease.generation >= store.now_ns - 10**9  # unknown predecessor: jump to server time
    lease.check()


def test_newer_lock_format_says_upgrade() -> None:
    store = MemoryMetaStore()
    store.create_meta_exclusive(LOCK_PATH, BAD_LOCKS["newer"])
    info = read_lock(store)
    assert info is not None and "newer PanSync" in (info.problem or "")


def test_unreadable_fence_still_gives_a_higher_generation() -> None:
    store = MemoryMetaStore()
    with acquire(store) as first:
        assert first.generation == 1
    store.write_meta(FENCE_PATH, b"{broken")
    with acquire(store) as second:
        assert second.generation > first.generation
        big = second.generation
    with acquire(store) as third:
        assert third.generation == big + 1


# -- status and operator tools -------------------------------------------------------------------------


def test_read_lock_reports_holder_and_age() -> None:
    store = MemoryMetaStore()
    assert read_lock(store) is None
    lease = acquire(store)
    store.advance(42)
    info = read_lock(store)
    assert isinstance(info, LockInfo) and info.record == lease.record
    assert info.age_s == pytest.approx(42, abs=0.01)
    assert not info.is_stale(TTL * 2) and info.is_stale(TTL)
    assert "Laptop A" in info.describe()


def test_force_unlock_removes_any_lock_and_keeps_generations_rising() -> None:
    store = MemoryMetaStore()
    holder = acquire(store)
    store.write_meta(FENCE_PATH, b'{"generation": 0}')  # as if the holder died before its fence write
    removed = force_unlock(store)
    assert removed is not None and removed.record == holder.record
    assert read_lock(store) is None
    with pytest.raises(LockLost, match="gone"):
        holder.check()
    assert acquire(store, "b").generation == holder.generation + 1
    assert force_unlock(MemoryMetaStore()) is None


def test_local_folder_remote_acquire_release(tmp_path: Path) -> None:
    remote = LocalRemote(tmp_path)
    with Lease.acquire(remote, client_id="a", client_name="A", ttl_s=5, settle_s=0) as lease:
        assert (tmp_path / ".pansync" / ".config" / "lock.txt").exists()
        lease.renew()
        lease.check()
        info = read_lock(remote)
        assert info is not None and 0 <= info.age_s < 5
    assert read_lock(remote) is None


def test_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError):
        acquire(MemoryMetaStore(), ttl_s=0)


def test_own_lease_left_by_a_dead_process_is_taken_at_once(tmp_path: Path) -> None:
    """After a crash, the same client on the same host need not wait out the TTL."""
    import subprocess
    import sys

    from pansync.remote.local import LocalRemote

    remote = LocalRemote(tmp_path)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    Lease.acquire(remote, client_id="a" * 32, client_name="laptop", ttl_s=600, pid=dead_pid)
    with pytest.raises(LockHeld):
        Lease.acquire(remote, client_id="b" * 32, client_name="other", ttl_s=600)
    lease = Lease.acquire(remote, client_id="a" * 32, client_name="laptop", ttl_s=600)
    assert lease.generation >= 2
    lease.release()


# -- late writes ---------------------------------------------------------------------------------------


def test_a_late_write_of_an_earlier_holder_is_overwritten_not_obeyed() -> None:
    """A slow server carries out a's lock write after a gave up on it and released: the record lands
    inside b's lease. Its generation is below b's, so b writes its own record back and goes on."""
    store = MemoryMetaStore()
    first = acquire(store, "a")
    late = encode_lock(first.record)
    first.release()
    second = acquire(store, "b")
    assert second.generation > first.generation

    store.write_meta(LOCK_PATH, late)
    second.check()
    got = store.read_meta(LOCK_PATH)
    assert got is not None and parse_lock(got[0]).same_holder(second.record)
    store.write_meta(LOCK_PATH, late)
    second.renew()
    store.write_meta(LOCK_PATH, late)
    second.release()
    assert store.read_meta(LOCK_PATH) is None  # the late record goes too: nobody waits out its TTL


def test_a_record_of_a_higher_generation_is_still_a_takeover() -> None:
    store = MemoryMetaStore()
    old = acquire(store, "a")
    store.advance(TTL + 1)
    new = acquire(store, "b")
    store.write_meta(LOCK_PATH, encode_lock(old.record))  # a's late renewal lands in b's lease
    new.check()
    with pytest.raises(LockLost, match="Laptop B"):
        old.check()  # b's record, of a higher generation, is a real takeover for a
    old.release()
    new.check()


def test_a_lease_past_its_ttl_never_overwrites_a_lower_record() -> None:
    """It may have been taken over meanwhile: the lower record may be its taker's provisional one."""
    store = MemoryMetaStore()
    first = acquire(store, "a")
    late = encode_lock(first.record)
    first.release()
    clock = FakeClock(store)
    second = acquire(store, "b", clock=clock, sleep=clock.sleep)
    clock.sleep(TTL + 1)
    store.write_meta(LOCK_PATH, late)
    with pytest.raises(LockLost, match="Laptop A"):
        second.check()
    got = store.read_meta(LOCK_PATH)
    assert got is not None and got[0] == late
