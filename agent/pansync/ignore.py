"""Which local paths never sync: PanSync's own files, OS and editor litter, and the user's rules.

The user's rules come from `.pansyncignore` in the root (gitignore syntax, read by pathspec) and the
folder's `exclude` list in the config. Like Syncthing's `.stignore`, `.pansyncignore` itself is not
synced: each computer may want its own rules. Limit: decides per path; never walks a tree.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from pathlib import Path

import pathspec

from pansync.remote.base import is_internal_name

__all__ = ["BUILTIN_PATTERNS", "IGNORE_FILE", "IgnoreRules"]

IGNORE_FILE = ".pansyncignore"

BUILTIN_PATTERNS = (
    ".DS_Store",
    "Thumbs.db",
    "desktop.ini",
    "~$*",  # Office lock files
    "*.swp",  # vim swap files
    ".~lock.*#",  # LibreOffice lock files
)
"""Names ignored in every folder, on every side: they are machine-local litter."""

_BUILTIN_RE = re.compile(
    "|".join("(?:" + re.escape(p).replace(r"\*", ".*") + ")" for p in BUILTIN_PATTERNS),
    re.IGNORECASE,
)


def is_builtin_ignored(name: str) -> bool:
    """True for PanSync's own names and the built-in litter; a cheap test on one name."""
    return is_internal_name(name) or _BUILTIN_RE.fullmatch(name) is not None


class IgnoreRules:
    """The built-in names plus gitignore-style patterns, tested against relative paths."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        lines = [p for p in patterns if p.strip() and not p.lstrip().startswith("#")]
        self.patterns = tuple(lines)
        self._spec = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None

    @classmethod
    def for_root(cls, root: Path, extra: Iterable[str] = ()) -> IgnoreRules:
        """Rules for a sync root: its `.pansyncignore` (if any) and the config's `exclude` list."""
        patterns = list(extra)
        with contextlib.suppress(FileNotFoundError):
            patterns += (root / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
        return cls(patterns)

    def matches(self, rel_path: str, *, is_dir: bool) -> bool:
        name = rel_path.rpartition("/")[2]
        if is_builtin_ignored(name):
            return True
        if self._spec is None:
            return False
        return self._spec.match_file(rel_path + "/" if is_dir else rel_path)
