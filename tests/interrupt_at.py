"""A Ctrl-C at a chosen line: the main thread's N-th line of PanSync's own code calls
`interrupts.interrupt()`, as the signal handler would if the signal arrived right then (raised there,
or deferred where PanSync defers it), except where no signal can land (`_no_signal_here`). Lines
of other code are not counted: a signal can land there too, but what it does there is that
library's business; what PanSync does next is ours.
"""

from __future__ import annotations

import dis
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import CodeType, FrameType
from typing import Any

from pansync import interrupts

Line = tuple[str, int, str]
"""A line of code: the module's file name, the line number, the function's name."""
Tracer = Callable[[FrameType, str, Any], Any]


def _ours(frame: FrameType) -> bool:
    return str(frame.f_globals.get("__name__", "")).startswith("pansync")


@functools.cache
def _no_signal_here(code: CodeType) -> frozenset[int]:
    """Offsets where a line starts but no signal can land: CPython runs handlers after a call returns,
    at a function's start and on a loop's jump back, never before an exception handler's first
    instruction or before the `__exit__` call that ends a `with` block (three `None`s, then the
    call). A tracer sees a line there all the same; landing one would report leaks that cannot be."""
    ops = list(dis.get_instructions(code))
    skip = {op.offset for op in ops if op.opname == "PUSH_EXC_INFO"}
    for i in range(len(ops) - 3):
        nones = all(op.opname == "LOAD_CONST" and op.argval is None for op in ops[i : i + 3])
        if nones and ops[i + 3].opname in ("PRECALL", "CALL") and ops[i + 3].arg == 2:
            skip.add(ops[i].offset)
    return frozenset(skip)


@contextmanager
def _tracing(on_line: Callable[[FrameType], None]) -> Iterator[None]:
    def local(frame: FrameType, event: str, arg: Any) -> Tracer:
        if event == "line" and frame.f_lasti not in _no_signal_here(frame.f_code):
            on_line(frame)
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Tracer | None:
        return local if _ours(frame) else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        yield
    finally:
        sys.settrace(previous)


@contextmanager
def recording(lines: list[Line]) -> Iterator[None]:
    """Append each line PanSync's code runs on this thread, in order."""
    with _tracing(lambda frame: lines.append(_line(frame))):
        yield


def _line(frame: FrameType) -> Line:
    return os.path.basename(frame.f_code.co_filename), frame.f_lineno, frame.f_code.co_name


@contextmanager
def interrupt_at(n: int) -> Iterator[list[str]]:
    """Interrupt at the `n`-th line (from 0) PanSync's code runs on this thread; the list yielded
    gets that line as `module.py:line in function`, for messages."""
    seen = 0
    landed: list[str] = []

    def on_line(frame: FrameType) -> None:
        nonlocal seen
        if seen == n:
            module, number, function = _line(frame)
            landed.append(f"{module}:{number} in {function}")
            interrupts.interrupt(frame)
        seen += 1

    with _tracing(on_line):
        yield landed
