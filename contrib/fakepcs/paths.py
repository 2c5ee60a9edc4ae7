"""Validation and normalisation of cloud paths (baidu-pcs.md §8).

Every path from a request passes through :func:`check_path` before it reaches
the store, so the store can trust that components are safe to join under root.
"""

from __future__ import annotations

import unicodedata

from .errors import PcsError

FORBIDDEN_CHARS = frozenset('\\?|"><:*')  # [pcs-doc]
EDGE_WHITESPACE = frozenset("\r\n\t \0\x0b")  # [pcs-doc] list of "whitespace"
# Not a Baidu rule: the host filesystem's name limit (ext4/APFS/NTFS: 255). Baidu's
# own per-name limit is unknown, so longer names are refused with 31062.
MAX_NAME_BYTES = 255


def key_of(path: str) -> str:
    """Case-insensitive identity of a path (issue #501: the API ignores case).

    ``str.lower`` rather than ``casefold`` so that e.g. ß and ss stay distinct
    [inference]; Unicode normal forms are not unified either [inference].
    """
    return path.lower()


def parent_of(path: str) -> str:
    """Parent of an absolute normalised path; the parent of ``/x`` is ``/``."""
    head = path.rsplit("/", 1)[0]
    return head or "/"


def name_of(path: str) -> str:
    """Last component of an absolute path."""
    return path.rsplit("/", 1)[-1]


def join(parent: str, name: str) -> str:
    """Join an absolute parent and a single component."""
    return ("" if parent == "/" else parent) + "/" + name


def is_within(path_key: str, top_key: str) -> bool:
    """True if ``path_key`` equals or lies below ``top_key`` (both keys)."""
    return path_key == top_key or path_key.startswith(top_key.rstrip("/") + "/")


def _has_emoji(s: str) -> bool:
    return any(unicodedata.category(c) == "So" or ord(c) > 0xFFFF for c in s)


def normalise(raw: str) -> str:
    """Collapse repeated slashes and drop a trailing slash [inference]."""
    parts = [p for p in raw.split("/") if p != ""]
    return "/" + "/".join(parts)


def check_path(
    raw: str | None,
    *,
    app_dir: str,
    max_len: int = 1000,
    reject_emoji: bool = False,
    allow_outside: bool = False,
) -> str:
    """Validate a request path and return it normalised.

    Errors: missing or relative path, ``.``/``..``, forbidden characters, edge
    whitespace, a trailing dot, or an over-long path -> 31062 [pcs-doc rules; the
    code for each case is inference except forbidden chars, issue #480]; a path
    outside the app folder -> 31064 (§3.1).
    """
    if raw is None or raw == "":
        raise PcsError(31023)
    if not raw.startswith("/"):
        raise PcsError(31062)
    if len(raw) > max_len:
        raise PcsError(31062)
    if "\0" in raw:
        raise PcsError(31062)
    path = normalise(raw)
    for comp in [c for c in path.split("/") if c]:
        if comp in (".", ".."):
            raise PcsError(31062)
        if any(c in FORBIDDEN_CHARS for c in comp):
            raise PcsError(31062)
        if comp[0] in EDGE_WHITESPACE or comp[-1] in EDGE_WHITESPACE:
            raise PcsError(31062)
        # The doc forbids a leading or trailing '.', but bypy itself creates
        # /apps/bypy/.bypytemp, so only the trailing dot is enforced [inference].
        if comp.endswith("."):
            raise PcsError(31062)
        if len(comp.encode("utf-8")) > MAX_NAME_BYTES:
            raise PcsError(31062)
        if reject_emoji and _has_emoji(comp):
            raise PcsError(31062)
    if not allow_outside and not is_within(key_of(path), key_of(app_dir)):
        raise PcsError(31064)
    return path


def newcopy_name(name: str, stamp: str, n: int = 0) -> str:
    """Name for ``ondup=newcopy``: "name_date.ext" per the doc.

    The exact date format (``_YYYYMMDD_HHMMSS``, Beijing time) and the ``_N``
    suffix on a second clash are [inference].
    """
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:  # no extension, or a dot-file like ".bashrc"
        stem, ext, dot = name, "", ""
    suffix = f"_{stamp}" + (f"_{n}" if n else "")
    return f"{stem}{suffix}{dot}{ext}"
