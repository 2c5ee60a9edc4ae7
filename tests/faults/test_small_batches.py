"""Small uploads run in batches (one worker task for several files): a file that fails inside a
batch fails alone; the files before and after it in the same batch are uploaded and recorded, and
the next sync uploads the one that failed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pansync import execute
from pansync.errors import RemoteError
from pansync.remote.base import Progress, Remote, UploadResult
from tests.e2e.harness import Client, snapshot
from tests.faults._wrap import RemoteWrapper

REMOTES = ["file", "baidu"]

FILES = {f"相册/2026年/照片{i:02d}.jpg": b"\xff\xd8" + f"第{i}张".encode() * 40 for i in range(24)}
BROKEN = "照片05.jpg"


class _OneFails(RemoteWrapper):
    """A remote whose upload of one file fails while `failing[0]` holds, as a dropped connection would."""

    def __init__(self, inner: Remote, failing: list[bool]) -> None:
        super().__init__(inner)
        self.failing = failing

    def upload(self, local_path: Path, rel_path: str, progress: Progress | None = None) -> UploadResult:
        if self.failing[0] and local_path.name == BROKEN:
            raise RemoteError(f"cannot upload {rel_path}: Connection reset by peer")
        return self.inner.upload(local_path, rel_path, progress)


def test_a_failure_inside_a_batch_fails_that_file_alone(
    make_client: Callable[..., Client], cloud: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks: list[int] = []
    real = execute.Executor._transfer_all

    def counting(self: execute.Executor, task: execute._Task) -> list[object]:
        tasks.append(len(task))
        return real(self, task)  # type: ignore[return-value]

    monkeypatch.setattr(execute.Executor, "_transfer_all", counting)
    failing = [True]
    alice = make_client("alice", wrap_remote=lambda remote: _OneFails(remote, failing))
    for rel, data in FILES.items():
        alice.write(rel, data)

    result = alice.sync()

    assert max(tasks) > 1  # the small files did go in batches
    assert [f.rel_path for f in result.failed] == [f"相册/2026年/{BROKEN}"]
    recorded = alice.state().synced_keys()
    assert recorded >= {k for k in FILES if not k.endswith(BROKEN)}
    assert f"相册/2026年/{BROKEN}" not in recorded

    failing[0] = False
    assert alice.sync().converged
    assert {k: v for k, v in snapshot(cloud).items() if k in FILES} == FILES
