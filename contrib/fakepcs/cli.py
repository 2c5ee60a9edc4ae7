"""Command line: ``python contrib/fakepcs --root DIR --port PORT [options]``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from types import FrameType
from typing import Any

from .config import GIB
from .faults import KINDS
from .server import DEFAULT_REFRESH, DEFAULT_TOKEN, FakePCS


def build_parser() -> argparse.ArgumentParser:
    """All flags; README.md documents each one."""
    p = argparse.ArgumentParser(prog="fakepcs", description="Offline Baidu PCS emulator.")
    p.add_argument("--root", required=True, help="directory holding the cloud's files")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--token", default=DEFAULT_TOKEN, help="initial access token")
    p.add_argument("--refresh-token", default=DEFAULT_REFRESH, help="initial refresh token")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    g = p.add_argument_group("behaviour")
    g.add_argument("--app-dir", default="/apps/bypy", help="the app sandbox (31064 outside)")
    g.add_argument("--quota", type=int, default=2 * 1024 * GIB)
    g.add_argument("--superfile-md5", choices=("baidu", "enc", "plain"), default="baidu")
    g.add_argument("--no-redirect", action="store_true", help="serve downloads without a 302")
    g.add_argument("--delete-missing", choices=("error", "ok"), default="error")
    g.add_argument("--max-single-upload", type=int, default=2 * GIB)
    g.add_argument("--block-ttl", type=float, default=None, help="seconds tmpfile blocks live")
    g.add_argument("--token-ttl", type=float, default=None, help="seconds an access token lives")
    g.add_argument("--expired-status", type=int, default=401, help="HTTP status of 111")
    g.add_argument("--diff-lag", type=float, default=0.0)
    g.add_argument("--reject-emoji", action="store_true")
    f = p.add_argument_group("faults")
    f.add_argument("--seed", type=int, default=0, help="RNG seed for --error-rate")
    f.add_argument(
        "--error-rate",
        action="append",
        default=[],
        metavar="METHOD=P",
        help="random fault probability per method key ('*' = all); repeatable",
    )
    f.add_argument("--error-kind", choices=sorted(KINDS), default="31034")
    f.add_argument("--error-code", type=int, default=31034, help="code for --error-kind error")
    f.add_argument("--rate-limit-next", type=int, default=0, help="answer 31034 to the next N")
    f.add_argument("--rate-limit-status", type=int, default=400)
    f.add_argument("--error-status", type=int, default=502, help="status for 5xx faults")
    f.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    f.add_argument("--bandwidth", type=int, default=0, help="bytes/s cap, each direction")
    f.add_argument("--bandwidth-up", type=int, default=None)
    f.add_argument("--bandwidth-down", type=int, default=None)
    f.add_argument(
        "--rapidupload-31023",
        action="store_true",
        help="rapidupload always answers 31023, like the live service",
    )
    f.add_argument("--expire-token", action="store_true", help="start with an expired token")
    f.add_argument(
        "--fail-next",
        action="append",
        default=[],
        metavar="JSON",
        help='arm a one-shot fault, e.g. \'{"kind":"reset","methods":["download"]}\'',
    )
    return p


def _rates(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        method, _, prob = item.partition("=")
        out[method or "*"] = float(prob)
    return out


def make_server(args: argparse.Namespace) -> FakePCS:
    """Build (but do not start) a server from parsed flags."""
    policy: dict[str, Any] = {
        "app_dir": args.app_dir,
        "quota": args.quota,
        "superfile_md5": args.superfile_md5,
        "download_redirect": not args.no_redirect,
        "delete_missing": args.delete_missing,
        "max_single_upload": args.max_single_upload,
        "block_ttl": args.block_ttl,
        "token_ttl": args.token_ttl,
        "expired_status": args.expired_status,
        "diff_lag": args.diff_lag,
        "reject_emoji": args.reject_emoji,
    }
    faults: dict[str, Any] = {
        "seed": args.seed,
        "error_rate": _rates(args.error_rate),
        "error_kind": args.error_kind,
        "error_code": args.error_code,
        "rate_limit_status": args.rate_limit_status,
        "error_status": args.error_status,
        "latency": args.latency,
        "bandwidth_up": args.bandwidth if args.bandwidth_up is None else args.bandwidth_up,
        "bandwidth_down": args.bandwidth if args.bandwidth_down is None else args.bandwidth_down,
        "rapidupload_31023": args.rapidupload_31023,
        "rate_limit_next": args.rate_limit_next,
        "fail_next": [json.loads(j) for j in args.fail_next],
    }
    srv = FakePCS(
        args.root,
        host=args.host,
        port=args.port,
        token=args.token,
        refresh_token=args.refresh_token,
        policy=policy,
        faults=faults,
        verbose=args.verbose,
    )
    if args.expire_token:
        srv.expire_token()
    return srv


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM."""
    args = build_parser().parse_args(argv)
    srv = make_server(args)

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    print(f"fakepcs listening on {srv.url}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
