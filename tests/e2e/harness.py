"""Real clients on real folders: each `Client` has its own PANSYNC_HOME, sync root and config, and
syncs through one shared remote, as two computers sharing a NAS folder would.

`Client.sync()` runs the engine in-process (fast, and failures show real tracebacks);
`Client.cli()` runs the installed `pansync` command as a separate process.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable
from contextlib import closing
from pathlib import Path

from pansync import synced_snapshot
from pansync.clean_folders import walk_shape
from pansync.config import load_config
from pansync.ignore import IgnoreRules
from pansync.paths import locations
from pansync.remote.base import Remote
from pansync.remote.factory import open_remote
from pansync.scan import scan_local
from pansync.session import FolderResult, FolderSync, SyncOptions
from pansync.state import StateStore

CONFIG = """\
client:
  name: {name}
folders:
  - name: main
    local: {root}
    remote: {remote}
{extra}"""


class Client:
    def __init__(
        self,
        base: Path,
        name: str,
        remote_url: str,
        *,
        extra_config: str = "",
        wrap_remote: Callable[[Remote], Remote] | None = None,
    ) -> None:
        self.name = name
        self.home = base / name / "home"
        self.root = base / name / "root"
        self.home.mkdir(parents=True)
        self.env = {
            **os.environ,
            "PANSYNC_HOME": str(self.home),
            "XDG_DATA_HOME": str(base / name / "xdg"),  # this "computer's" system trash (subprocesses)
        }
        self.config_path = self.home / "config" / "config.yaml"
        self.config_path.parent.mkdir(parents=True)
        self.config_path.write_text(
            CONFIG.format(name=name, root=self.root, remote=remote_url, extra=extra_config), encoding="utf-8"
        )
        self.wrap_remote = wrap_remote

    def runner(self) -> FolderSync:
        config = load_config(self.config_path, env=self.env)
        locs = locations(self.env)
        folder = config.folders[0]
        remote = open_remote(folder.remote, config, locs)
        if self.wrap_remote is not None:
            remote = self.wrap_remote(remote)
        return FolderSync(config, folder, locs, remote)

    def sync(
        self, *, dry_run: bool = False, force: bool = False, scope: Iterable[str] | None = None
    ) -> FolderResult:
        """One sync; with `scope`, of those keys alone, as the agent syncs what its watcher saw."""
        runner = self.runner()
        options = SyncOptions(
            dry_run=dry_run, force=force, lock_wait_s=15, scope=None if scope is None else frozenset(scope)
        )
        try:
            return runner.run(options)
        finally:
            try:
                check_folder_digests(runner)
            finally:
                runner.close()
            check_synced_snapshot(self.home / "state" / "folders" / "main" / "state.sqlite3")

    def state(self) -> StateStore:
        return StateStore(self.home / "state" / "folders" / "main" / "state.sqlite3")

    def cli(self, *args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pansync", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    # -- files --------------------------------------------------------------------------------------

    def write(self, rel: str, data: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
        return path

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8")

    def tree(self) -> dict[str, bytes | None]:
        return snapshot(self.root)


def check_synced_snapshot(database: Path) -> None:
    """A snapshot file that claims to be current holds exactly the table's rows (every e2e sync
    checks this, so every kind of action is covered)."""
    if not database.exists():
        return
    with closing(sqlite3.connect(database)) as db:
        stamp = db.execute("SELECT db_id, writes FROM synced_writes").fetchone()
        table = sorted(db.execute("SELECT * FROM synced"))
    rows = synced_snapshot.read_rows(database.with_name(database.stem + ".synced"), stamp)
    if rows is not None:
        assert sorted(rows.values()) == table, (
            "the synced snapshot claims to be current but differs from the table"
        )


def check_folder_digests(runner: FolderSync) -> None:
    """Folder digests that go with the synced table vouch only for what is so: a scan that trusts
    them finds the very tree and unchanged keys a scan that does not finds (every e2e sync checks
    this, so every kind of action is covered)."""
    if not runner.root.is_dir():
        return
    ignore = IgnoreRules.for_root(runner.root, runner.folder.exclude)
    stored = runner.clean.load(walk_shape(runner.root, runner.remote, ignore))
    if stored is None:
        return
    synced = runner.state.load_synced()
    trusting = scan_local(runner.root, synced, ignore, digests=stored.local)
    trusting.fill(synced)
    plain = scan_local(runner.root, synced, ignore)
    assert trusting.tree == plain.tree, "a folder clean by its digest is not"
    assert sorted(trusting.unchanged) == sorted(plain.unchanged), "a folder clean by its digest is not"
    assert trusting.issues == plain.issues


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every visible path under `root` with its content (None for folders); PanSync's own names and
    the `.pansync/` folder left out."""
    result: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".pansync")]
        rel_dir = Path(dirpath).relative_to(root)
        for d in dirnames:
            result[(rel_dir / d).as_posix()] = None
        for f in filenames:
            if f.startswith(".pansync"):
                continue
            result[(rel_dir / f).as_posix()] = (Path(dirpath) / f).read_bytes()
    return result


def cloud_trash(remote_root: Path) -> dict[str, bytes]:
    """Files in the cloud trash, keyed by their path inside their batch."""
    found: dict[str, bytes] = {}
    trash = remote_root / ".pansync" / "trash"
    if not trash.exists():
        return found
    for batch in trash.iterdir():
        for path in batch.rglob("*"):
            if path.is_file():
                found[path.relative_to(batch).as_posix()] = path.read_bytes()
    return found
