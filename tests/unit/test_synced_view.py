"""`SyncedView`: one sync's copy of the synced tree stays equal to the database after any writes,
and remembers what every changed key held when the sync began (an index delta's "before")."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pansync import synced_view
from pansync.model import Kind, SyncedEntry
from pansync.state import StateStore
from pansync.synced_view import SyncedView

KEYS = [
    "文档",
    "文档/报告.txt",
    "文档/草稿",
    "文档/草稿/一.md",
    "文档/草稿/二.md",
    "照片",
    "照片/1.jpg",
    "a.txt",
]


def record(key: str, version: int) -> SyncedEntry:
    kind = Kind.DIR if "." not in key.rsplit("/", 1)[-1] else Kind.FILE
    md5 = "" if kind is Kind.DIR else f"{version:032x}"
    return SyncedEntry(kind, version, md5, key, version, version, key, str(version), version)


writes = st.lists(
    st.tuples(st.sampled_from(["put", "delete"]), st.sampled_from(KEYS), st.integers(1, 9)), max_size=6
)


@given(st.lists(st.sampled_from(KEYS), unique=True), st.lists(writes, max_size=3), st.integers(1, 4))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_the_view_follows_the_database_and_keeps_the_first_records(
    initial: list[str], rounds: list[list[tuple[str, str, int]]], patch_max: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = StateStore(Path(tmp) / "state.sqlite3")
        try:
            state.put_many((key, record(key, 0)) for key in initial)
            view = SyncedView(state)
            view.begin()
            start = view.whole()
            assert start == state.load_synced()
            at_start = dict(start)
            reread = False
            old_max = synced_view.PATCH_MAX
            synced_view.PATCH_MAX = patch_max
            try:
                for steps in rounds:
                    for op, key, version in steps:
                        if op == "put":
                            state.put(key, record(key, version))
                        else:
                            state.delete_tree(key)
                    reread |= len(state.touched) > patch_max
                    assert view.whole() == state.load_synced()
            finally:
                synced_view.PATCH_MAX = old_max
            now = state.load_synced()
            if reread:
                assert view.before is None  # a second whole read forgot the first records
                return
            before = view.before
            assert before is not None
            assert {k for k in at_start.keys() | now.keys() if at_start.get(k) != now.get(k)} <= view.changed
            for key in view.changed:
                assert before[key] == at_start.get(key)
        finally:
            state.close()
