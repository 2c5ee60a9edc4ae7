"""Labelled points where a test can make PanSync die at once, as kill -9 or a power cut would.

`PANSYNC_CRASH_AT=after-upload` (or `after-upload:3` for the third time that point is reached;
several labels separated by commas) makes `crash_point("after-upload")` end the process with
`os._exit(CRASH_EXIT)`: no cleanup, no finally blocks, no lock release. A seam for tests only: with
the variable unset the check is a dictionary lookup.
"""

from __future__ import annotations

import os
import sys

__all__ = ["CRASH_EXIT", "LABELS", "crash_point"]

CRASH_EXIT = 137
"""The exit status of a crashed process (what a shell reports for SIGKILL)."""

LABELS = frozenset(
    {
        "after-upload",  # the file is in the cloud; the state and the index do not know yet
        "mid-download",  # part of the bytes are in the temp file
        "mid-index-write",  # the new index is encoded; the old one is still in place
        "holding-lock",  # the lock is taken; nothing else is done
        "after-conflict-rename",  # our version is renamed aside; its upload has not started
        "mid-trash-move",  # a cloud item is in the trash; the state still has it
    }
)


def _parse(spec: str) -> dict[str, int]:
    points: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        label, _, count = item.partition(":")
        if label not in LABELS:
            raise SystemExit(f"PANSYNC_CRASH_AT: unknown crash point {label!r}; known: {sorted(LABELS)}")
        points[label] = int(count or 1)
    return points


_armed = _parse(os.environ.get("PANSYNC_CRASH_AT", ""))


def crash_point(label: str) -> None:
    if not _armed or label not in _armed:
        return
    _armed[label] -= 1
    if _armed[label] <= 0:
        sys.stderr.write(f"pansync: crash point {label} reached; exiting as if killed\n")
        sys.stderr.flush()
        os._exit(CRASH_EXIT)
