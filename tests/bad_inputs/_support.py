"""What the bad-input corpus shares: a remote with hooks for the bad moment, quick syncs, and the
two promises every case checks — a clear message naming what and where, and nothing lost."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pansync.model import RemoteEntry
from pansync.remote.base import Progress, Remote, UploadResult
from pansync.session import FolderResult, SyncOptions
from tests.e2e.harness import Client

__all__ = [
    "Hooks",
    "assert_kept",
    "failures",
    "hooked",
    "issues",
    "sync_no_wait",
    "temps_under",
]


@dataclass
class Hooks:
    """What a `Hooked` remote does at its bad moments; a test changes it between syncs."""

    extra_entries: list[RemoteEntry] = field(default_factory=list)
    """Entries appended to every listing (a cloud listing with names no real folder can hold)."""
    during_upload: Callable[[Path], None] | None = None
    """Called once per upload, after its first bytes went out, with the local file being sent."""
    before_download: Callable[[str], None] | None = None
    """Called before each download with the remote name."""
    refuse_upload: Callable[[str], str | None] | None = None
    """Returns why the remote refuses to store this name at write time (None: it stores it)."""
    uploads: int = 0


class Hooked:
    """A `Remote` forwarding everything to `inner`, with the `Hooks` where a test needs them."""

    def __init__(self, inner: Remote, hooks: Hooks) -> None:
        self.inner = inner
        self.hooks = hooks

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list_tree(self, under: str = "") -> Iterator[RemoteEntry]:
        yield from self.inner.list_tree(under)
        yield from self.hooks.extra_entries

    def upload(self, local_path: Path, rel_path: str, progress: Progress | None = None) -> UploadResult:
        from pansync.errors import RemoteError

        self.hooks.uploads += 1
        refuse = self.hooks.refuse_upload
        why = refuse(local_path.name) if refuse is not None else None
        if why is not None:
            raise RemoteError(f"cannot upload {rel_path}: {why}")
        fired = False

        def on_progress(n: int) -> None:
            nonlocal fired
            if not fired and self.hooks.during_upload is not None:
                fired = True
                self.hooks.during_upload(local_path)
            if progress is not None:
                progress(n)

        return self.inner.upload(local_path, rel_path, on_progress)

    def download(self, rel_path: str, dest: Path, progress: Progress | None = None, offset: int = 0) -> None:
        if self.hooks.before_download is not None:
            self.hooks.before_download(rel_path)
        self.inner.download(rel_path, dest, progress, offset)


def hooked(hooks: Hooks) -> Callable[[Remote], Remote]:
    """For `make_client(..., wrap_remote=hooked(hooks))`."""
    return lambda remote: cast(Remote, Hooked(remote, hooks))


def issues(result: FolderResult) -> dict[str, str]:
    """The skipped items of a sync: path -> message."""
    return {i.rel_path: i.message for i in result.issues}


def failures(result: FolderResult) -> dict[str, str]:
    """The failed items of a sync: path -> message."""
    return {f.rel_path: f.message for f in result.failed}


def sync_no_wait(client: Client, *, force: bool = False) -> FolderResult:
    """One sync that gives up at once on a held lock (the harness waits 5 s)."""
    runner = client.runner()
    try:
        return runner.run(SyncOptions(force=force, lock_wait_s=0))
    finally:
        runner.close()


def assert_kept(before: dict[str, bytes | None], after: dict[str, bytes | None]) -> None:
    """Every path of `before` is still there with the same content (nothing deleted or torn)."""
    lost = {k for k in before if k not in after}
    changed = {k for k in before if k in after and before[k] != after[k]}
    assert not lost and not changed, f"lost {sorted(lost)}, changed {sorted(changed)}"


def temps_under(root: Path) -> list[str]:
    """Temp files of transfers (`.pansync.tmp-*`) anywhere under `root`, metadata folder aside."""
    found = []
    for path in root.rglob(".pansync.tmp-*"):
        if ".pansync" not in path.relative_to(root).parts[:-1]:
            found.append(path.relative_to(root).as_posix())
    return found
