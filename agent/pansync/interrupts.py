"""Ctrl-C and SIGTERM as `KeyboardInterrupt`, never raised where it would leak.

Python raises a signal's exception at whatever line the main thread is running. Most of a sync can
take that: the action in flight finishes or is rolled back, and the lock is released on the way
out. A few steps cannot be cut in two: between writing the lock file and the `try` whose `finally`
deletes it, the lock would stay behind for its TTL; between forking a child and recording it, the
child would outlive the command; in the middle of a rollback, the transaction would stay open.

Such steps are functions marked `@shielded`. A signal that lands while one of them is on the stack
(itself or anything it calls) is only noted, and raised when the outermost one ends, or earlier at
a `checkpoint()` where it says nothing is half-done. A
second signal while one is owed raises at once: the user insists, and the step may be stuck on
the network. Code a shielded function calls that may wait for long (for another client's lock)
marks its waiting `@interruptible`: a signal landing there is raised there.

`install` makes SIGINT and SIGTERM go through here; the agent, which handles its signals itself,
calls `interrupt(frame)` where it would raise.
"""

from __future__ import annotations

import functools
import inspect
import signal
import sys
import threading
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any, ParamSpec, TypeVar, cast

__all__ = ["checkpoint", "install", "interrupt", "interruptible", "shielded"]

P = ParamSpec("P")
R = TypeVar("R")

_SHIELDED: set[CodeType] = set()
_INTERRUPTIBLE: set[CodeType] = set()
_owed = False
"""A signal landed in a shield and is owed as `KeyboardInterrupt`."""


def shielded(func: Callable[P, R]) -> Callable[P, R]:
    """Mark a step that must not be cut in two; it raises what it deferred when it ends, unless a
    shield further out is still running. A generator (a `contextmanager`) is a shield while it
    runs, not while it is suspended at its `yield` (the caller's block runs then, unshielded); it
    calls `checkpoint()` before it yields, to raise there what came while it was taking hold."""
    _SHIELDED.add(func.__code__)
    if func.__code__.co_flags & inspect.CO_GENERATOR:

        def steps(*args: P.args, **kwargs: P.kwargs) -> Any:
            try:
                return (yield from func(*args, **kwargs))  # type: ignore[misc]
            finally:
                _leave(sys._getframe(1))

        _SHIELDED.add(steps.__code__)
        return cast(Callable[P, R], functools.wraps(func)(steps))

    def step(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        finally:
            _leave(sys._getframe(1))

    _SHIELDED.add(step.__code__)
    return functools.wraps(func)(step)


def interruptible(func: Callable[P, R]) -> Callable[P, R]:
    """Mark a wait inside a shield that holds nothing yet: a signal landing there is raised there."""
    _INTERRUPTIBLE.add(func.__code__)
    return func


def _shielded_at(frame: FrameType | None) -> bool:
    """Whether the innermost marked frame from `frame` outward is a shield."""
    while frame is not None:
        if frame.f_code in _SHIELDED:
            return True
        if frame.f_code in _INTERRUPTIBLE:
            return False
        frame = frame.f_back
    return False


def interrupt(frame: FrameType | None) -> None:
    """What a signal does when it lands in `frame`: raise `KeyboardInterrupt`, or owe it."""
    global _owed
    if not _owed and _shielded_at(frame):
        _owed = True
        return
    _owed = False
    raise KeyboardInterrupt


def checkpoint() -> None:
    """Raise an interrupt a shield deferred: the caller says nothing of its own is half-done here.
    Called from a shield's callee (a shield further out), it stays owed, for that one to raise;
    called from an `@interruptible` wait, it is raised there."""
    if _owed:  # the check is the last line run when nothing is owed: no interrupt lands after it
        caller = sys._getframe(1)
        _leave(None if caller.f_code in _INTERRUPTIBLE else caller.f_back)


def _leave(outer: FrameType | None) -> None:
    """Raise what is owed, unless a shield further out is still running. Only on the main thread,
    where signals are handled: a shielded step that another thread runs (a watcher's work-queue
    write, say) must not take the main thread's interrupt as its own."""
    global _owed
    if _owed and threading.current_thread() is threading.main_thread() and not _shielded_at(outer):
        _owed = False
        raise KeyboardInterrupt


def _on_signal(signum: int, frame: FrameType | None) -> None:
    interrupt(frame)


def install() -> None:
    """SIGINT and SIGTERM (a service manager, `kill`) stop a command as Ctrl-C does."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)
