"""Logging: console and JSON file outputs, verbosity, idempotent set-up, and token redaction."""

from __future__ import annotations

import io
import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pansync.log import LOG_FILE_NAME, configure_logging, get_logger, redact_text

SECRETS = [f"SeCrEt{i}xyz" for i in range(10)]


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    configure_logging(verbosity=0, log_dir=None, console=False)


def _log_secrets() -> None:
    """One of each way a token could reach a log line."""
    log = get_logger("pansync.test")
    log.info(
        "listing 同步盘",
        access_token=SECRETS[0],
        url=f"https://pan.baidu.com/rest/2.0/xpan/file?method=list&access_token={SECRETS[1]}&dir=/",
        body=f'{{"access_token": "{SECRETS[2]}", "expires_in": 2592000}}',
        params={"refresh_token": SECRETS[3], "nested": [{"password": SECRETS[4]}]},
        headers={"Authorization": f"Bearer {SECRETS[5]}"},
        client_secret=SECRETS[6],
    )
    logging.getLogger("urllib3.connectionpool").warning(
        "GET /oauth/2.0/token?refresh_token=%s&grant_type=refresh_token", SECRETS[7]
    )
    try:
        raise RuntimeError(f"request failed: {{'access_token': '{SECRETS[8]}'}}")
    except RuntimeError:
        log.exception("upload failed", token=SECRETS[9])


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
    assert "***" in text


def test_file_gets_json_lines_without_tokens(tmp_path: Path) -> None:
    log_dir = tmp_path / "日志"
    configure_logging(verbosity=0, log_dir=log_dir, console=False, level="debug")
    _log_secrets()
    text = (log_dir / LOG_FILE_NAME).read_text(encoding="utf-8")
    _assert_clean(text)
    records = [json.loads(line) for line in text.splitlines()]
    assert [record["level"] for record in records] == ["info", "warning", "error"]
    first = records[0]
    assert first["event"] == "listing 同步盘"
    assert first["logger"] == "pansync.test"
    assert first["access_token"] == "***"
    assert first["params"] == {"refresh_token": "***", "nested": [{"password": "***"}]}
    assert first["url"].endswith("access_token=***&dir=/")
    assert json.loads(first["body"]) == {"access_token": "***", "expires_in": 2592000}
    assert first["headers"] == {"Authorization": "***"}
    assert records[1]["logger"] == "urllib3.connectionpool"
    assert "RuntimeError" in records[2]["exception"]
    assert "timestamp" in first


def test_file_and_folder_are_private(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    configure_logging(verbosity=0, log_dir=log_dir, console=False)
    get_logger("pansync.test").warning("hello")
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((log_dir / LOG_FILE_NAME).stat().st_mode) == 0o600


def test_plain_console_without_tty(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(verbosity=2, log_dir=None, console=True, stream=stream)
    _log_secrets()
    text = stream.getvalue()
    _assert_clean(text)
    assert "\x1b[" not in text
    assert "access_token=***" in text
    assert "listing 同步盘" in text
    assert "Traceback" in text


def test_colourful_console_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = FakeTty()
    configure_logging(verbosity=2, log_dir=None, console=True, stream=stream)
    _log_secrets()
    text = stream.getvalue()
    _assert_clean(text)
    assert "\x1b[" in text


def test_default_console_is_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(verbosity=1, log_dir=None, console=True)
    _log_secrets()
    captured = capsys.readouterr()
    assert captured.out == ""
    _assert_clean(captured.err)


@pytest.mark.parametrize(
    ("verbosity", "shown", "hidden"),
    [
        (0, ["warn-line"], ["info-line", "debug-line"]),
        (1, ["warn-line", "info-line"], ["debug-line"]),
    ],
)
def test_verbosity_sets_the_console_level(
    tmp_path: Path, verbosity: int, shown: list[str], hidden: list[str]
) -> None:
    stream = io.StringIO()
    configure_logging(verbosity=verbosity, log_dir=tmp_path, console=True, stream=stream)
    log = get_logger("pansync.test")
    log.debug("debug-line")
    log.info("info-line")
    log.warning("warn-line")
    for event in shown:
        assert event in stream.getvalue()
    for event in hidden:
        assert event not in stream.getvalue()
    in_file = (tmp_path / LOG_FILE_NAME).read_text(encoding="utf-8")
    assert "info-line" in in_file, "the file follows `level`, not verbosity"
    assert "debug-line" not in in_file


def test_debug_verbosity_shows_debug() -> None:
    stream = io.StringIO()
    configure_logging(verbosity=2, log_dir=None, console=True, stream=stream)
    get_logger("pansync.test").debug("debug-line", n=1)
    assert "debug-line" in stream.getvalue()


def test_configure_again_replaces_the_set_up(tmp_path: Path) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(verbosity=1, log_dir=tmp_path / "a", console=True, stream=first)
    configure_logging(verbosity=1, log_dir=tmp_path / "b", console=True, stream=second)
    configure_logging(verbosity=1, log_dir=tmp_path / "b", console=True, stream=second)
    get_logger("pansync.test").info("once")
    assert "once" not in first.getvalue()
    assert second.getvalue().count("once") == 1
    lines = (tmp_path / "b" / LOG_FILE_NAME).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_pansync", False)]
    assert len(ours) == 2


def test_logger_made_before_configuring_follows_it(tmp_path: Path) -> None:
    early = get_logger("pansync.early", folder="main")
    stream = io.StringIO()
    configure_logging(verbosity=1, log_dir=None, console=True, stream=stream)
    early.info("late", access_token=SECRETS[0])
    assert "folder=main" in stream.getvalue()
    _assert_clean(stream.getvalue())


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        configure_logging(verbosity=0, log_dir=None, console=False, level="loud")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /x?access_token=abc.DEF-1&y=2", "GET /x?access_token=***&y=2"),
        ("refresh_token=abc def", "refresh_token=*** def"),
        ('{"access_token":"abc","n":1}', '{"access_token":"***","n":1}'),
        ("{'refresh_token': 'abc'}", "{'refresh_token': '***'}"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
        ("client_secret=abc&code=1", "client_secret=***&code=1"),
        ("nothing secret here: token_count=3", "nothing secret here: token_count=3"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_nothing_to_log_imports_no_structlog(tmp_path: Path) -> None:
    """A quiet command does not pay structlog's import (~0.14 s); the first event that some
    output takes does, and lands once."""
    script = """
import sys
from pathlib import Path
from pansync.log import configure_logging, get_logger
configure_logging(verbosity=0, log_dir=Path(sys.argv[1]), console=True, level="info")
log = get_logger("pansync.quiet", folder="同步盘")
log.debug("below every output")
assert "structlog" not in sys.modules, "imported for nothing"
log.info("file only")
assert "structlog" in sys.modules
"""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # info is below the console's level
    records = [json.loads(line) for line in (tmp_path / LOG_FILE_NAME).read_text("utf-8").splitlines()]
    assert [(r["event"], r["folder"]) for r in records] == [("file only", "同步盘")]


def test_the_first_record_reaches_every_other_handler_once(tmp_path: Path) -> None:
    """Our handlers are put in place while stdlib loops over the root's handlers: the loop must
    neither skip the one after ours nor hand the record twice to ours."""
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    configure_logging(verbosity=0, log_dir=tmp_path, console=False)
    other = Collect(logging.INFO)
    logging.getLogger().addHandler(other)
    try:
        logging.getLogger("urllib3.connectionpool").warning("first %s", "记录")
        logging.getLogger("urllib3.connectionpool").warning("second")
    finally:
        logging.getLogger().removeHandler(other)
    assert seen == ["first 记录", "second"]
    events = [
        json.loads(line)["event"] for line in (tmp_path / LOG_FILE_NAME).read_text("utf-8").splitlines()
    ]
    assert events == ["first 记录", "second"]


def test_each_record_is_rendered_once_and_the_file_still_rotates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stdlib's rotating handler formats a record to measure it and again to write it; ours
    renders it once, and a file past its size still rolls over to `pansync.log.1`."""
    from pansync import log_handlers

    monkeypatch.setattr(log_handlers, "_FILE_MAX_BYTES", 600)
    rendered: list[str] = []
    real = log_handlers._RedactingFormatter.format

    def counted(self: logging.Formatter, record: logging.LogRecord) -> str:
        rendered.append(record.getMessage())
        return real(self, record)  # type: ignore[arg-type]

    monkeypatch.setattr(log_handlers._RedactingFormatter, "format", counted)
    configure_logging(verbosity=0, log_dir=tmp_path, console=False)
    log = get_logger("pansync.test")
    for n in range(8):
        log.info("已上传", path=f"报告/第{n}章.txt", access_token=SECRETS[0])
    assert len(rendered) == 8
    lines = [
        line
        for name in (LOG_FILE_NAME, LOG_FILE_NAME + ".1")
        for line in (tmp_path / name).read_text("utf-8").splitlines()
    ]
    assert sorted(json.loads(line)["path"] for line in lines)[-1] == "报告/第7章.txt"
    assert (tmp_path / (LOG_FILE_NAME + ".1")).exists() and SECRETS[0] not in "".join(lines)


def test_an_unwritable_log_file_is_said_once_and_the_console_goes_on(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    configure_logging(verbosity=1, log_dir=log_dir, console=True, stream=(stream := io.StringIO()))
    (log_dir / LOG_FILE_NAME).mkdir()  # a folder where the file should be
    get_logger("pansync.test").info("still here")
    assert "still here" in stream.getvalue()


@pytest.mark.parametrize("threads", [1, 2])
def test_structlog_is_imported_without_rich_only_when_no_other_thread_runs(
    tmp_path: Path, threads: int
) -> None:
    """A command's first event imports structlog with rich hidden (half its import time) and
    asyncio left for its first use; with a second thread running, which might import either
    meanwhile, structlog imports as it would. Either way the event is rendered in full, exception
    included, rich imports afterwards, and structlog's asyncio is the real one when used."""
    script = """
import sys, threading
from pathlib import Path
from pansync.log import configure_logging, get_logger
stop = threading.Event()
if sys.argv[2] == "2":
    threading.Thread(target=stop.wait).start()
configure_logging(verbosity=1, log_dir=Path(sys.argv[1]), console=True, level="info")
try:
    raise OSError("磁盘已满")
except OSError:
    get_logger("pansync.first").exception("写入失败", path="报告，终稿.txt")
print("rich" in sys.modules, "asyncio.base_events" in sys.modules)
stop.set()
import rich.console
import structlog.stdlib
import asyncio
assert structlog.stdlib.asyncio.run is asyncio.run and asyncio.run(asyncio.sleep(0, "ok")) == "ok"
assert structlog.stdlib.asyncio.iscoroutinefunction(structlog.stdlib.AsyncBoundLogger.info)
"""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), str(threads)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(threads == 2)] * 2
    assert "写入失败" in done.stderr and "OSError: 磁盘已满" in done.stderr
    (record,) = [json.loads(line) for line in (tmp_path / LOG_FILE_NAME).read_text("utf-8").splitlines()]
    assert record["event"] == "写入失败" and record["path"] == "报告，终稿.txt"
    assert "OSError: 磁盘已满" in record["exception"]
