"""Path keys, untrusted-path validation and the names PanSync gives to conflict copies.

Keys are NFC, `/`-separated and relative: one spelling per visible name, whatever each side stores.
Everything here is pure; `safe_local_path` is the one function that looks at the disk, because
"does this path escape the root through a symlink?" has no answer without it.
"""

from __future__ import annotations

import os
import posixpath
import re
import unicodedata
from collections.abc import Container, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from pansync.errors import UnsafePath

__all__ = [
    "all_nfc",
    "ancestors",
    "ancestors_of",
    "below_any",
    "case_conflict_name",
    "conflict_copy_name",
    "covered",
    "is_under",
    "key_of",
    "parent_key",
    "printable",
    "safe_local_path",
    "split_ext",
    "validate_rel_path",
]

MAX_COMPONENT_BYTES = 255


def all_nfc(names: Iterable[str]) -> bool:
    """Whether every name is its own key's spelling: a folder of such names holds no two names
    that normalize alike. One C-level test of the names joined by NUL, a starter that nothing
    composes with, so normalization never reaches across it."""
    joined = "\0".join(names)
    return joined.isascii() or unicodedata.is_normalized("NFC", joined)


def key_of(rel_path: str) -> str:
    """The NFC key of a relative path; the planner and the index speak only in keys."""
    return unicodedata.normalize("NFC", rel_path)


def parent_key(key: str) -> str:
    """`a/b/c` → `a/b`; a top-level key's parent is ``""`` (the root)."""
    return posixpath.dirname(key)


def ancestors(key: str) -> Iterator[str]:
    """The folders above `key`, nearest first: `a/b/c` → `a/b`, `a`."""
    parent = parent_key(key)
    while parent:
        yield parent
        parent = parent_key(parent)


def ancestors_of(keys: Iterable[str]) -> set[str]:
    """Every folder above any of `keys`."""
    return {parent for key in keys for parent in ancestors(key)}


def below_any(key: str, folders: Container[str]) -> bool:
    """True when a folder above `key` is one of `folders`: a walk up from `key`, never a pass over
    `folders` (which may hold thousands)."""
    parent = key.rpartition("/")[0]
    while parent:
        if parent in folders:
            return True
        parent = parent.rpartition("/")[0]
    return False


def covered(key: str, folders: Container[str]) -> bool:
    """`any(is_under(key, f) for f in folders)`, by walking up from `key`."""
    return key in folders or below_any(key, folders)


def is_under(key: str, prefix: str) -> bool:
    """True when `key` is `prefix` itself or lies below it."""
    return key == prefix or key.startswith(prefix + "/")


_SAFE_KEY = re.compile(
    r"(?!\.\.?(?:/|\Z))[^/\\\x00-\x1f\ud800-\udfff]{1,63}"
    r"(?:/(?!\.\.?(?:/|\Z))[^/\\\x00-\x1f\ud800-\udfff]{1,63})*"
)
"""Paths `validate_rel_path` surely accepts: components of 1 to 63 characters (so at most 252
UTF-8 bytes) with no separator, backslash, control character or lone surrogate, and neither `.`
nor `..`. One C-level match instead of a Python loop per character for 100,000 listed paths; any
path it does not match gets the full check (and its precise message)."""


def validate_rel_path(rel_path: str) -> str:
    """Check a path that came from untrusted data (a listing, the index, the lock) and return it.

    Refuses absolute paths, `.` and `..` components, empty components, NUL and other C0 controls in
    a component, backslashes (a Windows separator that could escape the root there), names that are
    not UTF-8, and components longer than a file system can hold.
    """
    if _SAFE_KEY.fullmatch(rel_path) is not None:
        return rel_path
    if not rel_path or rel_path.startswith("/") or "\x00" in rel_path:
        raise UnsafePath(printable(rel_path), "not a relative path")
    try:
        rel_path.encode("utf-8")
    except UnicodeEncodeError:
        # A name of bytes that are not UTF-8 (a local disk's or a listing's): it could be neither
        # recorded nor found again by the scan, which skips such names.
        raise UnsafePath(printable(rel_path), "name is not valid UTF-8") from None
    for part in rel_path.split("/"):
        if part in ("", ".", ".."):
            raise UnsafePath(rel_path, f"path component {part!r} is not allowed")
        if "\\" in part:
            raise UnsafePath(rel_path, "backslash in a name could escape the root on Windows")
        if any(ord(ch) < 0x20 for ch in part):
            raise UnsafePath(rel_path, "control character in a name")
        if len(part.encode("utf-8", "surrogateescape")) > MAX_COMPONENT_BYTES:
            raise UnsafePath(rel_path, f"a name is longer than {MAX_COMPONENT_BYTES} bytes")
    return rel_path


def printable(name: str) -> str:
    """`name` fit for a message, a log line or the state database: bytes that are not UTF-8 (held
    as lone surrogates by `os` and by JSON) become `\\xff`-style escapes."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    try:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def safe_local_path(root: Path, rel_path: str) -> Path:
    """Join an untrusted relative path to `root`, refusing any route out of it.

    Besides the textual checks, no existing parent may be a symlink: a cloud path `a/b` must not
    write through a local symlink `a -> /etc`.
    """
    validate_rel_path(rel_path)
    path = root
    parts = rel_path.split("/")
    for part in parts[:-1]:
        path = path / part
        if path.is_symlink():
            raise UnsafePath(rel_path, f"{path} is a symbolic link; PanSync does not write through links")
    return root / rel_path


def split_ext(name: str) -> tuple[str, str]:
    """Split a base name into stem and extension, keeping dot-files whole (`.bashrc`, ``)."""
    stem, ext = os.path.splitext(name)
    if not stem:
        return name, ""
    return stem, ext


def _with_suffix(key: str, suffix: str) -> str:
    parent, base = posixpath.split(key)
    stem, ext = split_ext(base)
    name = f"{stem} ({suffix}){ext}"
    return posixpath.join(parent, name) if parent else name


def conflict_copy_name(key: str, client_name: str, when: datetime) -> str:
    """`报告.docx` → `报告 (conflicted copy alice 2026-11-26 153000).docx` (DESIGN §2)."""
    return _with_suffix(key, f"conflicted copy {client_name} {when:%Y-%m-%d %H%M%S}")


def case_conflict_name(key: str, client_name: str) -> str:
    """`FOO.txt` → `FOO (case conflict alice).txt`, for a name a case-insensitive side cannot hold."""
    return _with_suffix(key, f"case conflict {client_name}")
