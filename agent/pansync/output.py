"""What commands print: lines through click, tables and bars through rich on a terminal.

Lines (results, errors, paths) are written as they are: never wrapped at a width, never read as
markup, so `pansync sync | grep failed` gets whole paths and a file named `[draft]` prints as
named. rich is imported only for a table or a progress bar on a terminal: a sync in a pipe or
under a service manager does not pay ~0.05 s to start it.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["err", "error_line", "is_terminal", "out", "rich_console"]


def out(line: str) -> None:
    """One line on stdout."""
    click.echo(line)


def err(line: str) -> None:
    """One line on stderr: messages about the command rather than its result."""
    click.echo(line, err=True)


def error_line(title: str, message: str) -> None:
    """`title: message` on stderr, the title in bold red on a terminal that wants colour."""
    styled = click.style(title, fg="red", bold=True) if _colour(stderr=True) else title
    click.echo(f"{styled}: {message}", err=True)


def is_terminal(*, stderr: bool = False) -> bool:
    stream = sys.stderr if stderr else sys.stdout
    return stream.isatty()


def _colour(*, stderr: bool) -> bool:
    return is_terminal(stderr=stderr) and "NO_COLOR" not in os.environ


@cache
def _console(stderr: bool) -> Console:
    from rich.console import Console

    # No emoji codes: a ":name:" in a file name must print as typed.
    return Console(stderr=stderr, highlight=False, emoji=False)


def rich_console(*, stderr: bool = False) -> Console:
    """The rich console for tables, JSON and progress bars (made on first use, then shared)."""
    return _console(stderr)
