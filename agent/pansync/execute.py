"""Applies a plan: the local disk and a `Remote` change here, and nowhere else.

Every action first checks that what it was decided from still holds (the file was not edited since
the scan, the cloud version is still the one we meant to replace); if not, it is skipped and the
next sync decides again. Writes are atomic on both sides: a download lands in a temp file beside its
target, is verified against its MD5 and renamed over it; an upload lands beside its target, is checked
against the bytes sent and only then moved over the real name (the replaced version copied to the
cloud trash first). So Ctrl-C or kill -9 at any moment leaves old or new content under a real name,
never a torn one. Each action's result is committed to the state database as soon as it is done.

A failed action is reported as an `ItemError` and everything under its path is skipped for this run;
the rest goes on. Errors that concern the whole folder (lock lost, remote gone) propagate.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import posixpath
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

from msgspec import Struct, field

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
    describe,
)
from pansync.completions import Completions
from pansync.crashpoints import crash_point
from pansync.errors import AuthError, ItemError, PanSyncError, RemoteError
from pansync.hashing import md5_file
from pansync.log import get_logger
from pansync.model import Kind, LocalEntry, RemoteEntry, SyncedEntry
from pansync.names import ancestors, covered, is_under, safe_local_path
from pansync.no_replace import rename_no_replace
from pansync.plan import Plan
from pansync.ratelimit import TokenBucket
from pansync.remote.base import Remote
from pansync.state import StateStore
from pansync.transfer_sink import TransferSink
from pansync.trash import LocalTrash as LocalTrashBin
from pansync.trash import trash_path

__all__ = ["ExecReport", "Executor"]

log = get_logger("pansync.execute")

HEARTBEAT_S = 1.0
"""How often the transfer loop wakes to renew the lease (the renewal itself happens only when due)."""

TRANSFER_WINDOW = 4
"""Tasks queued per worker thread at a time (the rest wait in a plain list, not as futures)."""

SMALL_BATCH = 8
"""Small uploads handed to a worker as one task: a future, its wait and its wake-up cost more
Python time than copying a 15 KB file, and every thread queues for that time (the GIL)."""

SMALL_FILE = 256 * 1024
"""Uploads up to this size are batched (`SMALL_BATCH`); larger ones are a task each."""

FLUSH_EVERY_S = 0.5
"""Uploads wait at most about this long for the flush that lets them be recorded."""

REGISTER_CHUNK = 256
"""Transfers whose temp files are written down in one transaction, ahead of their start."""

_Done = tuple[Upload | Download, SyncedEntry]
"""A finished transfer and the synced record it earned."""

_Task = list[tuple[Upload | Download, str]]
"""Transfers, with their temp names, run one after another by one worker."""

_ROUTINE = (Upload, Download, RemoteMkdir, LocalMkdir, Record, Forget)
"""Actions whose "done" line is logged at debug level: a first sync makes one per file, and one log
line (two handlers, redaction) costs more than uploading a small file to a local remote. Moves,
renames and deletions stay at info, one line each: they are what a person looks for afterwards; the
rest is summed up in one "executed" line per plan."""


class ExecReport(Struct):
    done: int = 0
    failed: list[ItemError] = field(default_factory=list)
    uploaded_bytes: int = 0
    downloaded_bytes: int = 0


def synced_from(local: LocalEntry, remote: RemoteEntry, md5: str) -> SyncedEntry:
    return SyncedEntry(
        kind=local.kind,
        size=local.size,
        md5=md5,
        local_name=local.name,
        local_mtime_ns=local.mtime_ns,
        local_inode=local.inode,
        remote_name=remote.name,
        remote_id=remote.remote_id,
        remote_mtime_ns=remote.mtime_ns,
    )


def _local_entry(root: Path, name: str, md5: str) -> LocalEntry:
    return _entry_of(name, os.lstat(root / name), md5)


def _entry_of(name: str, st: os.stat_result, md5: str) -> LocalEntry:
    is_dir = stat.S_ISDIR(st.st_mode)
    return LocalEntry(
        name, Kind.DIR if is_dir else Kind.FILE, 0 if is_dir else st.st_size, st.st_mtime_ns, st.st_ino, md5
    )


def _resume_name(remote: RemoteEntry) -> str:
    """The same cloud version always downloads into the same temp name, so a retry can resume."""
    ident = f"{remote.remote_id}|{remote.size}|{remote.mtime_ns}|{remote.md5}".encode()
    return f".pansync.tmp-{hashlib.md5(ident, usedforsecurity=False).hexdigest()[:16]}"


def _resumable_bytes(temp: Path, size: int) -> int:
    try:
        have = temp.stat().st_size
    except FileNotFoundError:
        return 0
    if have >= size:
        temp.unlink()
        return 0
    return have


def _temp_name(path: str) -> str:
    parent = posixpath.dirname(path)
    name = f".pansync.tmp-{uuid.uuid4().hex[:16]}"
    return f"{parent}/{name}" if parent else name


class Executor:
    """Runs one plan for one folder."""

    def __init__(
        self,
        *,
        root: Path,
        remote: Remote,
        state: StateStore,
        local_trash: LocalTrashBin,
        batch: str,
        keep_replaced: bool = True,
        concurrency: int = 4,
        download_concurrency: int = 1,
        heartbeat: Callable[[], None] = lambda: None,
        sink: TransferSink | None = None,
        upload_limit: int | None = None,
        download_limit: int | None = None,
    ) -> None:
        self.root = root
        self._root = str(root)
        self.remote = remote
        self.state = state
        self.local_trash = local_trash
        self.batch = batch
        self.keep_replaced = keep_replaced
        self.concurrency = max(1, concurrency)
        self._downloads = threading.Semaphore(max(1, download_concurrency))
        self.heartbeat = heartbeat
        self.sink = sink or TransferSink()
        self._up_bucket = TokenBucket(upload_limit) if upload_limit else None
        self._down_bucket = TokenBucket(download_limit) if download_limit else None
        self.report = ExecReport()
        self._failed_keys: set[str] = set()
        self._failed_above: set[str] = set()
        """Failed keys and every folder above one: an action on any of them is blocked too."""
        self._lock = threading.Lock()
        """Guards the report and the lists the transfer threads add to; never held across I/O. Only
        the thread that runs the plan uses the state database."""
        self._released: list[tuple[str, str]] = []
        """Temp files gone (moved over their target or deleted) whose records await `_commit`."""
        self._debug = logging.getLogger("pansync.execute").isEnabledFor(logging.DEBUG)

    # -- driver -------------------------------------------------------------------------------------

    def run(self, plan: Plan) -> ExecReport:
        for conflict in plan.conflicts:
            self.state.add_conflict(conflict.key, conflict.copy_key, conflict.reason)
            log.warning("conflict", path=conflict.key, copy=conflict.copy_key, reason=conflict.reason)
        for phase in plan.by_phase():
            transfers = [a for a in phase if isinstance(a, Upload | Download)]
            for action in phase:
                if not isinstance(action, Upload | Download):
                    self._run_one(action)
            if transfers:
                self._run_transfers(transfers)
        self._commit([])
        report = self.report
        log.info(
            "executed",
            actions=len(plan.actions),
            done=report.done,
            failed=len(report.failed),
            uploaded_bytes=report.uploaded_bytes,
            downloaded_bytes=report.downloaded_bytes,
        )
        return report

    def _blocked(self, action: Action) -> bool:
        """Whether the action's path is, or lies above or below, a path that failed in this run."""
        if not self._failed_keys:
            return False
        keys = [action.key]
        if isinstance(action, LocalRename | RemoteRename | RemoteMove | LocalMove):
            keys.append(action.new_key)
        return any(key in self._failed_above or covered(key, self._failed_keys) for key in keys)

    def _done(self, action: Action) -> None:
        self.report.done += 1
        if not isinstance(action, _ROUTINE):
            log.info("done", action=describe(action))
        elif self._debug:
            log.debug("done", action=describe(action))

    def _fail(self, action: Action, exc: BaseException) -> None:
        if isinstance(exc, ItemError):
            error = exc
        elif isinstance(exc, PanSyncError):
            error = ItemError(action.key, exc.message)
        elif isinstance(exc, OSError):
            error = ItemError(action.key, _os_message(exc))
        else:
            raise exc
        with self._lock:
            self._failed_keys.add(action.key)
            self._failed_above.update([action.key, *ancestors(action.key)])
            self.report.failed.append(error)
        log.warning("action failed", action=describe(action), error=error.message)

    def _run_one(self, action: Action) -> None:
        if self._blocked(action):
            return
        self.heartbeat()
        try:
            self._apply(action)
        except AuthError:
            raise
        except (ItemError, RemoteError, OSError) as exc:
            self._fail(action, exc)
        else:
            self._done(action)

    def _run_transfers(self, actions: Sequence[Upload | Download]) -> None:
        """Run transfers in parallel; record each once it is done and durable, and keep the lease
        alive even while every worker is busy with one long transfer.

        Uploads are recorded only after a `Remote.flush` that began after they returned: one barrier
        for all the uploads of half a second, run beside the copying, instead of a wait for the disk
        per file. A crash before the record leaves the same bytes on both sides with no record,
        which the next sync records; never a record of bytes the remote may not hold."""
        pending = iter(actions)
        ready: list[tuple[Upload | Download, str]] = []
        window = self.concurrency * TRANSFER_WINDOW
        unflushed: list[_Done] = []
        flushing: tuple[Future[None], list[_Done]] | None = None
        last_flush = time.monotonic()
        with (
            ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="transfer") as pool,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="flush") as flusher,
        ):
            running: dict[Future[list[SyncedEntry | Exception]], _Task] = {}
            completions: Completions[Future[Any]] = Completions()

            def submit_more() -> None:
                """Keep a few tasks queued per worker, not all 100,000 of a first sync: temp files
                are registered only for tasks about to run, and an interrupt cancels few."""
                while len(running) < window:
                    if not ready:
                        ready.extend(self._register_temps(pending))
                        if not ready:
                            return
                        ready.reverse()
                    task = [ready.pop()]
                    while _small(task[-1][0]) and ready and _small(ready[-1][0]) and len(task) < SMALL_BATCH:
                        task.append(ready.pop())
                    running[completions.watch(pool.submit(self._transfer_all, task))] = task

            submit_more()
            try:
                while running or flushing or unflushed:
                    due = not running or time.monotonic() - last_flush >= FLUSH_EVERY_S
                    if flushing is None and unflushed and due:
                        flushing = (completions.watch(flusher.submit(self.remote.flush)), unflushed)
                        unflushed, last_flush = [], time.monotonic()
                    finished = completions.next(timeout=HEARTBEAT_S)
                    self.heartbeat()
                    records: list[_Done] = []
                    for future in finished:
                        if flushing is not None and future is flushing[0]:
                            records.extend(self._flushed(*flushing))
                            flushing = None
                            continue
                        task = running.pop(future)
                        for (action, _), outcome in zip(task, future.result(), strict=True):
                            if isinstance(outcome, Exception):
                                self._fail(action, outcome)
                            elif isinstance(action, Upload):
                                unflushed.append((action, outcome))  # recorded after the next flush
                            else:
                                records.append((action, outcome))
                    self._commit(records)
                    submit_more()
            except BaseException:
                for future in running:
                    future.cancel()
                raise

    def _flushed(self, flush: Future[None], uploads: list[_Done]) -> list[_Done]:
        """The uploads a finished flush made durable: all of them, or none if it failed."""
        try:
            flush.result()
        except (OSError, RemoteError) as exc:
            why = exc.message if isinstance(exc, RemoteError) else _os_message(exc)
            for action, _ in uploads:
                self._fail(action, ItemError(action.key, f"uploaded, not recorded ({why}); will look again"))
            return []
        return uploads

    def _commit(self, records: Sequence[_Done]) -> None:
        """Record finished transfers and forget their temp files in one transaction: one commit
        for all the transfers a wait returned, instead of two per file. A crash before it loses
        nothing: both sides then hold the same bytes with no record, which the next sync records."""
        with self._lock:
            released, self._released = self._released, []
        if records or released:
            with self.state.transaction():
                self.state.remove_temps(released)
                self.state.put_many((action.key, entry) for action, entry in records)
        for action, _ in records:
            self._done(action)

    def _register_temps(self, pending: Iterator[Upload | Download]) -> list[tuple[Upload | Download, str]]:
        """Name the temp files of the next transfers and write them down in one transaction, before
        any of them exists: a crash never leaves litter for good, and the transfer threads never
        wait on the state database (one commit per file made them queue behind each other)."""
        chunk: list[tuple[Upload | Download, str]] = []
        for action in pending:
            if self._blocked(action):
                continue
            try:
                chunk.append((action, self._temp_path(action)))
            except ItemError as exc:
                self._fail(action, exc)
            if len(chunk) >= REGISTER_CHUNK:
                break
        if chunk:
            with self.state.transaction():
                for action, temp in chunk:
                    self.state.add_temp("remote" if isinstance(action, Upload) else "local", temp)
        return chunk

    def _temp_path(self, action: Upload | Download) -> str:
        """Where the transfer lands before it is moved over its target: a fresh name beside the
        target in the cloud; for a download, a name fixed by the cloud version, so a retry resumes."""
        if isinstance(action, Upload):
            return _temp_name(self._upload_target(action))
        return str(self._download_target(action).parent / _resume_name(action.remote))

    def _upload_target(self, action: Upload) -> str:
        return action.replaces.name if action.replaces else self.remote.to_remote_name(action.key)

    def _download_target(self, action: Download) -> Path:
        return self.root / action.replaces.name if action.replaces else safe_local_path(self.root, action.key)

    def _transfer_all(self, task: _Task) -> list[SyncedEntry | Exception]:
        """The transfers of one task in turn: each one's record, or the error that stopped it (an
        `AuthError` stops the whole sync and is raised)."""
        outcomes: list[SyncedEntry | Exception] = []
        for action, temp in task:
            try:
                outcomes.append(self._transfer(action, temp))
            except AuthError:
                raise
            except (ItemError, OSError, RemoteError) as exc:
                outcomes.append(exc)
        return outcomes

    def _transfer(self, action: Upload | Download, temp: str) -> SyncedEntry:
        if isinstance(action, Upload):
            return self._upload(action, temp)
        with self._downloads:
            return self._download(action, Path(temp))

    # -- one action ---------------------------------------------------------------------------------

    def _apply(self, action: Action) -> None:
        match action:
            case LocalRename(key=key, new_key=new_key, local=local):
                self._check_local(local)
                self._rename_local(local.name, new_key)
                crash_point("after-conflict-rename")
            case RemoteRename(new_key=new_key, remote=remote):
                self._check_remote(remote)
                self.remote.move(remote.name, self.remote.to_remote_name(new_key))
            case RemoteMove(key=key, new_key=new_key, remote=remote, local=local):
                self._check_remote(remote)
                dst = self.remote.to_remote_name(new_key)
                self.remote.move(remote.name, dst)
                self.state.rebase(key, new_key, local.name, dst)
            case LocalMove(key=key, new_key=new_key, local=local, remote=remote):
                self._check_local(local)
                self._rename_local(local.name, new_key)
                self.state.rebase(key, new_key, new_key, remote.name)
            case RemoteTrash(key=key, remote=remote):
                if remote.kind is Kind.FILE:
                    self._check_remote(remote)
                self.remote.move(remote.name, trash_path(self.batch, remote.name))
                crash_point("mid-trash-move")
                self.state.delete_tree(key)
            case LocalTrash(key=key, local=local):
                self._check_local_tree(key, local)
                location = self.local_trash.discard(self.root / local.name, key, self.batch)
                self.state.add_trash(key, location)
                self.state.delete_tree(key)
            case RemoteMkdir(key=key, local=local):
                created = self.remote.mkdir(self.remote.to_remote_name(key))
                self.state.put(key, synced_from(_local_entry(self.root, local.name, ""), created, ""))
            case LocalMkdir(key=key, remote=remote):
                path = safe_local_path(self.root, key)
                path.mkdir(parents=True, exist_ok=True)
                if remote.remote_id == "":
                    remote = self.remote.stat(remote.name) or remote
                self.state.put(key, synced_from(_local_entry(self.root, key, ""), remote, ""))
            case Record(key=key, local=local, remote=remote):
                if local.inode == 0:
                    local = _local_entry(self.root, local.name, local.md5)
                if remote.remote_id == "":
                    remote = self.remote.stat(remote.name) or remote
                self.state.put(key, synced_from(local, remote, local.md5))
            case Forget(key=key):
                self.state.delete_tree(key)
            case Upload() | Download():
                raise AssertionError("transfers run in parallel, through _run_transfers")
            case _:
                _never(action)

    def _release_temp(self, side: str, path: str) -> None:
        """A temp file is gone (moved over its target or deleted): forget it with the next `_commit`."""
        with self._lock:
            self._released.append((side, path))

    # -- checks -------------------------------------------------------------------------------------

    def _check_local(self, local: LocalEntry) -> None:
        try:
            st = os.lstat(f"{self._root}/{local.name}")  # a string: `pathlib` costs more than the call
        except FileNotFoundError as exc:
            raise ItemError(local.name, "vanished since the scan; will look again") from exc
        same = st.st_ino == local.inode and (
            stat.S_ISDIR(st.st_mode) or (st.st_size == local.size and st.st_mtime_ns == local.mtime_ns)
        )
        if local.inode and not same:
            raise ItemError(local.name, "changed since the scan; will sync it next time")

    def _check_local_tree(self, key: str, local: LocalEntry) -> None:
        """Before trashing a local folder: nothing in it may be new or changed since the scan."""
        self._check_local(local)
        if local.kind is Kind.FILE:
            return
        synced = {k: e for k, e in self.state.load_synced().items() if is_under(k, key)}
        known = {e.local_name: e for e in synced.values()}
        base = self.root / local.name
        for dirpath, dirnames, filenames in os.walk(base):
            for name in filenames + dirnames:
                full = Path(dirpath) / name
                rel = full.relative_to(self.root).as_posix()
                record = known.get(rel)
                if name.startswith(".pansync"):
                    continue
                if record is None:
                    raise ItemError(rel, "is new in a folder deleted in the cloud; the folder is kept")
                st = os.lstat(full)
                if record.kind is Kind.FILE and (
                    st.st_size != record.size or st.st_mtime_ns != record.local_mtime_ns
                ):
                    raise ItemError(rel, "changed in a folder deleted in the cloud; the folder is kept")

    def _check_remote(self, remote: RemoteEntry) -> None:
        now = self.remote.stat(remote.name)
        if now is None:
            raise ItemError(remote.name, "vanished from the cloud since the listing; will look again")
        if remote.kind is Kind.FILE and (
            now.remote_id != remote.remote_id or now.size != remote.size or now.mtime_ns != remote.mtime_ns
        ):
            raise ItemError(remote.name, "changed in the cloud since the listing; will sync it next time")

    def _rename_local(self, src_name: str, new_key: str) -> None:
        src = self.root / src_name
        dst = safe_local_path(self.root, new_key)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.exists() and not (src.exists() and os.path.samefile(src, dst)):
            raise ItemError(new_key, "cannot rename: something else already has this name")
        os.rename(src, dst)

    # -- transfers ----------------------------------------------------------------------------------

    def _upload(self, action: Upload, temp: str) -> SyncedEntry:
        """Upload beside the target under `temp` (written down beforehand by `_register_temps`)."""
        local, key = action.local, action.key
        source = self.root / local.name
        self._check_local(local)
        target = self._upload_target(action)
        self.sink.start(key, "up", local.size)
        uploaded = gone = False  # the temp's record is dropped only once the temp is surely not in the cloud
        try:

            def sent(n: int) -> None:
                self.sink.advance(key, n)
                if self._up_bucket is not None:
                    self._up_bucket.consume(n)

            result = self.remote.upload(source, temp, sent)
            uploaded = True
            crash_point("after-upload")
            self._check_local(local)
            if local.md5 and result.md5 != local.md5:  # no MD5: a first sync's file nothing compared
                raise ItemError(key, "changed during the upload; will upload it again when quiet")
            if action.replaces is not None:
                self._check_remote(action.replaces)
                if self.keep_replaced:
                    self.remote.copy(action.replaces.name, trash_path(self.batch, action.replaces.name))
            moved = self.remote.move(temp, target, overwrite=action.replaces is not None)
            gone = True
        except BaseException:
            with contextlib.suppress(Exception):
                self.remote.delete(temp)
                # After a failed upload the record stays even so: a request the server finishes
                # after the client gave up would leave the temp behind, for the next sync's
                # clean-up (under the lock) to remove.
                gone = uploaded
            raise
        finally:
            self.sink.finish(key)
            if gone:
                self._release_temp("remote", temp)
        with self._lock:
            self.report.uploaded_bytes += result.payload_bytes
        # `local` as `_check_local` found it after the upload, not a fresh stat: a change made since
        # must not be recorded beside the MD5 of the bytes sent before it
        checked = local if local.inode else _local_entry(self.root, local.name, local.md5)
        return synced_from(checked, moved, result.md5)

    def _download(self, action: Download, temp: Path) -> SyncedEntry:
        """Fetch into `temp` beside the target (written down beforehand by `_register_temps`),
        resuming what an interrupted try left there."""
        remote, key = action.remote, action.key
        dest = self._download_target(action)  # checked again, not reused: a parent may be a link by now
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.parent.is_dir() or dest.parent.is_symlink():
            raise ItemError(key, "the parent folder is not a folder")
        offset = _resumable_bytes(temp, remote.size)
        moved = [0]

        def progress(n: int) -> None:
            self.sink.advance(key, n)
            moved[0] += n
            if self._down_bucket is not None:
                self._down_bucket.consume(n)
            if offset + moved[0] >= remote.size // 2:
                crash_point("mid-download")

        keep_partial = True
        self.sink.start(key, "down", remote.size)
        try:
            self.remote.download(remote.name, temp, progress, offset=offset)
            md5 = md5_file(temp)
            if remote.md5 and md5 != remote.md5 and offset:
                temp.unlink()  # the resumed part did not fit: once more from the start
                self.remote.download(remote.name, temp, progress)
                md5 = md5_file(temp)
            if remote.md5 and md5 != remote.md5:
                keep_partial = False
                self._check_remote(remote)  # changed meanwhile? then say so
                raise ItemError(key, f"downloaded bytes do not match the expected MD5 ({remote.md5})")
            with open(temp, "rb+") as f:
                os.fsync(f.fileno())
            os.utime(temp, ns=(remote.mtime_ns, remote.mtime_ns))
            # What lands is recorded, not what a stat finds after it has landed: the user may
            # rename or save the file at once, and the next sync must see that as a change.
            landed = os.stat(temp)
            keep_partial = False
            if action.replaces is not None:
                self._check_local(action.replaces)
                os.replace(temp, dest)
            else:
                try:
                    rename_no_replace(temp, dest)  # never clobber a file created since the scan
                except FileExistsError as exc:
                    raise ItemError(
                        key, "a local file appeared with this name; will sync it next time"
                    ) from exc
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                keep_partial = False
                raise ItemError(key, "the local disk is full; the old file is kept, will retry") from exc
            raise
        finally:
            if not keep_partial:
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()
                self._release_temp("local", str(temp))
            self.sink.finish(key)
        with self._lock:
            self.report.downloaded_bytes += moved[0]
        return synced_from(_entry_of(dest.relative_to(self.root).as_posix(), landed, md5), remote, md5)


def _small(action: Upload | Download) -> bool:
    return isinstance(action, Upload) and action.local.size <= SMALL_FILE


def _never(value: NoReturn) -> NoReturn:
    raise AssertionError(f"unknown action {value!r}")


def _os_message(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"
