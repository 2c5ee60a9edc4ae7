"""Fault switches (reset, truncation, 5xx/HTML, error rates, latency, bandwidth),
counters, and the admin endpoint."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import requests

from fakepcs import FakePCS

APP = "/apps/bypy"
DATA = os.urandom(200_000)


@pytest.fixture
def stored(fakepcs: FakePCS) -> str:
    fakepcs.put_file(f"{APP}/f.bin", DATA)
    return f"{APP}/f.bin"


def test_reset_mid_body(pcs: Any, fakepcs: FakePCS, stored: str) -> None:
    fakepcs.fail_next("reset", methods="download")
    with pytest.raises(requests.exceptions.RequestException):
        pcs.call("download", path=stored).content  # noqa: B018
    r = pcs.call("download", path=stored)
    assert r.status_code == 200 and r.content == DATA


def test_reset_after_a_json_operation_ran(pcs: Any, fakepcs: FakePCS) -> None:
    fakepcs.fail_next("reset", methods="mkdir")
    with pytest.raises(requests.exceptions.RequestException):
        pcs.call("mkdir", "POST", path=f"{APP}/done-anyway")
    assert fakepcs.exists(f"{APP}/done-anyway")  # the reply was lost, not the operation


def test_reset_while_receiving_upload(pcs: Any, fakepcs: FakePCS) -> None:
    fakepcs.fail_next("reset_request", methods="upload")
    with pytest.raises(requests.exceptions.RequestException):
        pcs.upload(f"{APP}/never", DATA)
    assert not fakepcs.exists(f"{APP}/never")
    assert pcs.upload(f"{APP}/never", DATA).status_code == 200


def test_truncated_range(pcs: Any, fakepcs: FakePCS, stored: str) -> None:
    fakepcs.fail_next("truncate", methods="download")
    r = pcs.call("download", path=stored, headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.content == DATA[1000:1500]
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(DATA)}"
    r = pcs.call("download", path=stored, headers={"Range": "bytes=1000-1999"})
    assert r.content == DATA[1000:2000]


def test_5xx_and_html_pages(pcs: Any, fakepcs: FakePCS) -> None:
    fakepcs.fail_next("5xx", methods="list")
    fakepcs.fail_next("5xx", methods="list", status=503)
    fakepcs.fail_next("html200", methods="list")
    r1, r2, r3 = (pcs.list(APP) for _ in range(3))
    assert r1.status_code == 502 and r1.headers["Content-Type"] == "text/html"
    assert b"<center>nginx</center>" in r1.content
    assert r2.status_code == 503
    assert r3.status_code == 200 and r3.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        r3.json()
    assert pcs.list(APP).json()["list"] == []


def test_any_error_code(pcs: Any, fakepcs: FakePCS) -> None:
    fakepcs.fail_next("error", code=31326, status=403, methods=["download"])
    r = pcs.call("download", path=f"{APP}/whatever")
    assert r.status_code == 403 and r.json()["error_code"] == 31326


def test_seeded_error_rate_is_reproducible(pcs: Any, fakepcs: FakePCS) -> None:
    def run() -> list[int]:
        fakepcs.set_faults(seed=7, error_rate={"list": 0.5})
        return [pcs.list(APP).status_code for _ in range(24)]

    a, b = run(), run()
    assert a == b and 400 in a and 200 in a
    assert pcs.call("info", route="quota").status_code == 200  # other methods untouched
    fakepcs.clear_faults()
    assert {pcs.list(APP).status_code for _ in range(5)} == {200}


def test_latency(pcs: Any, fakepcs: FakePCS) -> None:
    fakepcs.set_faults(latency=0.3)
    t = time.monotonic()
    pcs.list(APP)
    assert time.monotonic() - t >= 0.3


def test_bandwidth_cap_roughly_honoured(pcs: Any, fakepcs: FakePCS, stored: str) -> None:
    fakepcs.set_faults(bandwidth=400_000)  # bytes/s, both directions
    t = time.monotonic()
    assert pcs.call("download", path=stored).content == DATA
    down = time.monotonic() - t
    t = time.monotonic()
    assert pcs.upload(f"{APP}/up.bin", DATA).status_code == 200
    up = time.monotonic() - t
    assert down >= 0.35 and up >= 0.35  # 200 kB at 400 kB/s is 0.5 s; loose lower bound


def test_counters(pcs: Any, fakepcs: FakePCS, stored: str) -> None:
    fakepcs.reset_stats()
    pcs.list(APP)
    pcs.list(APP)
    pcs.upload(f"{APP}/c.bin", b"x" * 1000)
    pcs.call("download", path=stored)
    s = fakepcs.stats()
    assert s["requests"]["list"] == 2 and s["requests"]["upload"] == 1
    assert s["requests"]["download"] == 1 and s["requests"]["cdn"] == 1
    assert s["bytes_out"]["download"] == len(DATA)
    assert 1000 < s["bytes_in"]["upload"] < 1400  # multipart framing included
    assert fakepcs.requests("list") == 2 and fakepcs.bytes_out() == s["total"]["bytes_out"]
    via_http = requests.get(f"{fakepcs.url}/__admin/stats", timeout=10).json()
    assert via_http["requests"] == s["requests"]


def test_admin_endpoint(fakepcs: FakePCS, pcs: Any) -> None:
    base = f"{fakepcs.url}/__admin"
    assert requests.get(f"{base}/health", timeout=10).json()["ok"] is True
    r = requests.post(f"{base}/fail-next", json={"kind": "5xx", "methods": ["quota"]}, timeout=10)
    assert r.json()["armed"][0]["kind"] == "5xx"
    assert pcs.call("info", route="quota").status_code == 502
    requests.post(f"{base}/faults", json={"latency": 0.01, "bandwidth": 10**9}, timeout=10)
    st = requests.get(f"{base}/faults", timeout=10).json()["settings"]
    assert st["latency"] == 0.01 and st["bandwidth_down"] == 10**9
    requests.post(f"{base}/faults/reset", timeout=10)
    requests.post(f"{base}/tokens/expire", timeout=10)
    assert pcs.list(APP).json()["error_code"] == 111
    requests.post(f"{base}/tokens", json={"access_token": "t2"}, timeout=10)
    assert pcs.list(APP).status_code == 200 and fakepcs.token == "t2"
    cfg = requests.post(f"{base}/config", json={"superfile_md5": "enc"}, timeout=10).json()
    assert cfg["superfile_md5"] == "enc" and fakepcs.policy.superfile_md5 == "enc"
    data = os.urandom(300_000)
    r = requests.post(f"{base}/known", data=data, timeout=10)
    assert r.json()["size"] == len(data)
    assert requests.get(f"{base}/entry", params={"path": APP}, timeout=10).json()["entry"]
    log = requests.get(f"{base}/log", timeout=10).json()["log"]
    assert log and all("access_token" not in e["params"] for e in log)
    assert requests.get(f"{base}/nope", timeout=10).status_code == 404
    bad = requests.post(f"{base}/fail-next", json={"kind": "meteor"}, timeout=10)
    assert bad.status_code == 400
    assert fakepcs.admin("faults", rate_limit_next=1)["armed"][0]["kind"] == "31034"
