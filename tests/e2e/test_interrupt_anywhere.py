"""Ctrl-C at any line of a sync leaks nothing: the lock is given back, no temp file is left behind,
the state database is usable, and the next sync converges.

A signal lands wherever the main thread happens to be; a test that sends one at a random moment
hits the few lines where it would leak (between writing the lock file and handing the lease over)
once in thousands of runs. Here `interrupt_at` lands one at a chosen line instead: at the first run
of every line of the steps that take and give back resources (its first few runs) (the lock, the database's
transactions, the interrupts themselves, the transfers' completions, the index commit, the forked
listing, the local-folder remote's metadata writes), and at lines spread evenly over the rest. A
line tried by an earlier test here is not tried again. `PANSYNC_INTERRUPT_EVERY_LINE=1` tries the
first run of every line PanSync runs (about 1,500 in each test; some minutes).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pansync import remote_tree
from tests.e2e.harness import Client, snapshot
from tests.interrupt_at import Line, interrupt_at, recording

RESOURCE_MODULES = (
    "lock.py",
    "sqlite_tx.py",
    "interrupts.py",
    "completions.py",
    "index_store.py",
    "forked.py",
)
RESOURCE_FUNCTIONS = {
    ("local.py", name) for name in ("write_meta", "create_meta_exclusive", "_write_temp", "server_time_ns")
}
EVERY_LINE = os.environ.get("PANSYNC_INTERRUPT_EVERY_LINE") == "1"
slow_when_every_line = pytest.mark.timeout(7200 if EVERY_LINE else 300)
RUNS = 5
"""Runs of each resource line tried: the same step may take a resource more than once a sync (the
first metadata write is under the lock's shield, the index's is not)."""
SPREAD = 20
"""Lines tried beside the resources', evenly spaced over the whole sync."""
_TRIED: set[tuple[Line, int]] = set()
"""Runs of lines already tried by a test in this module (they run in one process)."""


def _points(lines: list[Line]) -> list[int]:
    """Which line runs to interrupt at, by their index: the first `RUNS` runs of each resource line
    (the first of every line, with PANSYNC_INTERRUPT_EVERY_LINE=1), and `SPREAD` more."""
    runs: dict[Line, int] = {}
    chosen: set[int] = set(range(0, len(lines), max(1, len(lines) // SPREAD)))
    for i, line in enumerate(lines):
        run = runs[line] = runs.get(line, 0) + 1
        resource = line[0] in RESOURCE_MODULES or (line[0], line[2]) in RESOURCE_FUNCTIONS
        if (line, run) not in _TRIED and (run <= RUNS if resource else EVERY_LINE and run == 1):
            chosen.add(i)
            _TRIED.add((line, run))
    return sorted(chosen)


def _write_tree(client: Client) -> None:
    """Small files (sent in batches), two of a megabyte (one each), in folders with Chinese names."""
    for i in range(6):
        client.write(f"文档/笔记{i}：草稿.txt", f"第{i}版，内容。")
    for i in range(2):
        client.write(f"视频/片段{i}.bin", os.urandom(1 << 20))


def _sync_interrupted(client: Client, at: int) -> str | None:
    """One sync with a Ctrl-C at line run `at`: where it landed, None if the sync ended first."""
    landed: list[str] = []
    try:
        with interrupt_at(at) as landed:
            client.sync()
    except KeyboardInterrupt:
        return landed[0] if landed else "before the first line"
    return None


def _assert_nothing_leaked(client: Client, cloud: Path, where: str | None) -> None:
    assert not (cloud / ".pansync" / ".config" / "lock.txt").exists(), f"the lock was left ({where})"
    temps = list(client.root.rglob(".pansync.tmp*"))
    assert not temps, f"temp files left after an interrupt at {where}: {temps}"


def _check_every_point(
    tmp_path: Path, fresh: Callable[[Path], tuple[Client, Path]], after: Callable[[Client, Path], None]
) -> None:
    client, cloud = fresh(tmp_path / "recorded")
    lines: list[Line] = []
    with recording(lines):
        client.sync()
    points = _points(lines)
    interrupted = 0
    for at in points:
        client, cloud = fresh(tmp_path / f"at-{at}")
        where = _sync_interrupted(client, at)
        interrupted += where is not None
        _assert_nothing_leaked(client, cloud, where)
        try:
            client.sync()  # the database is usable and the lock free: this would fail or wait otherwise
            after(client, cloud)
            # an upload's temp file is written down first, and removed by this sync; any other is litter
            assert not list(cloud.rglob(".pansync.tmp*")), "a temp file was left in the cloud"
        except Exception as exc:
            raise AssertionError(f"after an interrupt at {where}: {exc!r}") from exc
        shutil.rmtree(tmp_path / f"at-{at}", ignore_errors=True)
    assert interrupted >= len(points) * 9 // 10, "most points must land inside the sync"


@slow_when_every_line
def test_interrupted_first_download_leaks_nothing(tmp_path: Path) -> None:
    cloud = tmp_path / "cloud"
    cloud.mkdir()
    alice = Client(tmp_path / "alice", "alice", cloud.as_uri())
    _write_tree(alice)
    alice.sync()

    def fresh(base: Path) -> tuple[Client, Path]:
        return Client(base, "bob", cloud.as_uri()), cloud

    def after(bob: Client, cloud: Path) -> None:
        assert snapshot(bob.root) == snapshot(cloud) == snapshot(alice.root)

    _check_every_point(tmp_path, fresh, after)


@slow_when_every_line
def test_interrupted_first_upload_leaks_nothing(tmp_path: Path) -> None:
    template = Client(tmp_path / "template", "carol", (tmp_path / "unused").as_uri())
    _write_tree(template)

    def fresh(base: Path) -> tuple[Client, Path]:
        cloud = base / "cloud"
        cloud.mkdir(parents=True)
        carol = Client(base, "carol", cloud.as_uri())
        shutil.copytree(template.root, carol.root)
        return carol, cloud

    def after(carol: Client, cloud: Path) -> None:
        assert snapshot(cloud) == snapshot(carol.root) == snapshot(template.root)

    _check_every_point(tmp_path, fresh, after)


@slow_when_every_line
def test_interrupted_resync_leaks_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Changes on both sides, one a conflict; the cloud listed by a forked child, as a large
    folder's is. Each point starts from a copy of the same state, at the same paths."""
    monkeypatch.setattr(remote_tree, "FORK_MIN", 0)
    work, saved = tmp_path / "work", tmp_path / "saved"
    cloud = work / "cloud"
    cloud.mkdir(parents=True)
    alice = Client(work, "alice", cloud.as_uri())
    bob = Client(work, "bob", cloud.as_uri())
    _write_tree(alice)
    alice.sync()
    bob.sync()
    alice.write("文档/笔记0：草稿.txt", "爱丽丝改的")
    alice.write("文档/新的.txt", "新")
    (alice.root / "视频" / "片段0.bin").unlink()
    alice.sync()
    bob.write("文档/笔记0：草稿.txt", "鲍勃改的")  # a conflict
    bob.write("文档/笔记1：草稿.txt", "鲍勃也改了")
    (bob.root / "文档" / "笔记2：草稿.txt").unlink()
    shutil.copytree(work, saved, symlinks=True)

    def fresh(base: Path) -> tuple[Client, Path]:
        shutil.rmtree(work)
        shutil.copytree(saved, work, symlinks=True)
        return bob, cloud

    def after(bob: Client, cloud: Path) -> None:
        alice.sync()
        assert snapshot(bob.root) == snapshot(cloud) == snapshot(alice.root)
        names = set(snapshot(cloud))
        assert "文档/笔记2：草稿.txt" not in names and "视频/片段0.bin" not in names
        assert [n for n in names if "conflicted copy" in n], "the conflict kept both versions"

    _check_every_point(tmp_path, fresh, after)


def test_resources_exist() -> None:
    """A renamed module or function would silently drop its lines from the points above."""
    package = Path(__file__).parents[2] / "agent" / "pansync"
    for module in RESOURCE_MODULES:
        assert list(package.rglob(module)), module
    for module, function in RESOURCE_FUNCTIONS:
        assert f"def {function}(" in next(package.rglob(module)).read_text(encoding="utf-8"), function
