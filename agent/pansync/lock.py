"""`lock`: the lease on a remote folder, `.pansync/.config/lock.txt` (DESIGN.md §3).

One client at a time may plan, execute and commit against a remote folder; this module decides who.
The lock is a lease, not a flag: it expires when its holder stops renewing it, and expiry is judged
by the *server's* clock (the lock file's server mtime against the server's now), so a client with a
skewed clock can neither steal a live lease nor keep a dead one. Every holder gets a fencing
generation that increases across holders; the shared index commit (`index_store`) re-checks the lease
right before it writes.

Limit: the remote offers only create-if-absent, replace, read and delete, not compare-and-swap, so
a stale takeover keeps a window of one round trip in which two contenders can both delete and
create. The winner is whoever's file survives: each contender waits `settle_s` after creating and
reads back, the loser backs off, and a holder that was overwritten finds out at its next `check`.

Late writes: a slow server may carry out a lock write (a renewal, say) after its client gave up on
the request, even after that client released the lock. Once a holder has read its lease back, a
contender can keep the lock only with a generation above the holder's (it settles its generation
against the holder's record and the fence before it proceeds), so a record with a lower one is a
late write, or at worst a contender's provisional record that the contender's own read-back will
drop. The holder writes its own record back and keeps the lease (and `release` removes such a
record), instead of taking it for a takeover and committing nothing. Only a lease that has been
read back does so: until then, the contenders' own protocol (settle, read back, back off) decides.
A late record that lands while nobody holds the lock is left to expire like a crashed holder's:
taking it over early was tried and broke the rising generations under a three-process race.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any, Protocol

from msgspec import Struct
from msgspec.structs import asdict, replace

from pansync import interrupts
from pansync.errors import LockCorrupt, LockHeld, LockLost
from pansync.log import get_logger

__all__ = [
    "FENCE_PATH",
    "LOCK_FORMAT",
    "LOCK_PATH",
    "MAX_LOCK_BYTES",
    "Lease",
    "LockInfo",
    "LockRecord",
    "MetaStore",
    "encode_lock",
    "force_unlock",
    "parse_lock",
    "read_lock",
]

LOCK_PATH = ".config/lock.txt"
"""The lease, relative to the remote's `.pansync/` folder."""

FENCE_PATH = ".config/lock-fence.txt"
"""The last fencing generation handed out; survives releases, which delete the lock file itself."""

LOCK_FORMAT = 1
"""Version of the lock file's JSON content; a newer one is unreadable here and treated as held."""

MAX_LOCK_BYTES = 64 * 1024
"""A lock file is a few hundred bytes; anything past this is refused unparsed."""

_MAX_DECLARED_TTL_S = 24 * 3600.0
"""Others honour a holder's longer declared TTL, but only up to this: a garbage TTL cannot pin a lock."""

_MAX_TEXT = 512
_INT64_MAX = 2**63 - 1

_HOLDER = attrgetter("token", "client_id", "host", "pid")
_log = get_logger(__name__)


class MetaStore(Protocol):
    """The part of `pansync.remote.base.Remote` this module needs; every Remote is one."""

    @property
    def url(self) -> str: ...

    def read_meta(self, rel_path: str) -> tuple[bytes, int] | None: ...

    def write_meta(self, rel_path: str, data: bytes) -> None: ...

    def create_meta_exclusive(self, rel_path: str, data: bytes) -> bool: ...

    def delete_meta(self, rel_path: str) -> None: ...

    def list_meta(self, rel_dir: str) -> list[str]: ...

    def server_time_ns(self) -> int: ...


class LockRecord(Struct, frozen=True):
    """The content of a lock file. Times are the server's clock, in ns since the epoch."""

    client_id: str
    client_name: str
    host: str
    pid: int
    token: str
    generation: int
    acquired_ns: int
    renewed_ns: int
    ttl_s: float

    def same_holder(self, other: LockRecord) -> bool:
        """True when `other` is this very lease (a token alone could repeat under a seeded rng)."""
        return _HOLDER(self) == _HOLDER(other)


def encode_lock(record: LockRecord) -> bytes:
    """The lock file's bytes: one small JSON object, its first key naming the format.

    ASCII with JSON escapes, so any name (even one with lone surrogates from an odd host name)
    survives the round trip.
    """
    body = {"pansync_lock": LOCK_FORMAT, **asdict(record)}
    return (json.dumps(body, indent=1) + "\n").encode("ascii")


def _field(obj: dict[str, Any], name: str, kind: type, *, lo: float = 0, hi: float = _INT64_MAX) -> Any:
    value: Any = obj.get(name)
    if kind is str:
        if type(value) is not str or not 0 < len(value) <= _MAX_TEXT:
            raise LockCorrupt(f"lock file field {name!r} is missing or not a short string")
        return value
    ok_types = (int,) if kind is int else (int, float)
    if type(value) not in ok_types or not (lo <= value <= hi) or not math.isfinite(value):
        raise LockCorrupt(f"lock file field {name!r} is missing or out of range")
    return value


def parse_lock(data: bytes) -> LockRecord:
    """Parse a lock file; raises `LockCorrupt` (and nothing else) for anything that is not one."""
    if len(data) > MAX_LOCK_BYTES:
        raise LockCorrupt(f"lock file is {len(data)} bytes, more than a lock file can be")
    if not data.strip():
        raise LockCorrupt("lock file is empty (a crash while it was being written?)")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise LockCorrupt(f"lock file is not PanSync lock JSON ({type(exc).__name__})") from exc
    if type(obj) is not dict or "pansync_lock" not in obj:
        raise LockCorrupt("lock file is not a PanSync lock")
    version = obj["pansync_lock"]
    if type(version) is not int or version < 1:
        raise LockCorrupt("lock file has no valid format version")
    if version > LOCK_FORMAT:
        raise LockCorrupt(f"lock file format v{version} was written by a newer PanSync; upgrade PanSync here")
    return LockRecord(
        client_id=_field(obj, "client_id", str),
        client_name=_field(obj, "client_name", str),
        host=_field(obj, "host", str),
        pid=_field(obj, "pid", int),
        token=_field(obj, "token", str),
        generation=_field(obj, "generation", int),
        acquired_ns=_field(obj, "acquired_ns", int, lo=-_INT64_MAX),
        renewed_ns=_field(obj, "renewed_ns", int, lo=-_INT64_MAX),
        ttl_s=float(_field(obj, "ttl_s", float, lo=0.001, hi=1e9)),
    )


class LockInfo(Struct, frozen=True):
    """A lock file as seen now: its record (None when unreadable, with `problem` saying why)."""

    record: LockRecord | None
    problem: str | None
    server_mtime_ns: int
    server_now_ns: int

    @property
    def age_s(self) -> float:
        """Seconds since the holder last wrote the file, by the server's clock."""
        return (self.server_now_ns - self.server_mtime_ns) / 1e9

    def ttl_for(self, ttl_s: float) -> float:
        """The TTL to judge by: ours, or the holder's declared one if longer (up to a day)."""
        declared = self.record.ttl_s if self.record else 0.0
        return max(ttl_s, min(declared, _MAX_DECLARED_TTL_S))

    def is_stale(self, ttl_s: float) -> bool:
        """True once the lease has gone unrenewed for longer than its TTL, by the server's clock."""
        return self.age_s > self.ttl_for(ttl_s)

    def describe(self) -> str:
        """One line for `pansync status` and for `LockHeld`: who, where, since when."""
        age = f"last written {self.age_s:.0f}s ago by the server clock"
        if self.record is None:
            return f"an unreadable lock file .pansync/{LOCK_PATH} ({self.problem}), {age}"
        r = self.record
        since = datetime.fromtimestamp(r.acquired_ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        return f"{r.client_name} on {r.host} (pid {r.pid}, client {r.client_id[:8]}) since {since} UTC, {age}"


def _info(got: tuple[bytes, int], server_now_ns: int) -> LockInfo:
    data, mtime_ns = got
    try:
        record: LockRecord | None = parse_lock(data)
        problem = None
    except LockCorrupt as exc:
        record, problem = None, exc.message
        _log.warning("lock.unreadable", error=str(exc), age_ns=server_now_ns - mtime_ns)
    return LockInfo(record, problem, mtime_ns, server_now_ns)


def read_lock(remote: MetaStore) -> LockInfo | None:
    """The lock as it stands, for `pansync status`; None when nobody holds it."""
    got = remote.read_meta(LOCK_PATH)
    return None if got is None else _info(got, remote.server_time_ns())


class _Fence(Struct, frozen=True):
    value: int | None
    unreadable: bool


def _read_fence(remote: MetaStore) -> _Fence:
    got = remote.read_meta(FENCE_PATH)
    if got is None:
        return _Fence(None, False)
    try:
        obj = json.loads(got[0][:MAX_LOCK_BYTES].decode("utf-8"))
        value = obj["generation"]
        if type(value) is int and 0 <= value < _INT64_MAX:
            return _Fence(value, False)
    except (ValueError, RecursionError, TypeError, KeyError):
        pass
    _log.warning("lock.fence_unreadable", path=FENCE_PATH)
    return _Fence(None, True)


def _write_fence(remote: MetaStore, generation: int) -> None:
    remote.write_meta(FENCE_PATH, json.dumps({"pansync_fence": 1, "generation": generation}).encode())


def _next_generation(previous: LockInfo | None, fence: _Fence, server_now_ns: int) -> int:
    """One more than any generation known; if a record of one is unreadable, the server time.

    Server time in ns is far above any count of leases, and still grows, so the order survives a
    lost or damaged record.
    """
    known = [fence.value] if fence.value is not None else []
    if previous is not None and previous.record is not None:
        known.append(previous.record.generation)
    generation = max(known, default=0) + 1
    if fence.unreadable or (previous is not None and previous.record is None):
        generation = max(generation, server_now_ns)
    return min(generation, _INT64_MAX)


def force_unlock(remote: MetaStore) -> LockInfo | None:
    """`pansync unlock --force`: remove the lock whoever holds it; returns what was removed.

    The removed holder's generation is kept in the fence file so the next one is still higher.
    """
    info = read_lock(remote)
    if info is None:
        return None
    if info.record is not None:
        fence = _read_fence(remote)
        if fence.value is None or fence.value < info.record.generation:
            _write_fence(remote, info.record.generation)
    remote.delete_meta(LOCK_PATH)
    _log.warning("lock.forced_unlock", holder=info.describe())
    return info


class Lease:
    """A held lock. Obtain one with `Lease.acquire`; use it as a context manager to release it.

    The lease keeps a local estimate of when it expires (`expires_in`, from the injected monotonic
    clock, started before the write that set the server mtime so it errs early); `check` asks the
    server.
    """

    def __init__(
        self,
        remote: MetaStore,
        record: LockRecord,
        ttl_s: float,
        *,
        clock: Callable[[], float],
        written_at: float,
    ) -> None:
        self._remote = remote
        self._record = record
        self._ttl_s = ttl_s
        self._clock = clock
        self._deadline = written_at + ttl_s
        self._released = False
        self._read_back = False
        """Set once the acquisition has read this lease back; only then is a record of a lower
        generation taken for a late write (see the module's note)."""

    @property
    def record(self) -> LockRecord:
        return self._record

    @property
    def generation(self) -> int:
        """The fencing generation: higher than that of every earlier holder of this lock."""
        return self._record.generation

    @property
    def token(self) -> str:
        return self._record.token

    @property
    def client_id(self) -> str:
        return self._record.client_id

    def expires_in(self) -> float:
        """Seconds until the lease lapses unless renewed (a local, conservative estimate)."""
        return self._deadline - self._clock()

    @classmethod
    def acquire(
        cls,
        remote: MetaStore,
        *,
        client_id: str,
        client_name: str,
        ttl_s: float,
        wait_s: float = 0.0,
        poll_s: float = 1.0,
        settle_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> Lease:
        """Take the lock, waiting up to `wait_s` for a live holder; raises `LockHeld` naming it.

        `poll_s` is the mean pause between attempts (jittered, so contenders do not march in
        step); `settle_s` is how long a stale takeover waits before its final read-back, and
        should exceed one round trip to the remote. `clock`, `sleep` and `rng` are the seams for
        tests; staleness never depends on `clock`.

        A Ctrl-C landing between the lock file's creation and the caller's `try` would leave the
        lock behind: a caller that must never leak it calls this from an `interrupts.shielded`
        step, whose interrupts wait (the pauses between attempts excepted: nothing is held then).
        """
        if not ttl_s > 0:
            raise ValueError("lock TTL must be positive")
        jitter = rng if rng is not None else random.Random()
        host = host if host is not None else os.uname().nodename
        pid = pid if pid is not None else os.getpid()
        token = f"{rng.getrandbits(128):032x}" if rng is not None else os.urandom(16).hex()
        # generation and times are filled in for each attempt
        identity = LockRecord(client_id, client_name, host, pid, token, 0, 0, 0, float(ttl_s))
        contender = _Contender(remote, identity, _read_fence(remote), ttl_s, settle_s, clock, sleep)
        deadline = clock() + wait_s
        while True:
            outcome = contender.attempt()
            if isinstance(outcome, Lease):
                return outcome
            remaining = deadline - clock()
            if remaining <= 0:
                raise LockHeld(_held_message(remote, outcome, ttl_s))
            _pause(sleep, min(poll_s * (0.5 + jitter.random()), remaining))

    def _current(self) -> LockInfo:
        """The lock as the server has it now, or LockLost if it is no longer this lease."""
        info = read_lock(self._remote)
        if info is not None and self._is_late_write(info):
            _log.warning("lock.late_write_overwritten", found=info.describe(), generation=self.generation)
            self._remote.write_meta(LOCK_PATH, encode_lock(self._record))
            info = read_lock(self._remote)
        if info is None or info.record is None or not info.record.same_holder(self._record):
            holder = (
                "nobody: the lock file is gone (`pansync unlock --force`?)"
                if info is None
                else info.describe()
            )
            raise LockLost(
                f"{self._remote.url}: the lock now belongs to {holder}; this batch commits nothing"
            )
        return info

    def check(self) -> None:
        """Raise `LockLost` unless the lock file is still this lease and unexpired by server time."""
        if self._released:
            raise LockLost("the lease was released")
        info = self._current()
        if info.age_s > self._ttl_s:
            raise LockLost(
                f"{self._remote.url}: the lease expired ({info.age_s:.0f}s without renewal, TTL "
                f"{self._ttl_s:g}s) and may be taken over; this batch commits nothing"
            )

    def renew(self) -> None:
        """Extend the lease by rewriting the lock file; `LockLost` if it is no longer ours."""
        self.check()
        now_ns = self._remote.server_time_ns()
        renewed = replace(self._record, renewed_ns=now_ns)
        written_at = self._clock()
        self._remote.write_meta(LOCK_PATH, encode_lock(renewed))
        self._record = renewed
        self._current()
        self._deadline = written_at + self._ttl_s
        _log.info("lock.renewed", generation=self._record.generation)

    @interrupts.shielded  # a Ctrl-C on the way out must not leave the lock behind
    def release(self) -> None:
        """Delete the lock file if it is still ours (never someone else's); idempotent."""
        if self._released:
            return
        self._released = True
        got = self._remote.read_meta(LOCK_PATH)
        try:
            found = parse_lock(got[0]) if got is not None else None
        except LockCorrupt:
            found = None
        ours = found is not None and found.same_holder(self._record)
        if ours or (found is not None and self._is_late_write_of(found)):
            self._remote.delete_meta(LOCK_PATH)
            _log.debug("lock.released", generation=self.generation)
        else:
            _log.warning("lock.release_not_ours", generation=self.generation)

    def _is_late_write(self, info: LockInfo) -> bool:
        return info.record is not None and self._is_late_write_of(info.record)

    def _is_late_write_of(self, record: LockRecord) -> bool:
        """Only a live lease re-asserts itself: one past its TTL may have been taken over, and the
        lower record may be its taker's provisional one."""
        return self._read_back and self.expires_in() > 0 and record.generation < self._record.generation

    def __enter__(self) -> Lease:
        return self

    @interrupts.shielded
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.release()
            return
        try:
            self.release()
        except Exception as release_error:  # never hide the error that ended the block
            _log.warning("lock.release_failed", error=str(release_error))


class _Contender(Struct, frozen=True):
    """One client's acquisition: its identity, the fence hint, and the injected seams."""

    remote: MetaStore
    identity: LockRecord
    fence: _Fence
    ttl_s: float
    settle_s: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]

    def attempt(self) -> Lease | LockInfo | None:
        """One try: create if absent, else take over if stale. Returns the lease or the holder."""
        remote = self.remote
        for _ in range(3):  # the lock may vanish between a failed create and the read
            now_ns = remote.server_time_ns()
            mine = replace(
                self.identity,
                generation=_next_generation(None, self.fence, now_ns),
                acquired_ns=now_ns,
                renewed_ns=now_ns,
            )
            written_at = self.clock()
            if remote.create_meta_exclusive(LOCK_PATH, encode_lock(mine)):
                return self._confirm(mine, None, written_at)
            got = remote.read_meta(LOCK_PATH)
            if got is None:
                continue
            held = _info(got, remote.server_time_ns())
            if not held.is_stale(self.ttl_s) and not self._left_by_our_dead_process(held):
                return held
            _log.warning("lock.stale_takeover", holder=held.describe(), ttl_s=held.ttl_for(self.ttl_s))
            if remote.read_meta(LOCK_PATH) != got:
                continue  # renewed or replaced meanwhile: judge the new content afresh
            remote.delete_meta(LOCK_PATH)
            mine = replace(mine, generation=_next_generation(held, self.fence, remote.server_time_ns()))
            written_at = self.clock()
            if not remote.create_meta_exclusive(LOCK_PATH, encode_lock(mine)):
                _log.info("lock.takeover_lost")
                return read_lock(remote)
            self.sleep(self.settle_s)
            return self._confirm(mine, held, written_at)
        return None

    def _left_by_our_dead_process(self, held: LockInfo) -> bool:
        """A lease this client took on this host, from a process that no longer exists (a crash, a
        kill -9): no one can be using it, so waiting out its TTL would only delay recovery."""
        record, me = held.record, self.identity
        if record is None or record.client_id != me.client_id or record.host != me.host:
            return False
        if record.pid == me.pid:
            return False
        try:
            os.kill(record.pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False  # it exists, under another user
        return False

    def _confirm(
        self, mine: LockRecord, previous: LockInfo | None, written_at: float
    ) -> Lease | LockInfo | None:
        """Read back; if the file is ours, settle the generation against the fence and record it.

        The fence read before creating may be stale (another client may have come and gone since),
        so it is read again now that nobody else can write it.
        """
        remote = self.remote
        got = remote.read_meta(LOCK_PATH)
        if got is None:
            return None
        seen = _info(got, remote.server_time_ns())
        if seen.record is None or not seen.record.same_holder(mine):
            _log.info("lock.readback_lost", holder=seen.describe())
            return seen
        generation = _next_generation(previous, _read_fence(remote), seen.server_now_ns)
        if generation > mine.generation:
            mine = replace(mine, generation=generation)
            written_at = self.clock()
            remote.write_meta(LOCK_PATH, encode_lock(mine))
        _write_fence(remote, mine.generation)
        lease = Lease(remote, mine, self.ttl_s, clock=self.clock, written_at=written_at)
        try:
            lease.check()
        except LockLost:  # overwritten by a contender's takeover in the meantime: back off
            return read_lock(remote)
        lease._read_back = True
        _log.debug("lock.acquired", generation=mine.generation, client=mine.client_id)
        return lease


@interrupts.interruptible
def _pause(sleep: Callable[[float], None], seconds: float) -> None:
    """Between attempts to take the lock, nothing is held: a Ctrl-C is raised here, even one a
    shielded caller deferred."""
    interrupts.checkpoint()
    sleep(seconds)
    interrupts.checkpoint()


def _held_message(remote: MetaStore, held: LockInfo | None, ttl_s: float) -> str:
    if held is None:
        return f"{remote.url}: the lock kept changing hands; try again"
    wait = max(held.ttl_for(ttl_s) - held.age_s, 0)
    return (
        f"{remote.url}: the lock is held by {held.describe()}; it is taken over if it goes "
        f"unrenewed for {wait:.0f}s more. Wait for that sync to finish, or run "
        "`pansync unlock --force` if that client is gone"
    )
