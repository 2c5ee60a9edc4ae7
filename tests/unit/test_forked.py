"""`pansync.forked`: parts come back in order, a failed child is never mistaken for a finished one,
and a child no longer wanted is stopped and reaped."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from pansync import forked

pytestmark = pytest.mark.skipif(not forked.can_fork(), reason="forks only on Linux, single-threaded")


def test_parts_come_back_in_order_with_their_values() -> None:
    def work() -> Iterator[tuple[str, list[int], dict[str, bytes]]]:
        for i in range(50):
            yield f"第{i}部分：文件、文件夹", list(range(i * 1000)), {"md5": bytes([i]) * 16}

    with forked.ahead(work) as child:
        assert child is not None
        parts = list(child.parts())

    assert [p[0] for p in parts] == [f"第{i}部分：文件、文件夹" for i in range(50)]
    assert parts[49][1] == list(range(49000))
    assert parts[7][2] == {"md5": b"\x07" * 16}


def test_a_child_slow_to_exit_after_sending_everything_is_not_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent sees the end of the pipe before the child has exited: it must wait, not kill."""
    real_send = forked._send

    def send_then_linger(fd: int, work: Callable[[], Iterable[Any]]) -> int:
        code = real_send(fd, work)
        time.sleep(0.3)  # the pipe is closed: the parent has every part and reaps now
        return code

    monkeypatch.setattr(forked, "_send", send_then_linger)
    with forked.ahead(lambda: iter(["一", "二"])) as child:
        assert child is not None
        assert list(child.parts()) == ["一", "二"]


def test_a_child_that_fails_midway_raises_after_its_parts() -> None:
    def work() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("the disk went away")

    with forked.ahead(work) as child:
        assert child is not None
        got = []
        with pytest.raises(forked.ChildFailed):
            for part in child.parts():
                got.append(part)
    assert got == [1, 2]


def test_a_child_that_sends_what_marshal_cannot_hold_fails() -> None:
    with forked.ahead(lambda: [object()]) as child:
        assert child is not None
        with pytest.raises(forked.ChildFailed):
            list(child.parts())


def test_a_child_no_longer_wanted_is_stopped_and_reaped() -> None:
    def forever() -> Iterator[int]:
        while True:
            yield 0

    with forked.ahead(forever) as child:
        assert child is not None
        pid = child.pid
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped already: no such child any more


def test_a_process_with_threads_does_not_fork() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with forked.ahead(lambda: [1]) as child:
            assert child is None
    finally:
        stop.set()
        thread.join()
