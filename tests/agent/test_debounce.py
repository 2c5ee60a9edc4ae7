"""The debouncer alone: an injected clock and an injected stat, so nothing here sleeps."""

from __future__ import annotations

from pansync.debounce import Debouncer, Fingerprint


class FakeDisk:
    """Fingerprints by path; a test changes them as a writer would."""

    def __init__(self) -> None:
        self.files: dict[str, Fingerprint] = {}
        self.looks = 0

    def stat(self, path: str) -> Fingerprint:
        self.looks += 1
        return self.files.get(path)

    def write(self, path: str, size: int, mtime: int) -> None:
        self.files[path] = (0, size, mtime)


def test_a_path_is_ready_only_after_its_quiet_time() -> None:
    disk = FakeDisk()
    d = Debouncer(2.0, disk.stat)
    disk.write("a.txt", 1, 1)
    d.touch("a.txt", 10.0)
    assert d.deadline() == 12.0
    assert d.due(11.9) == []
    assert d.due(12.0) == ["a.txt"]
    assert len(d) == 0 and d.deadline() is None


def test_a_burst_coalesces_into_one_change() -> None:
    disk = FakeDisk()
    d = Debouncer(2.0, disk.stat)
    for i in range(50):
        disk.write("big.bin", i * 100, i)
        d.touch("big.bin", 10.0 + i * 0.1)
    assert d.due(16.8) == []  # last event at 14.9: quiet until 16.9
    assert d.due(16.9) == ["big.bin"]


def test_a_file_changing_without_events_waits_for_two_equal_looks() -> None:
    disk = FakeDisk()
    d = Debouncer(1.0, disk.stat)
    disk.write("mmap.db", 10, 1)
    d.touch("mmap.db", 0.0)
    disk.write("mmap.db", 20, 2)  # grew, but no event came
    assert d.due(1.0) == []  # second look differs: another quiet period
    assert d.deadline() == 2.0
    assert d.due(2.0) == ["mmap.db"]


def test_editor_save_yields_the_target_once_and_the_vanished_temp() -> None:
    """vim/gedit: write `.a.txt.swp`-like temp, rename it over `a.txt`. The temp is absent at both
    looks; `watch` drops it because the synced tree does not know it (tested there)."""
    disk = FakeDisk()
    d = Debouncer(0.5, disk.stat)
    disk.write("a.txt~tmp", 5, 1)
    d.touch("a.txt~tmp", 0.0)  # created
    d.touch("a.txt~tmp", 0.01)  # modified
    del disk.files["a.txt~tmp"]
    disk.write("a.txt", 5, 1)
    d.touch("a.txt~tmp", 0.02)  # moved from
    d.touch("a.txt", 0.02)  # moved to
    assert sorted(d.due(1.0)) == ["a.txt", "a.txt~tmp"]


def test_a_path_that_never_settles_is_handed_over_after_max_wait() -> None:
    disk = FakeDisk()
    d = Debouncer(1.0, disk.stat, max_wait=10.0)
    t = 0.0
    handed: list[str] = []
    while t < 12.0 and not handed:
        disk.write("log.txt", int(t * 10), int(t * 10))
        d.touch("log.txt", t)
        handed = d.due(t)
        t += 0.5
    assert handed == ["log.txt"] and t == 10.5


def test_due_does_not_look_at_paths_still_in_their_quiet_time() -> None:
    disk = FakeDisk()
    d = Debouncer(1.0, disk.stat)
    for i in range(1000):
        d.touch(f"f{i}", i * 0.01)
    looks = disk.looks
    ready = d.due(1.05)  # f0..f5 settled
    assert ready == [f"f{i}" for i in range(6)]
    assert disk.looks - looks == 6


def test_forget_and_a_zero_delay() -> None:
    disk = FakeDisk()
    d = Debouncer(0.0, disk.stat)
    d.touch("x", 1.0)
    d.touch("y", 1.0)
    d.forget("x")
    assert "x" not in d and d.due(1.0) == ["y"]
