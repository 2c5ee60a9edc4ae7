"""Authorization: token files, renewal through bypy, refusals, and tokens kept out of logs and errors."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest

from fakepcs import FakePCS
from pansync.auth import TokenManager, load_tokens, run_auth_flow, store_tokens, token_path
from pansync.errors import AuthError, ListingError, PanSyncError
from pansync.log import LOG_FILE_NAME, configure_logging
from pansync.remote.baidu import BaiduRemote
from pansync.remote.pcs import Endpoints

from .conftest import FAST, MakeRemote, cloud


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_token_files_are_private(tmp_path: Path) -> None:
    path = store_tokens(tmp_path / "state", "acc", "ref")
    assert path == token_path(tmp_path / "state")
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert json.loads(path.read_text())["refresh_token"] == "ref"
    (tmp_path / "state" / "bypy").chmod(0o755)
    store_tokens(tmp_path / "state", "acc2", "ref2")
    assert _mode(path.parent) == 0o700


def test_expired_token_is_renewed_once_and_stored(
    remote: BaiduRemote, fakepcs: FakePCS, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fakepcs.put_file(cloud("a"), b"a")
    fakepcs.expire_token()
    fakepcs.reset_stats()
    assert remote.stat("a") is not None
    assert fakepcs.requests("oauth.token") == 1 and fakepcs.requests("meta") == 2
    stored = load_tokens(state_dir)
    assert stored is not None and stored["access_token"] == fakepcs.token
    assert stored["refresh_token"] == fakepcs.refresh_token
    assert _mode(token_path(state_dir)) == 0o600
    out = capsys.readouterr()
    assert out.out == "" and "<E>" not in out.err  # bypy printed nothing


def test_another_process_renewal_is_adopted(fakepcs: FakePCS, state_dir: Path) -> None:
    endpoints = Endpoints.resolve(fakepcs.url)
    mine, theirs = TokenManager(state_dir, endpoints), TokenManager(state_dir, endpoints)
    a = BaiduRemote("/apps/bypy/docs", state_dir=state_dir, endpoint=fakepcs.url, retry=FAST, tokens=mine)
    b = BaiduRemote("/apps/bypy/docs", state_dir=state_dir, endpoint=fakepcs.url, retry=FAST, tokens=theirs)
    a.ensure_root()
    b.stat("")
    fakepcs.expire_token()
    a.stat("")
    b.stat("")  # its token is stale, but the file already holds the renewed one: no second refresh
    assert fakepcs.requests("oauth.token") == 1
    a.close()
    b.close()


def test_refused_refresh_says_run_auth_again_without_retrying(remote: BaiduRemote, fakepcs: FakePCS) -> None:
    fakepcs.expire_token()
    fakepcs.admin("tokens", refresh_token="used-by-another-computer")  # ours is now invalid_grant
    fakepcs.reset_stats()
    with pytest.raises(AuthError, match="run `pansync auth` again") as info:
        remote.stat("x")
    assert "invalid_grant" in info.value.message
    assert fakepcs.requests("oauth.token") == 1
    assert fakepcs.requests() == 2  # the refused call and the refused refresh: no loop
    with pytest.raises(ListingError, match="run `pansync auth` again"):
        remote.list_tree().__next__()  # a listing fails as a listing, still naming the way out
    assert fakepcs.requests("oauth.token") == 2


def test_unauthorized_computer_is_told_to_authorize(make_remote: MakeRemote, tmp_path: Path) -> None:
    remote = make_remote(state_dir=tmp_path / "nowhere")
    with pytest.raises(AuthError, match="pansync auth"):
        remote.exists()


def test_run_auth_flow_through_bypy(
    fakepcs: FakePCS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "fresh"
    seen: list[str] = []

    def prompt(message: str) -> str:
        seen.append(message)
        return "0123456789abcdef-code"

    path = run_auth_flow(state, prompt=prompt, endpoint=fakepcs.url)
    assert len(seen) == 1 and "openapi.baidu.com/oauth/2.0/authorize" in seen[0]
    stored = json.loads(path.read_text())
    assert stored["access_token"] == fakepcs.token and _mode(path) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".auth-")]
    assert capsys.readouterr().out == ""
    remote = BaiduRemote("/apps/bypy/docs", state_dir=state, endpoint=fakepcs.url, retry=FAST)
    remote.ensure_root()
    remote.close()


def test_run_auth_flow_failures_never_exit(fakepcs: FakePCS, tmp_path: Path) -> None:
    calls: list[str] = []

    def short(message: str) -> str:
        calls.append(message)
        return "short"

    with pytest.raises(AuthError, match="authorization code"):
        run_auth_flow(tmp_path / "a", prompt=short, endpoint=fakepcs.url)
    assert len(calls) == 3  # bypy would ask forever
    fakepcs.fail_next("5xx", methods="oauth.token")
    with pytest.raises(AuthError, match="pansync auth"):  # bypy calls sys.exit here; we do not
        run_auth_flow(tmp_path / "b", prompt=lambda m: "x" * 20, endpoint=fakepcs.url)
    assert load_tokens(tmp_path / "b") is None


def test_tokens_never_reach_logs_or_errors(make_remote: MakeRemote, fakepcs: FakePCS, tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(verbosity=2, log_dir=tmp_path / "logs", console=True, level="debug", stream=stream)
    seen_tokens = {fakepcs.token, fakepcs.refresh_token}
    errors: list[str] = []
    try:
        remote = make_remote(concurrency=2)
        remote.ensure_root()
        src = tmp_path / "f"
        src.write_bytes(b"x" * 300_000)
        fakepcs.set_faults(seed=3, error_rate={"*": 0.2}, error_kind="5xx")
        fakepcs.expire_token()
        for i in range(10):
            remote.upload(src, f"f{i}")
            seen_tokens |= {fakepcs.token, fakepcs.refresh_token}
        fakepcs.fail_next("5xx", count=50, methods="meta")
        try:
            remote.stat("f1")
        except PanSyncError as exc:
            errors += [str(exc), repr(exc), str(exc.__cause__), str(exc.__context__)]
        fakepcs.clear_faults()
        fakepcs.expire_token()
        fakepcs.admin("tokens", refresh_token="nope")
        try:
            remote.stat("f1")
        except PanSyncError as exc:
            errors += [str(exc), repr(exc), str(exc.__cause__), str(exc.__context__)]
    finally:
        configure_logging(verbosity=0, log_dir=None, console=False)
    assert len(errors) == 8
    text = stream.getvalue() + (tmp_path / "logs" / LOG_FILE_NAME).read_text() + "\n".join(errors)
    assert "pcs.retry" in text and "baidu.token_renewed" in text  # the logs did record the run
    for token in seen_tokens:
        assert token not in text
