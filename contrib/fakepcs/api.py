"""Routing of the emulated REST surface (baidu-pcs.md §6.3) plus the small routes.

Order per request: token check (110/111), then "pre" faults, then the method.
PCS methods are chosen by the ``method`` query parameter, as on the real service.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import files, transfer
from .errors import OAuthError, PcsError
from .faults import Armed
from .httpio import Request
from .replies import JsonReply, Reply, ResetConnection, html_200_page, nginx_page
from .routeutil import form, int_param

if TYPE_CHECKING:
    from .server import FakePCS

PCS = "/rest/2.0/pcs/"
FILE, QUOTA, CLOUD_DL, MANAGE = PCS + "file", PCS + "quota", PCS + "services/cloud_dl", PCS + "manage"
TOKEN = "/oauth/2.0/token"
GETINFO = "/rest/2.0/passport/users/getInfo"
USER = {
    "userid": "2082810368",
    "username": "fakepcs",
    "realname": "fakepcs",
    "portrait": "",
    "is_bind_mobile": "0",
    "is_realname": "0",
}

Route = Callable[["FakePCS", Request], "dict[str, Any] | Reply"]


def m_quota(app: FakePCS, req: Request) -> dict[str, Any]:
    """``quota?method=info``."""
    if req.params.get("method", "info") != "info":
        raise PcsError(3)
    return {"quota": app.policy.quota, "used": app.store.used()}


def m_getinfo(app: FakePCS, req: Request) -> dict[str, Any]:
    """passport getInfo: ``userid``/``username`` must be strings for bypy (§1.4)."""
    return dict(USER)


def m_locateupload(app: FakePCS, req: Request) -> dict[str, Any]:
    """Upload-host locator: points back at ourselves."""
    return {"host": req.host, "server": [req.host]}


def m_manage(app: FakePCS, req: Request) -> dict[str, Any]:
    """``manage?method=listhost``: a single host, ourselves."""
    if req.params.get("method") != "listhost":
        raise PcsError(3)
    return {"list": [{"host": req.host}], "path": PCS}


def m_cloud_dl(app: FakePCS, req: Request) -> dict[str, Any]:
    """Offline download is a stub: no tasks ever exist."""
    m = req.params.get("method")
    if m == "list_task":
        return {"task_info": [], "total": 0}
    if m == "query_task":
        ids = [i for i in (req.params.get("task_ids") or "").split(",") if i]
        return {"task_info": {i: {"result": 1} for i in ids}}
    if m == "cancel_task":
        int_param(req, "task_id")
        raise PcsError(36016)
    raise PcsError(3)


FILE_METHODS: dict[str, Route] = {
    "list": files.m_list,
    "meta": files.m_meta,
    "mkdir": files.m_mkdir,
    "move": files.m_move,
    "copy": files.m_copy,
    "delete": files.m_delete,
    "search": files.m_search,
    "listrecycle": files.m_listrecycle,
    "restore": files.m_restore,
    "diff": files.m_diff,
    "upload": transfer.m_upload,
    "createsuperfile": transfer.m_createsuperfile,
    "rapidupload": transfer.m_rapidupload,
    "download": transfer.m_download,
    "locateupload": m_locateupload,
}


class Api:
    """Dispatches one request to its route and turns errors into Baidu bodies."""

    def __init__(self, app: FakePCS) -> None:
        self.app = app

    @staticmethod
    def method_key(route: str, params: dict[str, str]) -> str:
        """Counter/fault key: the PCS ``method`` (``upload.tmpfile`` for slices)."""
        if route == FILE:
            m = params.get("method", "")
            if m == "upload" and params.get("type") == "tmpfile":
                return "upload.tmpfile"
            return m or "file"
        if route == QUOTA:
            return "quota"
        if route == TOKEN:
            return "oauth.token"
        if route == GETINFO:
            return "passport.getInfo"
        if route in (CLOUD_DL, MANAGE):
            return route.rsplit("/", 1)[-1] + "." + params.get("method", "")
        if route.startswith("/file/"):
            return "cdn"
        return "unknown"

    def _pre_fault(self, req: Request, rid: int) -> Reply | None:
        fault: Armed | None = self.app.faults.take(req.key, "pre")
        if fault is None:
            return None
        s = self.app.faults.settings
        if fault.kind == "31034":
            raise PcsError(31034, status=fault.status or s.rate_limit_status)
        if fault.kind == "error":
            raise PcsError(fault.code or s.error_code, status=fault.status)
        if fault.kind == "5xx":
            return nginx_page(fault.status or s.error_status)
        if fault.kind == "html200":
            return html_200_page()
        req.abort_midway()
        raise ResetConnection()

    def handle(self, req: Request) -> Reply:
        """Run one request; never raises except :class:`ResetConnection`."""
        app = self.app
        rid = app.next_request_id()
        try:
            if req.route.startswith("/file/"):
                return self._pre_fault(req, rid) or transfer.cdn(app, req)
            if req.route == TOKEN:
                early = self._pre_fault(req, rid)
                if early:
                    return early
                merged = dict(form(app, req))
                merged.update(req.params)
                return JsonReply(200, app.tokens.grant(merged))
            table: dict[str, Route] | None = None
            single: Route | None = None
            if req.route == FILE:
                table = FILE_METHODS
            elif req.route == QUOTA:
                single = m_quota
            elif req.route == GETINFO:
                single = m_getinfo
            elif req.route == MANAGE:
                single = m_manage
            elif req.route == CLOUD_DL:
                single = m_cloud_dl
            else:
                return nginx_page(404)
            app.tokens.check(req.params.get("access_token"), app.policy.expired_status)
            early = self._pre_fault(req, rid)
            if early:
                return early
            if table is not None:
                single = table.get(req.params.get("method", ""))
                if single is None:
                    raise PcsError(3)
            assert single is not None
            out = single(app, req)
            if isinstance(out, dict):
                out["request_id"] = rid
                return JsonReply(200, out)
            return out
        except PcsError as err:
            return JsonReply(err.status, err.body(rid))
        except OAuthError as err:
            return JsonReply(err.status, err.body())
        except (ResetConnection, ConnectionError, TimeoutError):
            raise
        except Exception as exc:  # a fakepcs bug: say so loudly instead of hanging up
            traceback.print_exc()
            return JsonReply(
                500, {"error_code": 31001, "error_msg": f"fakepcs internal error: {exc!r}", "request_id": rid}
            )
