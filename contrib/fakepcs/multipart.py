"""Locate the parts of a spooled multipart/form-data body without loading it.

Uploads can be gigabytes, so the body is first spooled to disk and then the
boundaries are found with ``mmap``; callers copy the ``file`` part's byte range.
"""

from __future__ import annotations

import mmap
import os
import re
from dataclasses import dataclass
from email.message import Message

from .errors import PcsError


@dataclass
class Part:
    """One form part: its name, filename and byte range in the spool file."""

    name: str
    filename: str | None
    start: int
    end: int

    @property
    def length(self) -> int:
        """Size of the part's content."""
        return self.end - self.start


def boundary_of(content_type: str) -> bytes | None:
    """The boundary parameter of a multipart Content-Type, or None."""
    msg = Message()
    msg["content-type"] = content_type
    if msg.get_content_maintype() != "multipart":
        return None
    b = msg.get_param("boundary")
    return str(b).encode("latin-1") if isinstance(b, str) and b else None


_DISPO = re.compile(rb'(\w+)="([^"]*)"|(\w+)=([^;\s]+)')


def _parse_headers(raw: bytes) -> tuple[str, str | None]:
    name, filename = "", None
    for line in raw.split(b"\r\n"):
        if line.lower().startswith(b"content-disposition:"):
            for m in _DISPO.finditer(line):
                k = (m.group(1) or m.group(3) or b"").lower()
                v = (m.group(2) if m.group(1) else m.group(4)) or b""
                if k == b"name":
                    name = v.decode("utf-8", "replace")
                elif k == b"filename":
                    filename = v.decode("utf-8", "replace")
    return name, filename


def parse(path: str, boundary: bytes) -> list[Part]:
    """All parts of the multipart body stored in ``path``; 31023 if malformed."""
    size = os.path.getsize(path)
    if size == 0:
        raise PcsError(31023)
    delim = b"--" + boundary
    parts: list[Part] = []
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos = mm.find(delim)
        if pos < 0:
            raise PcsError(31023)
        while True:
            pos += len(delim)
            if mm[pos : pos + 2] == b"--":
                break
            head_end = mm.find(b"\r\n\r\n", pos)
            if head_end < 0:
                raise PcsError(31023)
            name, filename = _parse_headers(mm[pos:head_end])
            start = head_end + 4
            nxt = mm.find(b"\r\n" + delim, start)
            if nxt < 0:
                raise PcsError(31023)
            parts.append(Part(name, filename, start, nxt))
            pos = nxt + 2
    return parts


def small_fields(path: str, parts: list[Part], limit: int = 1024 * 1024) -> dict[str, str]:
    """Text values of the non-file parts (e.g. ``param`` sent as multipart)."""
    out: dict[str, str] = {}
    with open(path, "rb") as f:
        for p in parts:
            if p.filename is None and p.length <= limit:
                f.seek(p.start)
                out[p.name] = f.read(p.length).decode("utf-8", "replace")
    return out
