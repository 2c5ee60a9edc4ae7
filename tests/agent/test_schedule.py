"""The worker's decisions (when to sync, what to record) with a fake sync and a fake clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pansync.errors import ItemError, LockHeld, RootMissing
from pansync.session import FolderResult, SyncOptions
from pansync.transfer_sink import TransferSink
from pansync.units import parse_window
from pansync.worker import FolderRuntime, Job, Schedule, Worker
from pansync.workqueue import SOURCE_LOCAL, WorkQueue

TZ = dt.datetime.now().astimezone().tzinfo


def at(hour: int, minute: int = 0, day: int = 1) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=TZ)


# -- the pure schedule --------------------------------------------------------------------------------


def test_realtime_has_no_scheduled_runs() -> None:
    assert Schedule().next_run(None, at(12)) is None


def test_interval_runs_every_interval_and_at_once_when_overdue() -> None:
    s = Schedule("interval", 3600.0)
    assert s.next_run(None, at(12)) == at(12)
    assert s.next_run(at(12), at(12, 30)) == at(13)
    assert s.next_run(at(9), at(12, 30)) == at(12, 30)


def test_a_window_spanning_midnight() -> None:
    s = Schedule("interval", 3600.0, parse_window("22:00-06:00"))
    assert s.open_at(at(23)) == at(23)
    assert s.open_at(at(3)) == at(3)
    assert s.open_at(at(6)) == at(22)  # the end is outside
    assert s.open_at(at(12)) == at(22)
    assert s.next_run(at(5, 30), at(5, 45)) == at(22)  # 06:30 would be outside: wait for tonight


def test_a_window_within_one_day() -> None:
    s = Schedule("interval", 600.0, parse_window("01:00-06:00"))
    assert s.open_at(at(0, 59)) == at(1)
    assert s.open_at(at(7)) == at(1, day=2)
    assert s.next_run(at(1), at(1, 5)) == at(1, 10)


# -- the worker ---------------------------------------------------------------------------------------


class FakeRunner:
    def __init__(self) -> None:
        self.sink: TransferSink | None = None
        self.outcomes: list[FolderResult | Exception] = []
        self.runs = 0
        self.forced: list[bool] = []

    def run(self, options: SyncOptions | None = None) -> FolderResult:
        self.runs += 1
        self.forced.append(bool(options and options.force))
        if self.sink is not None:
            self.sink.start("big.bin", "up", 100)
            self.sink.advance("big.bin", 40)
            self.sink.finish("big.bin")
        outcome = self.outcomes.pop(0) if self.outcomes else FolderResult("main", converged=True)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


Rig = tuple["FakeRunner", WorkQueue, Job, "Clock"]


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(tmp_path: Path) -> Rig:
    runner = FakeRunner()
    queue = WorkQueue(tmp_path / "queue.sqlite3")
    job = Job("main", runner, queue, FolderRuntime("main"))
    return runner, queue, job, Clock(at(12).timestamp())


def test_realtime_syncs_when_work_is_due_and_settles_it(
    setup: Rig,
) -> None:
    runner, queue, job, clock = setup
    worker = Worker([job], Schedule(), clock=clock)
    assert not worker.run_once()  # nothing queued: idle
    queue.put(["a.txt"], SOURCE_LOCAL, clock.now)
    assert worker.run_once()
    assert runner.runs == 1 and queue.depth() == 0
    snap = job.runtime.snapshot()
    assert snap["state"] == "idle" and snap["last_sync"] == clock.now and snap["transfers"] == []


def test_failed_items_retry_later_and_show_as_the_last_error(
    setup: Rig,
) -> None:
    runner, queue, job, clock = setup
    worker = Worker([job], Schedule(), clock=clock)
    queue.put(["bad.txt"], SOURCE_LOCAL, clock.now)
    runner.outcomes.append(FolderResult("main", failed=[ItemError("bad.txt", "permission denied")]))
    assert worker.run_once()
    assert job.runtime.last_error == "1 paths failed; retried later"
    assert not worker.run_once()  # backing off
    clock.now += 5.0
    assert worker.run_once() and runner.runs == 2


def test_a_held_lock_is_retried_in_seconds_and_other_errors_back_off(
    setup: Rig,
) -> None:
    runner, queue, job, clock = setup
    worker = Worker([job], Schedule(), clock=clock)
    queue.put(["a"], SOURCE_LOCAL, clock.now)
    runner.outcomes += [LockHeld("held by bob"), RootMissing("unmounted"), RootMissing("unmounted")]
    assert worker.run_once()
    assert job.runtime.state == "idle" and "bob" in str(job.runtime.last_error) and queue.depth() == 1
    clock.now += 4.0
    assert worker.run_once()
    assert job.runtime.snapshot()["state"] == "error"
    clock.now += 9.0
    assert not worker.run_once()  # 10 s after the first folder error
    clock.now += 1.0
    assert worker.run_once()
    clock.now += 19.0
    assert not worker.run_once()  # then 20 s
    clock.now += 1.0
    assert worker.run_once() and queue.depth() == 0


def test_interval_mode_runs_on_schedule_even_with_nothing_queued(
    setup: Rig,
) -> None:
    runner, queue, job, clock = setup
    worker = Worker([job], Schedule("interval", 3600.0), clock=clock)
    assert worker.run_once() and runner.runs == 1  # never ran: run now
    queue.put(["a"], SOURCE_LOCAL, clock.now)
    assert not worker.run_once()  # local changes wait for the schedule
    assert job.runtime.snapshot()["next_run"] == clock.now + 3600.0
    clock.now += 3600.0
    assert worker.run_once() and queue.depth() == 0


def test_interval_mode_remembers_its_last_run_across_restarts(
    setup: Rig,
) -> None:
    runner, queue, job, clock = setup
    Worker([job], Schedule("interval", 3600.0), clock=clock).run_once()
    clock.now += 60
    again = Worker(
        [Job("main", runner, queue, FolderRuntime("main"))], Schedule("interval", 3600.0), clock=clock
    )
    assert not again.run_once()


def test_the_window_keeps_the_cloud_untouched_outside_it(
    setup: Rig,
) -> None:
    runner, queue, job, clock = setup
    worker = Worker([job], Schedule("realtime", window=parse_window("01:00-06:00")), clock=clock)
    queue.put(["a"], SOURCE_LOCAL, clock.now)
    assert not worker.run_once()
    assert job.runtime.snapshot()["next_run"] == at(1, day=2).timestamp()
    worker.sync_now()  # the user asked: once, whatever the window says
    assert worker.run_once() and runner.runs == 1
    clock.now = at(1, day=2).timestamp()
    queue.put(["b"], SOURCE_LOCAL, clock.now)
    assert worker.run_once() and runner.runs == 2


def test_pause_holds_work_until_resumed(setup: Rig) -> None:
    runner, queue, job, clock = setup
    worker = Worker([job], Schedule(), clock=clock)
    worker.set_paused(None, True)
    queue.put(["a"], SOURCE_LOCAL, clock.now)
    assert not worker.run_once()
    assert job.runtime.snapshot()["state"] == "paused"
    assert Worker([job], Schedule(), clock=clock).jobs["main"].runtime.paused  # kept across restarts
    worker.set_paused("main", False)
    assert worker.run_once() and runner.runs == 1
    with pytest.raises(KeyError):
        worker.set_paused("nope", True)


def test_an_unexpected_crash_in_a_sync_does_not_end_the_worker(
    setup: Rig,
) -> None:
    runner, queue, job, clock = setup
    worker = Worker([job], Schedule(), clock=clock)
    queue.put(["a"], SOURCE_LOCAL, clock.now)
    runner.outcomes.append(ValueError("a bug"))
    assert worker.run_once()
    assert job.runtime.last_error == "a bug" and job.runtime.finished == 1


def test_sync_now_with_force_forces_one_run_only(setup: Rig) -> None:
    runner, queue, job, clock = setup
    worker = Worker([job], Schedule(), clock=clock)
    worker.sync_now("main", force=True)
    assert worker.run_once()
    queue.put(["a"], SOURCE_LOCAL, clock.now)
    assert worker.run_once()
    assert runner.forced == [True, False]
