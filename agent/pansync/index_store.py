"""`index_store`: reads the shared index from a remote and commits a new generation, fenced.

The codec (`index`) knows bytes; this module knows where they live (`.pansync/.index.dat`) and the
one rule for writing them (DESIGN.md §3): only the lease holder writes, with generation + 1, after
re-reading the generation its batch started from. If the index moved on, or the lease lapsed, the
commit raises `LockLost` and writes nothing.

Limit: the remote has no compare-and-swap, so the fence is a re-read and a lease renewal just
before an atomic replace; a second writer would need this lease to expire within that one round
trip, or an index upload slower than the TTL.
"""

from __future__ import annotations

from msgspec import Struct

from pansync.crashpoints import crash_point
from pansync.errors import IndexCorrupt, LockLost
from pansync.index import (
    IndexHeader,
    IndexTooNew,
    SharedIndex,
    append_delta,
    decode_index,
    encode_index,
    read_header,
)
from pansync.index_table import IndexTable
from pansync.lock import Lease, MetaStore
from pansync.log import get_logger

__all__ = [
    "INDEX_PATH",
    "UNREADABLE",
    "IndexState",
    "commit_index",
    "load_index",
    "peek_index",
]

INDEX_PATH = ".index.dat"
"""The shared index, relative to the remote's `.pansync/` folder."""

UNREADABLE = -1
"""`expected_generation` for a batch that began from an unreadable index (and rebuilt it)."""

_log = get_logger(__name__)


def load_index(remote: MetaStore) -> SharedIndex | None:
    """The shared index, or None when the remote has none yet.

    Raises `IndexCorrupt` for bad data (the caller rebuilds from a listing; nothing is deleted),
    and its subclass `IndexTooNew` for an index only a newer PanSync reads (never rebuilt here).
    """
    got = remote.read_meta(INDEX_PATH)
    if got is None:
        return None
    return decode_index(got[0])


def read_index_file(remote: MetaStore) -> tuple[IndexHeader, bytes] | None:
    """The index's verified header and its bytes, entries not yet decoded; None when absent.

    The header, lengths and whole-file checksum are checked here (`IndexCorrupt`, `IndexTooNew`),
    so `decode_index` of the bytes later fails only for a writer's bug. A sync that finds nothing
    changed never needs the entries: for 100,000 files that saves a quarter second and 60 MB."""
    got = remote.read_meta(INDEX_PATH)
    if got is None:
        return None
    return read_header(got[0]), got[0]


class IndexState(Struct, frozen=True):
    """What a cheap look at the index says: its generation (0 absent, UNREADABLE) and writer."""

    generation: int
    writer_id: str
    server_mtime_ns: int
    problem: str | None = None
    too_new: bool = False
    """The index needs a newer PanSync: it must not be rebuilt (overwritten) by this one."""


def peek_index(remote: MetaStore) -> IndexState:
    """The index's generation without decoding its entries: for fencing and for remote polls."""
    return _current(remote)[0]


def _current(remote: MetaStore) -> tuple[IndexState, bytes | None]:
    got = remote.read_meta(INDEX_PATH)
    if got is None:
        return IndexState(0, "", 0), None
    try:
        header = read_header(got[0])
    except IndexCorrupt as exc:
        return IndexState(UNREADABLE, "", got[1], exc.message, isinstance(exc, IndexTooNew)), None
    return IndexState(header.generation, header.writer_id, got[1]), got[0]


def commit_index(
    remote: MetaStore, index: SharedIndex, *, expected_generation: int, lease: Lease, delta: bool = False
) -> SharedIndex:
    """Write `index.entries` as the next generation, if the lease and the index allow it.

    With `delta`, the entries are only those that changed, appended to the file found at the fence
    as a delta segment (`index.append_delta`); that file must be of `expected_generation`.

    `expected_generation` is the generation the batch started from: 0 when there was no index,
    `UNREADABLE` when it could not be decoded and was rebuilt from a listing. The new generation
    is that + 1; after a rebuild it is the server time in ns, which is above any count of commits
    the lost file could have held, so generations keep increasing.

    Entries changed by this batch should carry the new generation and this client's id (the
    `generation`/`client_id` fields); entries may not claim a generation beyond the new one.
    Raises `LockLost` (and writes nothing) if the index changed since the batch began or the
    lease is no longer this client's. The lease is renewed just before the write, so a write that
    completes within one TTL cannot overlap a takeover.
    """
    written_at = remote.server_time_ns()
    table = IndexTable.of(index.entries)  # a sync's next index is a table already: not copied
    newest = table.newest_generation()
    if expected_generation == UNREADABLE:
        new_generation = max(written_at, newest)  # entries stamped from an earlier server reading
    elif expected_generation >= 0:
        new_generation = expected_generation + 1
    else:
        raise ValueError(f"invalid expected generation {expected_generation}")
    if newest > new_generation:
        raise ValueError(f"an entry claims generation {newest}, beyond the new {new_generation}")
    new = SharedIndex(new_generation, lease.client_id, written_at, table)
    if delta and expected_generation <= 0:
        raise ValueError("a delta needs an index to follow")
    data = b"" if delta else encode_index(new)  # before the fence: keep the check-to-write window short

    current, current_bytes = _current(remote)
    if current.too_new:
        raise IndexTooNew(f"{remote.url}: {current.problem}; this client will not overwrite it")
    if current.generation != expected_generation:
        found = f"generation {current.generation} by {current.writer_id or 'nobody'}"
        if current.generation == UNREADABLE:
            found = "an unreadable index"
        raise LockLost(
            f"{remote.url}: the shared index changed during this batch (expected generation "
            f"{expected_generation}, found {found}); nothing was committed, the batch will be retried"
        )
    if delta:
        assert current_bytes is not None  # the generation matched a readable index
        data = append_delta(current_bytes, new)  # a few hundred entries: no wider window than an encode
    lease.renew()  # verifies the lease is ours and unexpired, and gives the write a full TTL
    crash_point("mid-index-write")
    remote.write_meta(INDEX_PATH, data)
    _log.info("index.committed", generation=new_generation, entries=len(new.entries), delta=delta)
    return new
