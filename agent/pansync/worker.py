"""`worker`: the single sync worker: take a batch, sync the folder, record the outcome.

One worker serves every folder, one sync at a time (DESIGN.md §1), on the agent's main thread so
that Ctrl-C and SIGTERM reach a running sync the way they reach `pansync sync`: the transfers in
flight finish, the rest is left for the next run, and `FolderSync.run` releases the lock on the way
out. Each run is a complete `FolderSync.run` (scan both sides, plan, execute, commit, under the
distributed lock), so a batch is simply "everything queued so far"; the queue records which rows
the run settled and which paths failed (they retry with backoff, see `workqueue`).

When a folder may sync is the `Schedule`'s business, a pure function of the configuration
(`sync.mode`, `sync.interval`, `sync.window`) and the clock: in `realtime` mode as soon as work is
due, in `interval` mode every `interval` whether or not work is queued (the cloud is not polled
then), and in either mode only inside the daily `window`. `sync-now` overrides the schedule and a
pause, once. Limit: decides when, and keeps score; the sync itself is `session`'s.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from msgspec import Struct, field

from pansync.config import SyncConfig
from pansync.errors import LockHeld, PanSyncError
from pansync.log import get_logger
from pansync.session import SCOPE_MAX, FolderResult, SyncOptions
from pansync.transfer_sink import TransferSink
from pansync.units import TimeWindow
from pansync.workqueue import Batch, WorkQueue

__all__ = ["FolderRuntime", "Job", "Schedule", "StatusSink", "SyncRunner", "Worker"]

log = get_logger(__name__)

MAX_NAP_S = 300.0
"""Longest single wait: the wall clock may jump (suspend, NTP), so deadlines are looked at again."""
ERROR_BACKOFF_S = (10.0, 600.0)
"""A folder that failed as a whole waits 10 s, doubling up to 10 min, before it is tried again."""
LOCK_RETRY_S = (1.0, 4.0)
"""Another client holds the lock: try again after a few seconds (jittered, so two agents interleave)."""


# -- when ------------------------------------------------------------------------------------------


class Schedule(Struct, frozen=True):
    """When a folder may touch the cloud. Pure: every answer depends only on the arguments."""

    mode: str = "realtime"
    interval: float = 3600.0
    window: TimeWindow | None = None

    @classmethod
    def from_config(cls, sync: SyncConfig) -> Schedule:
        return cls(sync.mode, sync.interval, sync.window)

    def open_at(self, moment: datetime) -> datetime:
        """The first moment at or after `moment` inside the window (`moment` itself without one)."""
        window = self.window
        if window is None or window.contains(moment.time()):
            return moment
        start = moment.replace(hour=window.start.hour, minute=window.start.minute, second=0, microsecond=0)
        return start if start > moment else start + timedelta(days=1)

    def next_run(self, last_run: datetime | None, now: datetime) -> datetime | None:
        """Interval mode: when the next scheduled run starts (never before `now`); realtime: None."""
        if self.mode != "interval":
            return None
        due = now if last_run is None else max(now, last_run + timedelta(seconds=self.interval))
        return self.open_at(due)


# -- what the control socket shows ------------------------------------------------------------------


class Transfer(Struct):
    direction: str
    size: int
    done: int = 0


class FolderRuntime(Struct):
    """A folder's live state, read by `status` from other threads (guarded by `lock`)."""

    name: str
    state: str = "idle"
    """idle, scanning, syncing, paused or error."""
    paused: bool = False
    last_sync: float | None = None
    last_error: str | None = None
    next_run: float | None = None
    started: int = 0
    finished: int = 0
    last_outcome: dict[str, Any] = field(default_factory=dict)
    transfers: dict[str, Transfer] = field(default_factory=dict)
    watch_mode: str = "realtime"
    forced: bool = False
    """The current (or last) run may exceed the mass-delete guard."""
    lock: threading.Condition = field(default_factory=threading.Condition)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            busy = self.state in ("scanning", "syncing")
            return {
                "state": "paused" if self.paused and not busy else self.state,
                "paused": self.paused,
                "last_sync": self.last_sync,
                "last_error": self.last_error,
                "next_run": self.next_run,
                "runs": self.finished,
                "last_outcome": dict(self.last_outcome),
                "watch": self.watch_mode,
                "transfers": [
                    {"path": key, "direction": t.direction, "size": t.size, "done": t.done}
                    for key, t in self.transfers.items()
                ],
            }

    def update(self, **changes: Any) -> None:
        with self.lock:
            for name, value in changes.items():
                setattr(self, name, value)
            self.lock.notify_all()


class StatusSink(TransferSink):
    """Transfer progress into the folder's runtime, for `status` and for `pansync sync` via the agent."""

    def __init__(self, runtime: FolderRuntime) -> None:
        self.runtime = runtime

    def start(self, key: str, direction: str, size: int) -> None:
        with self.runtime.lock:
            self.runtime.transfers[key] = Transfer(direction, size)
            self.runtime.state = "syncing"
            self.runtime.lock.notify_all()

    def advance(self, key: str, nbytes: int) -> None:
        with self.runtime.lock:
            transfer = self.runtime.transfers.get(key)
            if transfer is not None:
                transfer.done += nbytes

    def finish(self, key: str) -> None:
        with self.runtime.lock:
            self.runtime.transfers.pop(key, None)
            self.runtime.lock.notify_all()


# -- who -------------------------------------------------------------------------------------------


class SyncRunner(Protocol):
    """What the worker needs of `session.FolderSync` (tests pass fakes)."""

    sink: TransferSink | None

    def run(self, options: SyncOptions = ...) -> FolderResult: ...


class Job(Struct):
    """One folder as the worker sees it."""

    name: str
    runner: SyncRunner
    queue: WorkQueue
    runtime: FolderRuntime
    after_sync: Callable[[], None] = lambda: None
    sync_now: bool = False
    force_next: bool = False
    """The next run may exceed `sync.max_delete` (`pansync sync --force` handed to the agent)."""
    backoff_until: float = 0.0
    errors_in_row: int = 0
    last_run: float | None = None


class Worker:
    """Runs the folders' syncs one at a time, when their schedule and queue say so."""

    def __init__(
        self,
        jobs: Sequence[Job],
        schedule: Schedule,
        *,
        lock_wait_s: float = 15.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.jobs = {job.name: job for job in jobs}
        self.schedule = schedule
        self.lock_wait_s = lock_wait_s
        self._clock = clock
        self._rng = rng or random.Random()
        self._cond = threading.Condition()
        self._stopping = False
        self.in_sync = False
        """True while `FolderSync.run` is on the stack: the signal handler may interrupt it then."""
        for job in jobs:
            last = job.queue.get_meta("last_run")
            job.last_run = float(last) if last else None
            job.runtime.paused = job.queue.get_meta("paused") == "1"

    # -- the loop: take, sync, record ---------------------------------------------------------------

    def run(self) -> None:
        """Until `stop`: take the next folder that may sync, sync it, record the outcome."""
        while not self._stopping:
            self.run_once(wait=True)

    def run_once(self, *, wait: bool = False) -> bool:
        """One turn of the loop; False when no folder was ready (after waiting, if `wait`)."""
        job, batch = self._take(wait)
        if job is None or batch is None:
            return False
        outcome = self._sync(job, batch)
        self._record(job, batch, outcome)
        return True

    def _take(self, wait: bool) -> tuple[Job | None, Batch | None]:
        """The folder that may sync now and its batch; else (None, None), after blocking if `wait`
        until the earliest folder is ready or something changes."""
        with self._cond:
            now = self._clock()
            best, at = None, math.inf
            for job in self.jobs.values():
                ready = self._ready_at(job, now)
                if ready < at:
                    best, at = job, ready
            if best is None or at > now:
                if wait and not self._stopping:
                    self._cond.wait(None if at == math.inf else min(at - now, MAX_NAP_S))
                return None, None
            asked, best.sync_now = best.sync_now, False
            force, best.force_next = best.force_next, False
        best.runtime.update(forced=force)
        scope_max = 0 if asked or force else SCOPE_MAX  # a sync asked for by hand looks at everything
        batch = best.queue.take(now, scope_max=scope_max) or best.queue.covering_all()
        return best, batch

    def _sync(self, job: Job, batch: Batch) -> FolderResult | Exception:
        job.runtime.update(state="scanning", started=job.runtime.started + 1)
        log.info("batch", folder=job.name, queued=batch.due, paths=list(batch.sample))
        job.runner.sink = StatusSink(job.runtime)
        self.in_sync = True
        try:
            scope = frozenset(batch.scope) if batch.scope is not None else None
            options = SyncOptions(force=job.runtime.forced, lock_wait_s=self.lock_wait_s, scope=scope)
            return job.runner.run(options)
        except PanSyncError as exc:
            return exc
        except Exception as exc:  # a bug must not end the agent: report it, back off, go on
            log.exception("sync crashed", folder=job.name)
            return exc
        finally:
            self.in_sync = False

    def _record(self, job: Job, batch: Batch, outcome: FolderResult | Exception) -> None:
        now = self._clock()
        rt = job.runtime
        if isinstance(outcome, FolderResult):
            failed = {f.rel_path: f.message for f in outcome.failed}
            job.queue.complete(batch, failed, now)
            job.backoff_until, job.errors_in_row, job.last_run = 0.0, 0, now
            job.queue.set_meta("last_run", repr(now))
            job.after_sync()
            error = f"{len(failed)} paths failed; retried later" if failed else None
            summary: dict[str, Any] = {
                "ok": not failed,
                "actions": outcome.action_count,
                "conflicts": len(outcome.conflicts),
                "failed": len(failed),
                "skipped": len(outcome.issues),
                "scoped": outcome.scoped,
            }
            rt.update(state="idle", last_sync=now, last_error=error, last_outcome=summary, transfers={})
            log.info("synced", folder=job.name, **summary)
        else:
            message = str(outcome) or type(outcome).__name__
            if isinstance(outcome, LockHeld):
                job.backoff_until = now + self._rng.uniform(*LOCK_RETRY_S)
                state = "idle"
            else:
                job.errors_in_row += 1
                low, cap = ERROR_BACKOFF_S
                job.backoff_until = now + min(cap, low * 2 ** (job.errors_in_row - 1))
                state = "error"
                log.error("sync failed", folder=job.name, error=message)
            outcome_json = {"ok": False, "error": message}
            rt.update(state=state, last_error=message, last_outcome=outcome_json, transfers={})
        rt.update(finished=rt.finished + 1)

    def _ready_at(self, job: Job, now: float) -> float:
        """When `job` may next sync (wall seconds; inf: not until something changes)."""
        if job.sync_now:
            return now
        ready = math.inf
        if job.runtime.paused:
            pass
        elif self.schedule.mode == "interval":
            last = None if job.last_run is None else _local(job.last_run)
            planned = self.schedule.next_run(last, _local(now))
            ready = planned.timestamp() if planned is not None else now
        else:
            due = job.queue.next_due()
            ready = math.inf if due is None else due
        if ready != math.inf:
            ready = self.schedule.open_at(_local(max(ready, job.backoff_until))).timestamp()
        shown = ready if ready != math.inf and (ready > now or self.schedule.mode == "interval") else None
        job.runtime.update(next_run=shown)
        return ready

    # -- what the control socket asks -----------------------------------------------------------------

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def _select(self, folder: str | None) -> list[Job]:
        if folder is None:
            return list(self.jobs.values())
        if folder not in self.jobs:
            raise KeyError(folder)
        return [self.jobs[folder]]

    def sync_now(self, folder: str | None = None, *, force: bool = False) -> list[Job]:
        """Run these folders next, whatever the schedule, window, backoff or pause say.

        `force` lets that one run exceed the mass-delete guard, as `pansync sync --force` does.
        """
        jobs = self._select(folder)
        with self._cond:
            for job in jobs:
                job.sync_now = True
                job.force_next = job.force_next or force
            self._cond.notify_all()
        return jobs

    def set_paused(self, folder: str | None, paused: bool) -> list[Job]:
        """Pause or resume; kept across restarts (a paused agent stays paused until resumed)."""
        jobs = self._select(folder)
        with self._cond:
            for job in jobs:
                job.queue.set_meta("paused", "1" if paused else "0")
                job.runtime.update(paused=paused)
                if not paused:
                    job.backoff_until = 0.0
            self._cond.notify_all()
        return jobs


def _local(epoch: float) -> datetime:
    """Wall seconds as an aware local datetime: windows are in local time."""
    return datetime.fromtimestamp(epoch).astimezone()
