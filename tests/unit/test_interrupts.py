"""`interrupts`: where a Ctrl-C is raised, and where it waits; real signals, and `interrupt_at`
landing one at every line of the steps that must not be cut in two."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pansync import interrupts, sqlite_tx
from pansync.completions import Completions
from pansync.lock import LOCK_PATH, Lease
from pansync.remote.local import LocalRemote
from tests.interrupt_at import Line, interrupt_at, recording


@pytest.fixture
def handlers() -> Iterator[None]:
    """SIGINT and SIGTERM through `interrupts` for the test, pytest's own handlers after it."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    interrupts.install()
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def _signal_self(signum: int = signal.SIGINT) -> None:
    """Deliver a signal and give the main thread the moment it takes to run the handler."""
    os.kill(os.getpid(), signum)
    time.sleep(0.05)


work_done: list[str] = []


@interrupts.shielded
def _step(inner: Callable[[], None] | None = None) -> str:
    _signal_self()
    if inner is not None:
        inner()
    work_done.append("step")
    return "done"


@interrupts.shielded
def _outer() -> None:
    _step()
    work_done.append("outer")


@interrupts.interruptible
def _wait() -> None:
    interrupts.checkpoint()
    _signal_self()


@interrupts.shielded
def _shield_around_wait() -> None:
    _wait()
    work_done.append("after the wait")


def setup_function() -> None:
    work_done.clear()


def test_a_signal_outside_any_shield_is_raised_at_once(handlers: None) -> None:
    with pytest.raises(KeyboardInterrupt):
        _signal_self(signal.SIGTERM)


def test_a_shielded_step_finishes_then_raises(handlers: None) -> None:
    with pytest.raises(KeyboardInterrupt):
        _step()
    assert work_done == ["step"]


def test_nested_shields_raise_when_the_outermost_ends(handlers: None) -> None:
    with pytest.raises(KeyboardInterrupt):
        _outer()
    assert work_done == ["step", "outer"]


def test_a_second_signal_raises_at_once(handlers: None) -> None:
    with pytest.raises(KeyboardInterrupt):
        _step(inner=_signal_self)  # the first is owed; the second is the user insisting
    assert work_done == []
    interrupts.checkpoint()  # nothing is owed any more: this must not raise


def test_an_interruptible_wait_inside_a_shield_raises_there(handlers: None) -> None:
    with pytest.raises(KeyboardInterrupt):
        _shield_around_wait()
    assert work_done == []


def test_a_signal_owed_before_an_interruptible_wait_is_raised_by_it(handlers: None) -> None:
    @interrupts.shielded
    def take_then_wait() -> None:
        _signal_self()  # owed: a shield is on the stack
        work_done.append("took")
        _wait_only()

    with pytest.raises(KeyboardInterrupt):
        take_then_wait()
    assert work_done == ["took"]


@interrupts.interruptible
def _wait_only() -> None:
    interrupts.checkpoint()
    work_done.append("waited")


def test_a_shielded_step_on_another_thread_leaves_the_owed_interrupt_to_the_main_thread(
    handlers: None,
) -> None:
    """A watcher thread finishing its own shielded step (a work-queue write) while the main thread
    owes an interrupt must neither raise it nor clear it."""
    raised: list[BaseException] = []

    @interrupts.shielded
    def on_another_thread() -> None:
        work_done.append("other thread")

    def run_there() -> None:
        try:
            on_another_thread()
        except BaseException as exc:
            raised.append(exc)

    @interrupts.shielded
    def main_step() -> None:
        _signal_self()  # owed: this shield is on the stack
        other = threading.Thread(target=run_there)
        other.start()
        other.join()
        work_done.append("main")

    with pytest.raises(KeyboardInterrupt):
        main_step()
    assert raised == [] and work_done == ["other thread", "main"]


# -- every line of the steps themselves -------------------------------------------------------------


def _every_landing(run: Callable[[], None]) -> Iterator[tuple[int, str | None]]:
    """Run `run` once per line run of PanSync's code in it, with an interrupt at that run; yields
    the run's index and where it landed (None if `run` ended without raising)."""
    lines: list[Line] = []
    with recording(lines):
        run()
    for at in range(len(lines)):
        landed: list[str] = []
        try:
            with interrupt_at(at) as landed:
                run()
        except KeyboardInterrupt:
            yield at, (landed[0] if landed else "?")
        else:
            yield at, None


def test_no_transaction_is_left_open_whatever_line_an_interrupt_lands_on(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    db.execute("CREATE TABLE t (x)")

    def failing_write() -> None:
        try:
            with sqlite_tx.writing(db):
                db.execute("INSERT INTO t VALUES (1)")
                raise ValueError("the body fails: the rollback runs, and an interrupt may land in it")
        except ValueError:
            pass

    def good_write() -> None:
        with sqlite_tx.writing(db), sqlite_tx.reading(db):
            db.execute("INSERT INTO t VALUES (2)")

    for run in (failing_write, good_write):
        for _, where in _every_landing(run):
            assert not db.in_transaction, f"a transaction was left open by an interrupt at {where}"
    assert {x for (x,) in db.execute("SELECT x FROM t")} <= {2}, "a failed transaction was committed"


def test_a_lease_used_as_a_context_manager_is_given_back_wherever_release_is_interrupted(
    tmp_path: Path,
) -> None:
    remote = LocalRemote(tmp_path)

    def hold_and_give_back() -> None:
        lease = Lease.acquire(remote, client_id="c", client_name="c", ttl_s=30, settle_s=0)
        with lease:
            pass

    hold_and_give_back()  # the first makes the lock's folder and fence: the runs after it are alike
    lines: list[Line] = []
    with recording(lines):
        hold_and_give_back()
    # from the `with` block's end: the shield's own wrapper, `__exit__`, `release`, and what they call
    start = next(i for i, (module, _, function) in enumerate(lines) if function == "__exit__")
    while lines[start - 1][2] == "step":
        start -= 1
    giving_back = range(start, len(lines))
    assert giving_back
    for at in giving_back:
        with pytest.raises(KeyboardInterrupt), interrupt_at(at) as landed:
            hold_and_give_back()
        assert remote.read_meta(LOCK_PATH) is None, f"the lock was left by an interrupt at {landed}"


# -- completions ------------------------------------------------------------------------------------


def test_completions_come_in_the_order_futures_finish() -> None:
    gates = [threading.Event() for _ in range(3)]
    completions: Completions[Future[int]] = Completions()
    with ThreadPoolExecutor(3) as pool:
        futures = [completions.watch(pool.submit(lambda i=i: gates[i].wait(5) and i)) for i in range(3)]
        assert completions.next(timeout=0.05) == []
        gates[2].set()
        assert completions.next(timeout=5) == [futures[2]]
        gates[0].set()
        gates[1].set()
        finished: list[Future[int]] = []
        while len(finished) < 2:
            finished += completions.next(timeout=5)
    assert sorted(f.result() for f in finished) == [0, 1]


def test_a_future_done_before_it_is_watched_is_reported() -> None:
    done: Future[int] = Future()
    done.set_result(1)
    completions: Completions[Future[int]] = Completions()
    completions.watch(done)
    assert completions.next(timeout=0) == [done]


def test_an_interrupt_while_waiting_for_completions_leaves_the_pool_free_to_finish(handlers: None) -> None:
    """The hazard `Completions` avoids: after a Ctrl-C in the wait, the workers still finish and
    the pool's shutdown (which every `with` of a pool does) returns."""
    completions: Completions[Future[Any]] = Completions()
    pool = ThreadPoolExecutor(2)
    release = threading.Event()
    for _ in range(6):
        completions.watch(pool.submit(release.wait, 5))
    threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        while True:
            completions.next(timeout=1)
    release.set()
    closing = threading.Thread(target=pool.shutdown)
    closing.start()
    closing.join(10)
    assert not closing.is_alive(), "the pool's shutdown hung after the interrupt"
