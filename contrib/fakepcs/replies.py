"""What a route hands back to the HTTP layer: JSON, raw bytes, a file range or a redirect."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO


@dataclass
class JsonReply:
    """A JSON body (success or Baidu error body)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RawReply:
    """Arbitrary bytes, e.g. nginx HTML error pages."""

    status: int
    body: bytes
    content_type: str = "text/html"
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False


@dataclass
class FileReply:
    """``length`` bytes of an open file from ``start``; the handler closes ``fh``."""

    fh: BinaryIO
    start: int
    length: int
    total: int
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class ResetConnection(Exception):
    """Raised by a route to make the handler drop the connection with a TCP RST."""


Reply = JsonReply | RawReply | FileReply

_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
}


def nginx_page(status: int) -> RawReply:
    """The HTML error page an nginx front end sends (seen for 413, issue #739)."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return RawReply(status, body.encode("ascii"), "text/html")


def html_200_page() -> RawReply:
    """An HTML page with status 200, as a captive portal or a CDN notice might send."""
    body = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>百度网盘</title>'
        "</head><body><p>系统繁忙，请稍后再试</p></body></html>"
    )
    return RawReply(200, body.encode("utf-8"), "text/html; charset=utf-8")
