"""Parameter helpers shared by the route modules (paths, ints, JSON, form bodies)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from . import multipart, paths
from .errors import PcsError
from .httpio import Request

if TYPE_CHECKING:
    from .server import FakePCS


def check(app: FakePCS, raw: str | None) -> str:
    """Validate a path parameter under the app's rules (31062/31064/31023)."""
    pol = app.policy
    return paths.check_path(raw, app_dir=pol.app_dir, max_len=pol.max_path_len, reject_emoji=pol.reject_emoji)


def form(app: FakePCS, req: Request) -> dict[str, str]:
    """Fields of a urlencoded or multipart body (``param`` may travel there)."""
    if req.form_cache is not None:
        return req.form_cache
    ctype = req.headers.get("Content-Type", "") or ""
    out: dict[str, str] = {}
    if "application/x-www-form-urlencoded" in ctype:
        for k, v in parse_qsl(req.read_body().decode("utf-8", "replace"), keep_blank_values=True):
            out.setdefault(k, v)
    elif ctype.startswith("multipart/"):
        boundary = multipart.boundary_of(ctype)
        if boundary is not None:
            spool = app.store.spool_path()
            try:
                req.spool_body(spool)
                out = multipart.small_fields(spool, multipart.parse(spool, boundary))
            finally:
                if os.path.exists(spool):
                    os.unlink(spool)
    req.form_cache = out
    return out


def param(app: FakePCS, req: Request, name: str) -> str | None:
    """A parameter from the query string, else from the body."""
    if name in req.params:
        return req.params[name]
    return form(app, req).get(name)


def json_param(app: FakePCS, req: Request, name: str = "param") -> Any:
    """A JSON parameter such as batch ``param``; 31023 if it does not parse."""
    raw = param(app, req, name)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise PcsError(31023) from exc


def int_param(req: Request, name: str, default: int | None = None) -> int:
    """An integer query parameter; 31023 if missing (without default) or bad."""
    raw = req.params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise PcsError(31023)
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise PcsError(31023) from exc


def batch_list(value: Any, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Validate ``{"list": [{...}, ...]}`` with the given keys in every item."""
    if not isinstance(value, dict) or not isinstance(value.get("list"), list):
        raise PcsError(31023)
    items: list[dict[str, Any]] = value["list"]
    for it in items:
        if not isinstance(it, dict) or any(k not in it for k in keys):
            raise PcsError(31023)
    return items
