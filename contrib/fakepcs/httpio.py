"""HTTP plumbing: the threaded server, request bodies, replies, throttling, RSTs.

Routes never touch sockets; they get a :class:`Request` and return a reply
object. Everything about bytes on the wire (bandwidth cap, byte counters,
mid-body resets, truncated ranges, ``Date`` headers) is handled here.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from .faults import Armed
from .replies import FileReply, JsonReply, Reply, ResetConnection

if TYPE_CHECKING:
    from .server import FakePCS

DRAIN_LIMIT = 64 * 1024 * 1024


class PCSHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its app and can cut every open connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], app: FakePCS) -> None:
        self.app = app
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Track the connection while a handler serves it."""
        with self.conns_lock:
            self.conns.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self.conns_lock:
                self.conns.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-request (a killed sync, a timed-out retry) is the weather the
        emulator serves in, not an error of its own: only other exceptions are printed."""
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)

    def close_all_connections(self) -> None:
        """Shut down keep-alive connections so no handler thread outlives stop()."""
        with self.conns_lock:
            conns = list(self.conns)
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class Request:
    """What a route sees of one HTTP request."""

    def __init__(self, handler: Handler, verb: str, route: str, params: dict[str, str], key: str) -> None:
        self.handler = handler
        self.verb = verb
        self.route = route
        self.params = params
        self.key = key
        self.headers = handler.headers
        self.form_cache: dict[str, str] | None = None

    @property
    def host(self) -> str:
        """Host[:port] the client used, for self-referencing URLs."""
        return self.headers.get("Host") or f"127.0.0.1:{self.handler.server.server_address[1]}"

    @property
    def content_length(self) -> int | None:
        """Declared body length, if any."""
        v = self.headers.get("Content-Length")
        return int(v) if v and v.isdigit() else None

    def body_chunks(self) -> Iterator[bytes]:
        """The request body, throttled and counted."""
        return self.handler.body_chunks(self.key)

    def read_body(self, limit: int = 16 * 1024 * 1024) -> bytes:
        """A small body in memory (forms, admin JSON)."""
        out = bytearray()
        for chunk in self.body_chunks():
            out += chunk
            if len(out) > limit:
                raise ValueError("body too large")
        return bytes(out)

    def spool_body(self, dest: str) -> int:
        """Write the body to ``dest``; returns its size."""
        n = 0
        with open(dest, "wb") as f:
            for chunk in self.body_chunks():
                f.write(chunk)
                n += len(chunk)
        return n

    def abort_midway(self) -> None:
        """Read half the body, then drop the connection (``reset_request``)."""
        half = (self.content_length or 0) // 2
        got = 0
        for chunk in self.body_chunks():
            got += len(chunk)
            if got >= half:
                break
        raise ResetConnection()


class Handler(BaseHTTPRequestHandler):
    """One connection; dispatches to the app's admin or API routes."""

    protocol_version = "HTTP/1.1"
    server_version = "fakepcs/1.0"
    sys_version = ""
    timeout = 300
    disable_nagle_algorithm = True  # headers and body are separate writes
    server: PCSHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet unless the app is verbose."""
        if self.server.app.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        """GET requests."""
        self._serve("GET")

    def do_POST(self) -> None:
        """POST requests."""
        self._serve("POST")

    def finish(self) -> None:
        """Tolerate sockets we already reset."""
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    # --- request body ---------------------------------------------------
    def _prepare_body(self) -> None:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        self._chunked = "chunked" in te
        cl = self.headers.get("Content-Length")
        self._left = int(cl) if cl and cl.isdigit() and not self._chunked else 0
        self._body_done = not self._chunked and self._left == 0

    def body_chunks(self, key: str) -> Iterator[bytes]:
        """Yield the body in pieces, consuming the upload bandwidth bucket."""
        app = self.server.app
        bucket = app.bucket_up
        if self._chunked:
            while not self._body_done:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    self._body_done = True
                    break
                left = size
                while left:
                    data = self.rfile.read(min(left, bucket.chunk_size()))
                    if not data:
                        raise ConnectionResetError("client went away")
                    bucket.consume(len(data))
                    app.counters.add_in(key, len(data))
                    left -= len(data)
                    yield data
                self.rfile.readline(3)
            return
        while self._left > 0:
            data = self.rfile.read(min(self._left, bucket.chunk_size()))
            if not data:
                raise ConnectionResetError("client went away")
            self._left -= len(data)
            bucket.consume(len(data))
            app.counters.add_in(key, len(data))
            yield data
        self._body_done = True

    def _drain(self, key: str) -> None:
        if self._body_done:
            return
        if self._chunked or self._left > DRAIN_LIMIT:
            self.close_connection = True
            return
        for _ in self.body_chunks(key):
            pass

    # --- dispatch -------------------------------------------------------
    def _serve(self, verb: str) -> None:
        app = self.server.app
        split = urlsplit(self.path)
        params: dict[str, str] = {}
        for k, v in parse_qsl(split.query, keep_blank_values=True):
            params.setdefault(k, v)
        self._prepare_body()
        started = time.time()
        if split.path.startswith("/__admin/") or split.path == "/__admin":
            req = Request(self, verb, split.path, params, "admin")
            self._send(app.admin_routes.http(req), "admin", None)
            return
        key = app.api.method_key(split.path, params)
        app.counters.count_request(key)
        if app.faults.settings.latency > 0:
            time.sleep(app.faults.settings.latency)
        req = Request(self, verb, split.path, params, key)
        try:
            reply = app.api.handle(req)
            self._drain(key)
        except ResetConnection:
            self._reset()
            self._log(started, verb, split.path, key, params, None, "reset")
            return
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return
        payload_key = "download" if key == "cdn" else key
        fault = None
        if not 300 <= reply.status < 400:  # body faults hit the reply that carries the bytes
            fault = app.faults.take(payload_key, "body", is_file=isinstance(reply, FileReply))
        self._log(started, verb, split.path, key, params, reply, fault.kind if fault else None)
        self._send(reply, payload_key, fault)

    def _log(
        self,
        started: float,
        verb: str,
        route: str,
        key: str,
        params: dict[str, str],
        reply: Reply | None,
        fault: str | None,
    ) -> None:
        item: dict[str, Any] = {
            "time": started,
            "verb": verb,
            "route": route,
            "key": key,
            "params": {k: v for k, v in params.items() if k != "access_token"},
            "range": self.headers.get("Range"),
            "fault": fault,
            "status": None if reply is None else reply.status,
        }
        if isinstance(reply, JsonReply):
            item["error_code"] = reply.body.get("error_code") or reply.body.get("error")
        self.server.app.counters.record(item)

    # --- replies --------------------------------------------------------
    def _reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0 then close)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    def _send(self, reply: Reply, key: str, fault: Armed | None) -> None:
        try:
            if isinstance(reply, FileReply):
                self._send_file(reply, key, fault)
                return
            if isinstance(reply, JsonReply):
                body = json.dumps(reply.body, separators=(",", ":")).encode("utf-8")
                ctype, close = "application/json; charset=utf-8", False
            else:
                body, ctype, close = reply.body, reply.content_type, reply.close
            self.send_response(reply.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in reply.headers.items():
                self.send_header(k, v)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            cut = len(body) // 2 if fault and fault.kind == "reset" else None
            self._write(body[:cut] if cut is not None else body, key)
            if cut is not None:
                self._reset()
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def _send_file(self, r: FileReply, key: str, fault: Armed | None) -> None:
        try:
            length = r.length // 2 if fault and fault.kind == "truncate" else r.length
            self.send_response(r.status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            if r.status == 206:
                self.send_header("Content-Range", f"bytes {r.start}-{r.start + r.length - 1}/{r.total}")
            for k, v in r.headers.items():
                self.send_header(k, v)
            self.end_headers()
            r.fh.seek(r.start)
            stop_at = length // 2 if fault and fault.kind == "reset" else length
            bucket = self.server.app.bucket_down
            sent = 0
            while sent < stop_at:
                data = r.fh.read(min(bucket.chunk_size(), stop_at - sent))
                if not data:
                    break
                self._write(data, key)
                sent += len(data)
            if fault and fault.kind == "reset":
                self._reset()
        finally:
            r.fh.close()

    def _write(self, data: bytes, key: str) -> None:
        bucket = self.server.app.bucket_down
        step = bucket.chunk_size()
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            bucket.consume(len(piece))
            self.wfile.write(piece)
            self.server.app.counters.add_out(key, len(piece))
