"""The test-control surface: ``/__admin/<name>`` over HTTP and ``FakePCS.admin()``.

Reads are GET, changes are POST with a JSON body. No token is needed; the
server only listens on 127.0.0.1 by default.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import TYPE_CHECKING, Any

from .config import update_dataclass
from .hashing import copy_hashing
from .httpio import Request
from .replies import JsonReply

if TYPE_CHECKING:
    from .server import FakePCS

WRITE_ONLY = frozenset(
    {"stats/reset", "faults/reset", "fail-next", "tokens/expire", "blocks/expire", "rescan", "known"}
)


class AdminRoutes:
    """Admin actions by name; see the README for the list."""

    def __init__(self, app: FakePCS) -> None:
        self.app = app

    def call(self, name: str, payload: dict[str, Any] | None = None) -> Any:
        """Run an action; ``payload`` None means a read."""
        app = self.app
        write = payload is not None or name in WRITE_ONLY
        p = payload or {}
        if name == "health":
            return {"ok": True, "url": app.url}
        if name == "stats":
            return app.counters.snapshot()
        if name == "stats/reset":
            app.counters.reset()
            return {"ok": True}
        if name == "log":
            return {"log": app.counters.entries()}
        if name == "faults":
            if write:
                app.faults.configure(p)
            return app.faults.snapshot()
        if name == "faults/reset":
            app.faults.clear()
            return app.faults.snapshot()
        if name == "fail-next":
            app.faults.arm(**p)
            return app.faults.snapshot()
        if name == "config":
            if write:
                update_dataclass(app.policy, p)
                app.tokens.ttl = app.policy.token_ttl
            return dataclasses.asdict(app.policy)
        if name == "tokens":
            if write:
                app.tokens.set(p.get("access_token"), p.get("refresh_token"))
            return app.tokens.snapshot()
        if name == "tokens/expire":
            app.tokens.expire()
            return app.tokens.snapshot()
        if name == "blocks/expire":
            return {"expired": app.blocks.expire()}
        if name == "rescan":
            return {"changed": app.store.rescan()}
        if name == "entry":
            return {"entry": app.entry(str(p.get("path", "")))}
        if name == "tree":
            return {"paths": app.tree(str(p.get("path") or app.policy.app_dir))}
        raise KeyError(name)

    def http(self, req: Request) -> JsonReply:
        """``/__admin/<name>``: GET reads (query args), POST writes (JSON body)."""
        name = req.route[len("/__admin/") :].strip("/")
        try:
            if name == "known" and req.verb == "POST":
                return JsonReply(200, self._known(req))
            payload: dict[str, Any] | None = None
            if req.verb == "POST":
                raw = req.read_body()
                payload = json.loads(raw) if raw.strip() else {}
            elif name in ("entry", "tree"):
                payload = dict(req.params)
                return JsonReply(200, self.call(name, payload))
            return JsonReply(200, self.call(name, payload))
        except KeyError as exc:
            return JsonReply(404, {"error": f"unknown admin action {exc}"})
        except (ValueError, TypeError) as exc:
            return JsonReply(400, {"error": str(exc)})
        except Exception as exc:  # report fakepcs bugs instead of dropping the connection
            return JsonReply(500, {"error": f"fakepcs internal error: {exc!r}"})

    def _known(self, req: Request) -> dict[str, Any]:
        spool = self.app.store.spool_path()
        try:
            req.spool_body(spool)
            with open(spool, "rb") as src, open(os.devnull, "wb") as sink:
                dg = copy_hashing(src, sink)
            self.app.blocks.add_known(spool, dg)
        finally:
            os.unlink(spool)
        return {"md5": dg.md5, "size": dg.size}
