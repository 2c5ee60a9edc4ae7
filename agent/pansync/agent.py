"""`agent`: the long-running PanSync: wires watcher, poller and worker for every folder, and runs them.

Threads, each blocked on something when there is nothing to do (idle is idle: no loop runs faster
than the configured intervals):

- main thread: the `worker` (one sync at a time, so signals reach a running sync);
- watchdog's observer thread(s), and one pump thread per folder (`watch.FolderWatch`);
- one poller thread per folder in `realtime` mode (`poll.RemotePoller`); none in `interval` mode,
  where the cloud is touched only at scheduled runs;
- the control socket's accept thread and one thread per connection (`daemon.ControlServer`).

At start every folder gets a "startup scan" row in its queue: the first sync catches whatever
changed while the agent was down, and rows a killed agent left behind are resumed. A lock that this
very client left on the remote when it was killed (same client id and host, its pid gone) is
removed at once rather than waited out, as long as it is young enough that nobody else could be
taking it over.

Stopping (SIGTERM, SIGINT, `pansync stop`): the worker stops taking batches; a sync in progress is
interrupted as Ctrl-C interrupts `pansync sync` (transfers in flight finish, `FolderSync.run`
releases the lock), and what it did not do stays queued for the next start.

After each sync the memory it borrowed (the trees of a large folder) is handed back to the OS, so
an idle agent stays small.

Limit: wiring and lifecycle. The configuration is read once; restart the agent after editing it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from types import FrameType
from typing import Any

from msgspec import Struct

from pansync import interrupts
from pansync.config import Config, FolderConfig
from pansync.daemon import ControlServer, Send, socket_path
from pansync.errors import PanSyncError
from pansync.ignore import IgnoreRules
from pansync.lock import force_unlock, read_lock
from pansync.log import get_logger
from pansync.model import SyncedEntry
from pansync.paths import Locations
from pansync.pidfile import PidFile, pid_path
from pansync.poll import RemotePoller
from pansync.remote.base import Remote
from pansync.remote.factory import open_remote
from pansync.session import FolderSync, folder_state_path
from pansync.state import StateStore
from pansync.watch import FolderWatch, SyncedLookup, Watcher, local_drift
from pansync.worker import MAX_NAP_S, FolderRuntime, Job, Schedule, Worker
from pansync.workqueue import SOURCE_LOCAL, SOURCE_REMOTE, SOURCE_SCAN, WorkQueue, queue_path

__all__ = ["Agent", "AgentAlreadyRunning"]

log = get_logger(__name__)

RemoteFactory = Callable[[FolderConfig], Remote]


class AgentAlreadyRunning(PanSyncError):
    title = "Agent already running"


class _Folder(Struct):
    """Everything the agent keeps for one folder."""

    config: FolderConfig
    runner: FolderSync
    job: Job
    watch: FolderWatch
    poller: RemotePoller
    reader: StateStore
    """A connection of the poller's own to the state database (the worker's is busy syncing)."""


def _release_memory() -> None:
    """Give back to the OS what a sync borrowed: its trees of a 100,000-file folder peak at a few
    hundred MiB, and glibc keeps freed memory in the process unless asked to return it."""
    gc.collect()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def _exclusions(reader: StateStore) -> list[str]:
    return list(reader.exclusions())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Agent:
    """Build with the loaded configuration; `run()` blocks until stopped and returns an exit status."""

    def __init__(
        self,
        config: Config,
        locs: Locations,
        *,
        verbose: int = 0,
        remote_factory: RemoteFactory | None = None,
        announce: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.config = config
        self.locs = locs
        self.verbose = verbose
        self._announce = announce
        self._remote_factory = remote_factory or (lambda folder: open_remote(folder.remote, config, locs))
        self.schedule = Schedule.from_config(config.sync)
        self.started_at = time.time()
        self._stop = threading.Event()
        self._interrupted = False
        self._threads: list[threading.Thread] = []
        self.folders: dict[str, _Folder] = {}
        self.watcher = Watcher()
        self.worker: Worker | None = None
        self._pidfile = PidFile(pid_path(locs))
        self._control = ControlServer(socket_path(locs), self._handle)

    # -- lifecycle ----------------------------------------------------------------------------------

    def run(self) -> int:
        held_by = self._pidfile.acquire()
        if held_by is not None:
            raise AgentAlreadyRunning(f"an agent is already running for this PanSync home, pid {held_by}")
        try:
            self._build()
            self._control.start()
            self._start_threads()
            self._install_signals()
            log.info("agent started", pid=os.getpid(), folders=list(self.folders), mode=self.schedule.mode)
            names = ", ".join(f"{n} ({f.config.local})" for n, f in self.folders.items())
            self._announce(f"PanSync agent running, pid {os.getpid()}: {names}. Ctrl-C stops it.")
            assert self.worker is not None
            try:
                self.worker.run()
            except KeyboardInterrupt:
                log.warning("stopped during a sync; the rest stays queued for the next start")
            return 0
        finally:
            self._shutdown()

    def _build(self) -> None:
        sync = self.config.sync
        jobs = []
        for folder in self.config.folders:
            remote = self._remote_factory(folder)
            runner = FolderSync(self.config, folder, self.locs, remote)
            if not runner.state.has_synced():
                folder.local.mkdir(parents=True, exist_ok=True)  # a first sync makes it; watch it now
            self._clear_own_dead_lock(remote, runner.client_id)
            queue = WorkQueue(queue_path(self.locs.state_dir, folder.name))
            job = Job(folder.name, runner, queue, FolderRuntime(folder.name))
            reader = StateStore(folder_state_path(self.locs, folder.name))
            watch = FolderWatch(
                folder.name,
                folder.local,
                delay=sync.debounce,
                put=functools.partial(self._queue, job, source=SOURCE_LOCAL),
                lookup=SyncedLookup(folder_state_path(self.locs, folder.name)),
                exclude=folder.exclude,
                rescan=functools.partial(self._rescan, job),
                verbose=self.verbose,
            )
            poller = RemotePoller(
                self._remote_factory(folder),
                client_id=runner.client_id,
                poll_interval=sync.poll_interval,
                full_scan_interval=sync.full_scan_interval,
                synced=reader.load_synced,
                ignore=functools.partial(IgnoreRules.for_root, folder.local, folder.exclude),
                excluded=functools.partial(_exclusions, reader),
                extra_full_checks=[self._local_check(folder, watch, reader)],
                now=time.monotonic(),
            )
            job.after_sync = functools.partial(self._after_sync, poller)
            self.folders[folder.name] = _Folder(folder, runner, job, watch, poller, reader)
            jobs.append(job)
            self._queue(job, ["startup"], SOURCE_SCAN)
        self.worker = Worker(jobs, self.schedule)

    def _local_check(
        self, folder: FolderConfig, watch: FolderWatch, reader: StateStore
    ) -> Callable[[Mapping[str, SyncedEntry]], str | None]:
        def check(synced: Mapping[str, SyncedEntry]) -> str | None:
            self.watcher.recheck(watch, self.config.sync.poll_interval)
            self.folders[folder.name].job.runtime.update(
                watch_mode=self.watcher.modes.get(folder.name, "off")
            )
            ignore = IgnoreRules.for_root(folder.local, folder.exclude)
            return local_drift(folder.local, synced, ignore, _exclusions(reader))

        return check

    def _start_threads(self) -> None:
        for name, f in self.folders.items():
            mode = self.watcher.add(f.watch, self.config.sync.poll_interval)
            f.job.runtime.update(watch_mode=mode)
            self._spawn(f"pump-{name}", functools.partial(f.watch.run, self._stop))
            if self.schedule.mode == "realtime":
                self._spawn(f"poll-{name}", functools.partial(self._poll_loop, f))

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _install_signals(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Stop taking work; interrupt a running sync once, as Ctrl-C interrupts `pansync sync`."""
        log.info("stopping", signal=signal.Signals(signum).name)
        self.stop()
        if self.worker is not None and self.worker.in_sync and not self._interrupted:
            self._interrupted = True
            interrupts.interrupt(frame)  # now, or where it leaks nothing (`interrupts.shielded`)

    def stop(self) -> None:
        self._stop.set()
        if self.worker is not None:
            self.worker.stop()
        for f in self.folders.values():
            f.watch.wake()
            f.job.runtime.update()

    def _shutdown(self) -> None:
        self.stop()
        with contextlib.suppress(Exception):
            self.watcher.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self._control.close()
        for f in self.folders.values():
            for close in (f.runner.close, f.job.queue.close, f.reader.close):
                with contextlib.suppress(Exception):
                    close()
        self._pidfile.release()
        log.info("agent stopped")

    # -- feeding the queue --------------------------------------------------------------------------

    @staticmethod
    def _after_sync(poller: RemotePoller) -> None:
        poller.note_synced()
        _release_memory()

    def _rescan(self, job: Job, why: str) -> None:
        self._queue(job, [why], SOURCE_SCAN)

    def _queue(self, job: Job, keys: list[str], source: str) -> None:
        job.queue.put(keys, source, time.time())
        level = "info" if self.verbose or source != SOURCE_LOCAL else "debug"
        getattr(log, level)("queued", folder=job.name, source=source, count=len(keys), paths=keys[:5])
        if self.worker is not None:
            self.worker.wake()

    def _poll_loop(self, f: _Folder) -> None:
        """The folder's poller thread: sleeps until a check is due, inside the window, between syncs."""
        rt = f.job.runtime
        while not self._stop.is_set():
            now = datetime.now().astimezone()
            opens = self.schedule.open_at(now)
            if opens > now:  # outside the window the cloud is left alone
                self._stop.wait(min(MAX_NAP_S, (opens - now).total_seconds()))
                continue
            delay = f.poller.next_due() - time.monotonic()
            if delay > 0:
                self._stop.wait(min(MAX_NAP_S, delay))
                continue
            with rt.lock:  # a check during our own sync would see our own writes as news
                while rt.state in ("scanning", "syncing") and not self._stop.is_set():
                    rt.lock.wait(MAX_NAP_S)  # notified when the sync ends (and on stop)
            if self._stop.is_set():
                break
            try:
                reason = f.poller.poll(time.monotonic())
            except Exception:
                log.exception("remote check crashed", folder=f.config.name)
                self._stop.wait(f.poller.poll_interval)
                continue
            if reason:
                self._queue(f.job, [""], SOURCE_REMOTE)

    def _clear_own_dead_lock(self, remote: Remote, client_id: str) -> None:
        """A lock this client left when it was killed: remove it now instead of waiting for its TTL."""
        try:
            info = read_lock(remote) if remote.exists() else None
        except (PanSyncError, OSError):
            return
        record = info.record if info else None
        if info is None or record is None or record.client_id != client_id:
            return
        if record.host != socket.gethostname() or _pid_alive(record.pid) or record.pid == os.getpid():
            return
        if info.age_s > self.config.lock.ttl / 2:
            return  # others may be taking it over as stale right now; let the lease expire instead
        with contextlib.suppress(PanSyncError, OSError):
            force_unlock(remote)
            log.warning("removed the lock left by this client's previous run", pid=record.pid)

    # -- the control socket -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        folders = {}
        for name, f in self.folders.items():
            snap = f.job.runtime.snapshot()
            snap["queue"] = f.job.queue.depth()
            snap["failures"] = [
                {"path": i.key, "attempts": i.attempts, "permanent": i.failed, "error": i.last_error}
                for i in f.job.queue.failures(20)
            ]
            problem = self.watcher.problems.get(name)
            if problem:
                snap["watch_problem"] = problem
            folders[name] = snap
        return {
            "running": True,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "uptime": time.time() - self.started_at,
            "mode": self.schedule.mode,
            "folders": folders,
        }

    def _handle(self, request: dict[str, Any], send: Send) -> None:
        cmd = request.get("cmd")
        folder = request.get("folder")
        worker = self.worker
        if cmd == "ping":
            send({"ok": True, "pid": os.getpid()})
        elif cmd == "status":
            send({"ok": True, **self.status()})
        elif cmd == "stop":
            send({"ok": True, "pid": os.getpid()})
            os.kill(os.getpid(), signal.SIGTERM)  # the main thread's handler does the rest
        elif worker is None:
            send({"ok": False, "error": "the agent is starting"})
        elif cmd in ("pause", "resume", "sync-now"):
            try:
                marks = {n: j.runtime.started for n, j in worker.jobs.items()}
                if cmd == "sync-now":
                    jobs = worker.sync_now(folder, force=bool(request.get("force")))
                else:
                    jobs = worker.set_paused(folder, cmd == "pause")
            except KeyError:
                send({"ok": False, "error": f"no folder named {folder!r} in this agent"})
                return
            send({"ok": True, "event": "accepted", "folders": [j.name for j in jobs]})
            if cmd == "sync-now" and request.get("wait"):
                for job in jobs:
                    self._stream_until_synced(job, marks[job.name], send)
        else:
            send({"ok": False, "error": f"unknown command {cmd!r}"})

    def _stream_until_synced(self, job: Job, mark: int, send: Send) -> None:
        """Progress lines until a sync of `job` that started after the request has finished."""
        rt = job.runtime
        while True:
            with rt.lock:
                done = rt.finished > mark
                if not done and not self._stop.is_set():
                    rt.lock.wait(0.5)
                    done = rt.finished > mark
            snap = rt.snapshot()
            if done:
                send({"event": "done", "folder": job.name, **rt.last_outcome})
                return
            if self._stop.is_set():
                send({"event": "done", "folder": job.name, "ok": False, "error": "the agent is stopping"})
                return
            send({"event": "progress", "folder": job.name, **snap})
