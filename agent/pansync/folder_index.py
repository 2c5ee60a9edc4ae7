"""The shared index as one sync of one folder sees it: read under the lock, decoded only when
something asks for its entries, and committed at the end, whole or as a delta segment.

Job: the index's life within a sync (DESIGN §3): an unreadable index is reported and rebuilt from
the sync, never trusted; a sync that begins from the index it last committed or synced to, with
nothing it executed left out, may append its batch's changes instead of writing every entry; a
batch executed but not committed (a crash, a lost lease) is marked in the state database, so the
next sync commits the whole index. Limit: the file format is `index`'s, the fenced write
`index_store`'s, and which entries a commit holds `shared_index`'s.
"""

from __future__ import annotations

from pansync.errors import IndexCorrupt, ItemError, LockLost
from pansync.index import IndexHeader, IndexTooNew, SharedIndex, decode_index
from pansync.index_store import UNREADABLE, commit_index, read_index_file
from pansync.lock import Lease
from pansync.log import Logger
from pansync.remote.base import Remote
from pansync.scan import ScanIssue
from pansync.shared_index import changed_entries, delta_fits, next_entries
from pansync.state import StateStore
from pansync.synced_view import SyncedView

__all__ = ["INDEX_PENDING", "SEEN_GENERATION", "FolderIndex"]

SEEN_GENERATION = "index_generation"
"""State meta: the shared index generation this client's last sync ended at (scoped syncs need it)."""

INDEX_PENDING = "index_pending"
"""State meta, "1" from before a batch executes until its index is committed: a sync that finds it
set (the last one crashed or lost its lease after executing) syncs the whole folder and commits the
whole index, even with nothing to do, so no executed change stays out of the index."""


class FolderIndex:
    """One folder's shared index for the length of one sync (`load` under the lock, `commit` at
    the end); `generation` is the one read, then the one committed."""

    def __init__(
        self, remote: Remote, state: StateStore, synced: SyncedView, client_id: str, log: Logger
    ) -> None:
        self.remote = remote
        self.state = state
        self.synced = synced
        self.client_id = client_id
        self.log = log
        self.generation = 0
        self.rebuild = False
        """Unreadable when read: the commit writes it whole, from this sync."""
        self.issues: list[ScanIssue] = []
        self._entries: SharedIndex | None = None
        self._bytes: bytes | None = None
        """The index as read, header verified, entries decoded on first use."""
        self._header: IndexHeader | None = None
        self._delta_base = False
        """The index this sync began from is this client's last commit or one it synced to, and
        nothing it executed since is uncommitted: a commit may append the batch's changes."""

    def load(self) -> bool:
        """Read the index under the lock; whether a batch's commit was lost (then the sync is whole
        and commits the whole index)."""
        self.issues = []
        self._entries = self._bytes = self._header = None
        self.rebuild = False
        try:
            found = read_index_file(self.remote)
        except IndexTooNew:
            raise
        except IndexCorrupt as exc:
            self._unreadable(exc)
        else:
            if found is None:
                self.generation = 0
            else:
                self._header, self._bytes = found
                self.generation = self._header.generation
        pending = self.state.get_meta(INDEX_PENDING) == "1"
        self._delta_base = not pending and self.synced_to_this()
        return pending

    def synced_to_this(self) -> bool:
        """Whether this client's last sync ended at the index just read (nobody committed since)."""
        return self.state.get_meta(SEEN_GENERATION) == str(self.generation)

    @property
    def entries(self) -> SharedIndex | None:
        """The shared index's entries, decoded when first asked for (a no-op sync never asks)."""
        if self._bytes is not None:
            data, self._bytes = self._bytes, None
            try:
                self._entries = decode_index(data)
            except IndexCorrupt as exc:  # the checksum held: a writer's bug, rebuilt as any damage
                self._unreadable(exc, header_ok=True)
        return self._entries

    def executing(self) -> None:
        """A batch is about to change both sides: until `committed`, its commit is owed."""
        self.state.set_meta(INDEX_PENDING, "1")

    def committed(self) -> None:
        """The index holds everything executed so far, at `generation`."""
        self.state.set_meta(SEEN_GENERATION, str(self.generation))
        self.state.set_meta(INDEX_PENDING, "0")

    def _unreadable(self, exc: IndexCorrupt, *, header_ok: bool = False) -> None:
        """Rebuild the index from this sync. A header that was read keeps its generation (the
        commit's fencing finds it again); an unreadable one counts as `UNREADABLE`."""
        self.log.error("shared index unreadable; rebuilding it from this sync", error=exc.message)
        self.issues.append(ScanIssue(".pansync/.index.dat", f"{exc.message}; rebuilt from a listing"))
        self._entries = self._bytes = None
        self.rebuild = True
        if not header_ok:
            self.generation = UNREADABLE

    def commit(self, lease: Lease, *, keep: set[str], scope: frozenset[str] | None) -> ItemError | None:
        """Write the index this sync leaves (fenced by the lease and the generation read); the
        failure when the lease was lost meanwhile. `keep`: keys whose old entries stay as they are
        (frozen, failed); `scope`: the keys a scoped sync looked at."""
        if scope is None:
            self.synced.whole()  # up to date first: past `PATCH_MAX` writes it is read again whole
        if self._may_append(scope):
            return self._commit_delta(lease, keep)
        old = self.entries  # decoded first: a failure there makes this a rebuild (a new generation base)
        generation = self.generation + 1 if self.generation >= 0 else self.remote.server_time_ns()
        scope = scope if old is not None else None  # a rebuild starts from the whole synced tree
        entries = next_entries(
            old,
            self.synced.of(scope),
            keep=keep,
            client_id=self.client_id,
            generation=generation,
            now_ns=self.remote.server_time_ns(),
            scope=scope,
        )
        # The decoded index is done with: its columns would sit beside the new ones while they encode.
        del old
        self._entries = None
        return self._write(lease, SharedIndex(generation, self.client_id, 0, entries), delta=False)

    def _may_append(self, scope: frozenset[str] | None) -> bool:
        """Whether this commit may append the batch's changes (`shared_index.changed_entries`):
        a whole-folder sync that began from an index it knows it matches, with every change it made
        recorded in `synced.before`, and room left in the file (`shared_index.delta_fits`)."""
        header = self._header
        return (
            self._delta_base
            and self.synced.before is not None
            and scope is None
            and not self.rebuild
            and header is not None
            and header.generation == self.generation > 0
            and delta_fits(header, len(self.synced.changed))
        )

    def _commit_delta(self, lease: Lease, keep: set[str]) -> ItemError | None:
        generation = self.generation + 1
        synced = self.synced.whole()
        before = self.synced.before
        assert before is not None  # `_may_append` saw to it
        entries = changed_entries(
            self.synced.changed,
            before,
            synced,
            keep=keep,
            client_id=self.client_id,
            generation=generation,
            now_ns=self.remote.server_time_ns(),
        )
        if not entries:  # the batch changed no record the index keeps: nothing to commit
            return None
        return self._write(lease, SharedIndex(generation, self.client_id, 0, entries), delta=True)

    def _write(self, lease: Lease, index: SharedIndex, *, delta: bool) -> ItemError | None:
        try:
            commit_index(self.remote, index, expected_generation=self.generation, lease=lease, delta=delta)
        except LockLost as exc:
            self.log.error("index not committed", error=exc.message)
            return ItemError(".pansync/.index.dat", exc.message)
        self.generation = index.generation
        return None
