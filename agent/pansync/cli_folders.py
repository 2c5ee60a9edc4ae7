"""The folder commands on the `pansync` group: conflicts, trash list|restore, exclude add|remove|list.

What the state database and the trashes hold about one folder, shown to people and changed on
their word. Registered by importing this module (`cli.py` does at its bottom).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from pansync.cli import Context, _emit_table, _errors, _open, cli
from pansync.errors import ConfigError
from pansync.output import out

__all__: list[str] = []


def _rel_arg(root: Path, path: str) -> str:
    """A path argument: relative to the folder root, or absolute inside it (DESIGN §5)."""
    from pansync.names import key_of, validate_rel_path

    candidate = Path(path)
    if candidate.is_absolute():
        try:
            rel = candidate.resolve(strict=False).relative_to(root.resolve(strict=False)).as_posix()
        except ValueError:
            raise ConfigError(f"{path} is not inside the folder {root}") from None
    else:
        rel = path.strip("/")
    return validate_rel_path(key_of(rel))


# -- reports ----------------------------------------------------------------------------------------


def _state(ctx: Context, folder: Any) -> Any:
    from pansync.session import folder_state_path
    from pansync.state import StateStore

    return StateStore(folder_state_path(ctx.locs, folder.name))


@contextmanager
def _exclusion(ctx: Context, name: str | None, path: str) -> Iterator[tuple[Any, Any, str]]:
    """The folder, its state database and PATH's key, for `exclude add` and `exclude remove`."""
    with _errors():
        folder = ctx.folders(name)[0]
        state = _state(ctx, folder)
        try:
            yield folder, state, _rel_arg(folder.local, path)
        finally:
            state.close()


@cli.command()
@click.option("--folder", "name", help="Only this folder.")
@click.pass_obj
def conflicts(ctx: Context, name: str | None) -> None:
    """List conflict copies: both versions were kept; compare them and delete the one you don't want.

    \b
    Example:
      pansync conflicts --folder main
    """
    with _errors():
        rows = []
        for folder in ctx.folders(name):
            state = _state(ctx, folder)
            for record in state.conflicts():
                when = datetime.fromtimestamp(record.detected_ns / 1e9, timezone.utc)
                rows.append(
                    [folder.name, record.key, record.copy_key, record.reason, f"{when:%Y-%m-%d %H:%M}"]
                )
            state.close()
        if rows:
            _emit_table(["folder", "path", "conflict copy", "reason", "when"], rows)
        else:
            out("No open conflicts.")


@cli.group()
def trash() -> None:
    """Deleted and replaced versions: list them, bring them back.

    \b
    Example:
      pansync trash list
      pansync trash restore 文档/报告.docx
    """


@trash.command("list")
@click.option("--folder", "name", help="Only this folder.")
@click.pass_obj
def trash_list(ctx: Context, name: str | None) -> None:
    """List the cloud trash (local deletions) and the local trash (cloud deletions).

    \b
    Example:
      pansync trash list --folder main
    """
    from pansync.trash import list_cloud_trash

    with _errors():
        rows = []
        for folder in ctx.folders(name):
            runner = _open(ctx, folder)
            for item in list_cloud_trash(runner.remote):
                when = item.trashed_at
                rows.append(
                    [
                        folder.name,
                        "cloud",
                        runner.remote.from_remote_name(item.path),
                        str(item.size),
                        f"{when:%Y-%m-%d %H:%M}" if when else item.batch,
                    ]
                )
            for record in runner.state.trash_records():
                when = datetime.fromtimestamp(record.trashed_ns / 1e9, timezone.utc)
                where = "system trash" if record.location.startswith("os-trash:") else record.location
                rows.append([folder.name, "local", record.key, where, f"{when:%Y-%m-%d %H:%M}"])
            runner.close()
        _emit_table(["folder", "where", "path", "size / location", "trashed"], rows)


@trash.command("restore")
@click.argument("path")
@click.option("--folder", "name", help="The folder PATH belongs to (needed with several folders).")
@click.pass_obj
def trash_restore(ctx: Context, path: str, name: str | None) -> None:
    """Bring back the newest trashed version of PATH (relative to the folder root).

    \b
    Example:
      pansync trash restore 文档/报告.docx
    """
    from pansync.restore import restore

    with _errors():
        folders = ctx.folders(name)
        if len(folders) > 1 and not Path(path).is_absolute():
            raise ConfigError("several folders are configured; say which with --folder")
        folder = folders[0]
        runner = _open(ctx, folder)
        try:
            message = restore(runner, _rel_arg(folder.local, path))
        finally:
            runner.close()
        out(message)


@cli.group()
def exclude() -> None:
    """Selective sync: cloud folders this computer does not download.

    \b
    Example:
      pansync exclude add 视频
      pansync exclude list
    """


@exclude.command("add")
@click.argument("path")
@click.option("--folder", "name", help="The folder PATH belongs to.")
@click.pass_obj
def exclude_add(ctx: Context, path: str, name: str | None) -> None:
    """Stop syncing PATH on this computer; its local copy leaves once it is safely in the cloud.

    \b
    Example:
      pansync exclude add 视频/2023
    """
    with _exclusion(ctx, name, path) as (folder, state, key):
        state.set_exclusion(key, pending=(folder.local / key).exists())
    out(f"Excluded {key}; the next sync moves the local copy to the trash once it is in the cloud.")


@exclude.command("remove")
@click.argument("path")
@click.option("--folder", "name", help="The folder PATH belongs to.")
@click.pass_obj
def exclude_remove(ctx: Context, path: str, name: str | None) -> None:
    """Sync PATH again; the next sync downloads it.

    \b
    Example:
      pansync exclude remove 视频/2023
    """
    with _exclusion(ctx, name, path) as (_, state, key):
        removed = state.remove_exclusion(key)
    out(f"{key} is synced again." if removed else f"{key} was not excluded.")


@exclude.command("list")
@click.option("--folder", "name", help="Only this folder.")
@click.pass_obj
def exclude_list(ctx: Context, name: str | None) -> None:
    """List excluded paths.

    \b
    Example:
      pansync exclude list
    """
    with _errors():
        for folder in ctx.folders(name):
            state = _state(ctx, folder)
            for key, pending in state.exclusions().items():
                note = " (local copy leaves at the next sync)" if pending else ""
                out(f"{folder.name}: {key}{note}")
            state.close()
