"""Which local paths never sync: PanSync's own files, OS and editor litter, and the user's rules.

The user's rules come from `.pansyncignore` in the root (gitignore syntax, read by pathspec) and the
folder's `exclude` list in the config. Like Syncthing's `.stignore`, `.pansyncignore` itself is not
synced: each computer may want its own rules. Limit: decides per path; never walks a tree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pansync.remote.base import INTERNAL_PREFIX

if TYPE_CHECKING:
    import pathspec

__all__ = ["BUILTIN_PATTERNS", "IGNORE_FILE", "IgnoreRules", "builtin_match", "compile_patterns"]

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
    "|".join(
        [f"(?-i:{re.escape(INTERNAL_PREFIX)}(?s:.*))"]  # PanSync's own names (`is_internal_name`): exact case
        + ["(?:" + re.escape(p).replace(r"\*", ".*") + ")" for p in BUILTIN_PATTERNS]
    ),
    re.IGNORECASE,
)
builtin_match = _BUILTIN_RE.fullmatch
"""One regex for every built-in name (a match or None): the scan and the listing ask it once per
entry, the scan without a call in between."""


def is_builtin_ignored(name: str) -> bool:
    """True for PanSync's own names and the built-in litter; a cheap test on one name."""
    return builtin_match(name) is not None


def compile_patterns(lines: list[str]) -> pathspec.GitIgnoreSpec:
    """gitignore-style patterns, compiled by pathspec; raises `ValueError` or `re.error` for a bad
    one. Imported here, not at start-up: a folder without rules never loads it (about 50 ms)."""
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


class IgnoreRules:
    """The built-in names plus gitignore-style patterns, tested against relative paths."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        lines = [p for p in patterns if p.strip() and not p.lstrip().startswith("#")]
        self.patterns = tuple(lines)
        self.match_pattern: Callable[[str], bool] | None = (
            compile_patterns(lines).match_file if lines else None
        )
        """The user's patterns against a relative path (a folder's with a trailing `/`), or None
        when there are none: `matches` without its call, for the scan's loop."""
        self.problems: tuple[str, ...] = ()
        """What was wrong with the ignore file (`for_root`): the session refuses to sync until fixed,
        since a dropped rule could upload what the user meant to keep out."""

    @classmethod
    def for_root(cls, root: Path, extra: Iterable[str] = ()) -> IgnoreRules:
        """Rules for a sync root: its `.pansyncignore` (if any) and the config's `exclude` list.

        Never raises for a bad ignore file: unusable lines are left out and described in `problems`
        (with the file and line), so the watcher keeps running while the sync reports them.
        """
        patterns = list(extra)
        path = root / IGNORE_FILE
        problems: list[str] = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        except (OSError, UnicodeDecodeError) as exc:
            lines = []
            problems.append(f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc})")
        try:
            rules = cls(patterns + lines)
        except (ValueError, re.error):
            for number, line in enumerate(lines, 1):
                try:
                    cls([line])
                except (ValueError, re.error) as exc:
                    problems.append(f"{path}, line {number}: bad pattern {line!r} ({exc})")
                else:
                    patterns.append(line)
            rules = cls(patterns)
        rules.problems = tuple(problems)
        return rules

    def matches(self, rel_path: str, *, is_dir: bool) -> bool:
        if builtin_match(rel_path.rpartition("/")[2]) is not None:
            return True
        pattern = self.match_pattern
        return pattern is not None and pattern(rel_path + "/" if is_dir else rel_path)
