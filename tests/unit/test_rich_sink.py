"""The terminal's progress display starts with the first transfer, not before: until then the
process has one thread, which is what lets a sync fork its remote listing (`pansync.forked`)."""

from __future__ import annotations

import io
import threading
import time

from rich.console import Console

from pansync.progress import RichSink


def test_the_display_thread_starts_with_the_first_transfer_and_ends_with_the_sink() -> None:
    before = threading.active_count()
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with RichSink(console) as sink:
        assert threading.active_count() == before  # scanning and listing happen here
        sink.start("照片/春节（全家福）.jpg", "up", 1024)
        assert threading.active_count() == before + 1
        sink.advance("照片/春节（全家福）.jpg", 1024)
        sink.finish("照片/春节（全家福）.jpg")
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)  # rich signals its refresh thread to end and does not wait for it
    assert threading.active_count() == before


def test_a_sink_that_never_transferred_stops_cleanly() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with RichSink(console):
        pass
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
