"""An upload the client gave up on (a timeout) that the server finishes anyway: the temp file it
leaves in the cloud is removed by the next sync, under the lock, and the file still arrives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pansync.errors import RemoteError
from pansync.remote.base import Progress, Remote, UploadResult
from tests.e2e.harness import Client, snapshot
from tests.faults._wrap import RemoteWrapper

REMOTES = ["file", "baidu"]


class _LateServer(RemoteWrapper):
    """Uploads land, but the client hears a timeout; its delete of the temp comes too early to
    find it (the server was still writing), so the temp stays behind."""

    def __init__(self, inner: Remote, late: list[bool]) -> None:
        super().__init__(inner)
        self.late = late

    def upload(self, local_path: Path, rel_path: str, progress: Progress | None = None) -> UploadResult:
        result = self.inner.upload(local_path, rel_path, progress)
        if self.late[0]:
            raise RemoteError(f"upload of {rel_path} timed out after 60 s")
        return result

    def delete(self, rel_path: str) -> None:
        if not self.late[0]:
            self.inner.delete(rel_path)


def _temps(cloud: Path) -> list[str]:
    return [p.name for p in cloud.rglob(".pansync.tmp-*")]


def test_the_temp_of_a_late_upload_is_removed_by_the_next_sync(
    make_client: Callable[..., Client], cloud: Path
) -> None:
    late = [True]
    alice = make_client("alice", wrap_remote=lambda remote: _LateServer(remote, late))
    alice.write("报告/第一季度.xlsx", b"numbers" * 100)

    first = alice.sync()

    assert [f.rel_path for f in first.failed] == ["报告/第一季度.xlsx"]
    assert _temps(cloud)  # the server finished the uploads the client gave up on (one per round)
    late[0] = False
    second = alice.sync()
    assert second.converged
    assert _temps(cloud) == []
    assert snapshot(cloud)["报告/第一季度.xlsx"] == b"numbers" * 100
