"""The `pansync` command: talks to people, delegates everything else.

Each command loads the configuration, builds what it needs and prints the outcome. Errors are
`PanSyncError`s printed as one line `title: message` on stderr with a non-zero exit: 1 when some
items could not be synced this time, 2 when a folder or the command itself could not run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from importlib import import_module
from pathlib import Path
from typing import Any, TypeVar

import click

from pansync import __version__, interrupts
from pansync.errors import ConfigError, PanSyncError
from pansync.output import err, error_line, is_terminal, out, rich_console
from pansync.paths import Locations, locations, resolve_config_path

__all__ = ["main", "program"]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_PARTIAL = 1
EXIT_ERROR = 2


class Context:
    """What every command needs: where things live and the loaded configuration."""

    def __init__(self, config_path: str | None, verbose: int) -> None:
        self.env = os.environ
        self.locs: Locations = locations(self.env)
        self.config_path = resolve_config_path(config_path, self.env)
        self.verbose = verbose
        self._config: tuple[tuple[int, int, int], Any] | None = None

    def config(self) -> Any:
        """The configuration, parsed once per version of the file (a sync asks three times)."""
        from pansync.config import CONFIG_CACHE_NAME, load_config

        try:
            st = self.config_path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ConfigError(
                f"no configuration at {self.config_path}; run `pansync init` to create one"
            ) from None
        except OSError:
            return load_config(self.config_path, env=self.env)  # which says what is wrong, and where
        version = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._config is None or self._config[0] != version:
            cache = self.locs.state_dir / CONFIG_CACHE_NAME
            self._config = (version, load_config(self.config_path, env=self.env, cache=cache))
        return self._config[1]

    def folders(self, name: str | None) -> list[Any]:
        config = self.config()
        if name is not None:
            return [config.folder(name)]
        if not config.folders:
            raise ConfigError(f"{self.config_path}: no folders configured; run `pansync init`")
        return list(config.folders)


def _emit_table(headers: list[str], rows: list[list[str]]) -> None:
    """A table on a terminal; one tab-separated line per row in a pipe, for scripts and grep."""
    if is_terminal():
        from rich.table import Table

        table = Table(*headers)
        for row in rows:
            table.add_row(*row)
        rich_console().print(table)
    else:
        for row in rows:
            out("\t".join(row))


def _fail(exc: PanSyncError) -> None:
    error_line(exc.title, exc.message)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except PanSyncError as exc:
        _fail(exc)
        sys.exit(EXIT_ERROR)


def _setup_logging(ctx: Context, console_output: bool = True) -> None:
    from pansync.log import configure_logging

    level = "info"
    with suppress(PanSyncError):
        level = ctx.config().log.level
    configure_logging(verbosity=ctx.verbose, log_dir=ctx.locs.log_dir, console=console_output, level=level)


def _open(ctx: Context, folder: Any) -> Any:
    from pansync.remote.factory import open_remote
    from pansync.session import FolderSync

    config = ctx.config()
    return FolderSync(config, folder, ctx.locs, open_remote(folder.remote, config, ctx.locs))


COMMANDS_ELSEWHERE = {
    **dict.fromkeys(["run", "start", "stop", "pause", "resume", "autostart"], "pansync.cli_agent"),
    **dict.fromkeys(["conflicts", "trash", "exclude"], "pansync.cli_folders"),
}
"""Commands defined in other modules, by the module that registers them on `cli`."""


class _Commands(click.Group):
    """The commands of `cli_agent` and `cli_folders` are imported when named (or listed by
    `--help`), not by every command's start-up: a sync does not load the agent's."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS_ELSEWHERE})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS_ELSEWHERE.get(cmd_name)
        if module is not None:
            import_module(module)  # registers its commands on this group
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="pansync")
@click.option("--config", "config_path", metavar="FILE", help="Configuration file to use.")
@click.option("-v", "--verbose", count=True, help="More output: -v decisions, -vv backend requests.")
@click.pass_context
def cli(click_ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """PanSync keeps local folders and Baidu Netdisk (or any mounted folder) in two-way sync.

    \b
    Example:
      pansync init            # set up ~/PanSync with a local test cloud
      pansync sync            # sync every folder once
    """
    click_ctx.obj = Context(config_path, verbose)


# -- init -------------------------------------------------------------------------------------------


@cli.command()
@click.option("--folder", "name", default="main", show_default=True, help="Name of the folder pair.")
@click.option("--local", "local", metavar="PATH", help="Local folder (default: ~/PanSync).")
@click.option("--remote", "remote", metavar="URL", help="file:///path or baidu:/apps/bypy/DIR.")
@click.option("--remark", is_flag=True, help="Confirm an existing folder whose marker is missing.")
@click.pass_obj
def init(ctx: Context, name: str, local: str | None, remote: str | None, remark: bool) -> None:
    """Create the configuration and a folder pair.

    Without --remote, a folder under PanSync's data dir stands in for the cloud, so you can try
    PanSync at once; switch to Baidu later with --remote baidu:/apps/bypy/DIR.

    \b
    Example:
      pansync init --local ~/文档/同步 --remote file:///mnt/nas/pansync
    """
    from pansync.config import parse_remote_url
    from pansync.config_file import add_folder, ensure_config

    with _errors():
        local_path = Path(local).expanduser() if local else Path.home() / "PanSync"
        default_remote = remote is None
        remote_url = remote or (ctx.locs.data_dir / "cloud" / name).as_uri()
        parse_remote_url(remote_url)
        config, created = ensure_config(ctx.config_path, env=ctx.env)
        if remark:
            folder = config.folder(name)
            sync = _open(ctx, folder)
            sync.remark_root()
            out(f"Marked {folder.local} as the folder '{name}'.")
            return
        if not any(f.name == name for f in config.folders):
            add_folder(ctx.config_path, name, str(local_path), remote_url, env=ctx.env)
        folder = ctx.config().folder(name)
        folder.local.mkdir(parents=True, exist_ok=True)
        if default_remote and folder.remote.scheme == "file":
            Path(folder.remote.path).mkdir(parents=True, exist_ok=True)
        verb = "Created" if created else "Using"
        out(f"{verb} configuration {ctx.config_path}")
        out(f"Folder '{name}': {folder.local}  <->  {folder.remote.url}")
        if default_remote:
            out(
                "The cloud side is a local folder for now. To sync with Baidu Netdisk, run "
                "`pansync auth`, then set this folder's remote to baidu:/apps/bypy/<dir> in the "
                "configuration file."
            )
        out("Next: `pansync sync`")


# -- sync -------------------------------------------------------------------------------------------


@cli.command()
@click.option("--folder", "name", help="Sync only this folder.")
@click.option("--dry-run", is_flag=True, help="Print what would be done; change nothing.")
@click.option("--force", is_flag=True, help="Allow more deletions than sync.max_delete, this time.")
@click.pass_obj
def sync(ctx: Context, name: str | None, dry_run: bool, force: bool) -> None:
    """Sync every folder (or one) once, both ways, and exit when they agree.

    Exit status: 0 when both sides agree, 1 when some items failed (retried next time),
    2 when a folder could not be synced at all.

    \b
    Example:
      pansync sync --folder main --dry-run
    """
    from pansync.progress import make_sink
    from pansync.session import SyncOptions

    _setup_logging(ctx)
    status = 0
    with _errors():
        folders = ctx.folders(name)
    if not dry_run:
        from pansync.agent_client import AgentSyncFailed, ask_agent_to_sync

        try:
            if ask_agent_to_sync(ctx.locs, name, force=force):
                sys.exit(0)  # the running agent did it, under its own lock and state
        except AgentSyncFailed as exc:
            _fail(exc)
            sys.exit(exc.exit_code)
    for folder in folders:
        try:
            runner = _open(ctx, folder)
        except PanSyncError as exc:
            _fail(exc)
            status = EXIT_ERROR
            continue
        try:
            with make_sink() as sink:
                runner.sink = sink
                result = runner.run(SyncOptions(dry_run=dry_run, force=force))
        except PanSyncError as exc:
            _fail(exc)
            status = EXIT_ERROR
            continue
        except KeyboardInterrupt:
            err("Interrupted: the action in flight was finished or rolled back.")
            sys.exit(130)
        finally:
            runner.close()
        _print_result(folder.name, result, dry_run)
        if result.failed and status == 0:
            status = EXIT_PARTIAL
    sys.exit(status)


def _print_result(name: str, result: Any, dry_run: bool) -> None:
    if dry_run:
        for line in result.dry_run_lines:
            out(line)
        out(f"{name}: {result.action_count} actions planned (dry run: nothing changed)")
        return
    for conflict in result.conflicts:
        out(f"conflict: {conflict.key} -> kept both; yours is {conflict.copy_key}")
    for issue in result.issues:
        out(f"skipped: {issue.rel_path}: {issue.message}")
    for failure in result.failed:
        out(f"failed: {failure.rel_path}: {failure.message}")
    state = "in sync" if result.converged else "not fully synced"
    out(
        f"{name}: {state} ({result.action_count} actions, {len(result.conflicts)} conflicts, "
        f"{len(result.issues)} skipped, {len(result.failed)} failed)"
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(ctx: Context, as_json: bool) -> None:
    """Show each folder's last sync, skipped items, conflicts and the lock holder.

    \b
    Example:
      pansync status --json
    """
    from pansync.agent_client import agent_status, render_agent_status
    from pansync.status import folder_status, render_status

    with _errors():
        folders = ctx.folders(None)
        reports = [folder_status(ctx, folder) for folder in folders]
        agent = agent_status(ctx.locs, [f.name for f in folders])
        if as_json:
            render_status(reports, as_json=True, agent=agent)
        else:
            render_agent_status(out, agent)
            render_status(reports, as_json=False)


@cli.command()
@click.option("--access-token", metavar="TOKEN", help="Store this access token (obtained elsewhere).")
@click.option("--refresh-token", metavar="TOKEN", help="Store this refresh token with it.")
@click.pass_obj
def auth(ctx: Context, access_token: str | None, refresh_token: str | None) -> None:
    """Authorize this computer for Baidu Netdisk (百度网盘).

    Opens Baidu's authorization page flow (through bypy) and stores the tokens in PanSync's state
    dir, readable only by you. Authorize every computer on its own: Baidu's refresh tokens work
    once, so a token file copied to a second computer breaks the first at its next refresh. On a
    headless server, pass tokens obtained elsewhere with --access-token and --refresh-token.

    \b
    Example:
      pansync auth
      pansync auth --access-token 21.abc... --refresh-token 22.def...
    """
    from pansync.auth import run_auth_flow, store_tokens

    with _errors():
        if access_token or refresh_token:
            if not (access_token and refresh_token):
                raise ConfigError("give both --access-token and --refresh-token")
            path = store_tokens(ctx.locs.state_dir, access_token, refresh_token)
        else:
            endpoint = None
            with suppress(PanSyncError):
                endpoint = ctx.config().baidu.endpoint

            def prompt(message: str) -> str:
                out(message)
                return click.prompt("Authorization code", hide_input=False)

            path = run_auth_flow(ctx.locs.state_dir, prompt=prompt, endpoint=endpoint)
        out(f"Tokens stored in {path} (mode 0600). Authorize each computer on its own.")


@cli.command()
@click.option("--folder", "name", help="Only this folder's remote.")
@click.pass_obj
def clients(ctx: Context, name: str | None) -> None:
    """List the computers that sync each folder, marking those not seen for clients.stale_after.

    \b
    Example:
      pansync clients
    """
    from pansync.clients import is_stale, list_clients

    with _errors():
        config = ctx.config()
        rows = []
        for folder in ctx.folders(name):
            runner = _open(ctx, folder)
            now_ns = runner.remote.server_time_ns()
            for record in list_clients(runner.remote):
                if not record.readable:
                    rows.append([folder.name, record.client_id[:8], "(unreadable record)", "", "", "", ""])
                    continue
                stale = is_stale(record, now_ns, config.clients.stale_after)
                rows.append(
                    [
                        folder.name,
                        record.client_id[:8],
                        record.name,
                        record.host,
                        record.platform,
                        record.version,
                        _iso(record.last_seen_ns) + ("  (stale)" if stale else ""),
                    ]
                )
            runner.close()
        _emit_table(["folder", "id", "name", "host", "platform", "version", "last seen"], rows)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@cli.command()
@click.option("--force", is_flag=True, required=True, help="Required: you checked no sync is running.")
@click.option("--folder", "name", help="Only this folder.")
@click.pass_obj
def unlock(ctx: Context, force: bool, name: str | None) -> None:
    """Remove a folder's lock, whoever holds it (for a holder that died; check first).

    \b
    Example:
      pansync unlock --force --folder main
    """
    from pansync.lock import force_unlock

    with _errors():
        for folder in ctx.folders(name):
            runner = _open(ctx, folder)
            removed = force_unlock(runner.remote)
            runner.close()
            if removed is None:
                out(f"{folder.name}: the lock was free.")
            else:
                out(f"{folder.name}: removed the lock of {removed.describe()}.")


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script.

    \b
    Example:
      pansync completion bash > ~/.local/share/bash-completion/completions/pansync
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "pansync", "_PANSYNC_COMPLETE").source())


def main() -> None:
    """SIGTERM (a service manager, `kill`) stops a command as Ctrl-C does: the action in flight
    finishes or is rolled back, and the lock is released (`interrupts`); the exit status is 130
    wherever it lands (click's own handling would say "Aborted!" and exit with 1 before a command
    starts). The agent installs its own handlers."""
    interrupts.install()
    try:
        code = cli.main(prog_name="pansync", standalone_mode=False)
    except (KeyboardInterrupt, click.Abort):
        err("Interrupted.")
        sys.exit(130)
    except click.ClickException as exc:  # a usage error: click's message and status
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: say so in one line, keep the traceback in the log
        from pansync.log import get_logger

        get_logger("pansync.cli").exception("internal error")
        error_line(
            "Internal error",
            f"{type(exc).__name__}: {exc}. This is a bug in PanSync; "
            "the log file has the details (run with -v to see them here).",
        )
        sys.exit(3)
    sys.exit(code if type(code) is int else 0)  # `ctx.exit(n)`'s status; a command's return value is none


def program() -> None:
    """The `pansync` executable: `main`, then an exit without the interpreter's teardown
    (`process_exit`). `main` itself raises `SystemExit`, for callers in the same process."""
    from pansync.process_exit import leave

    try:
        main()
    except SystemExit as exc:
        leave(exc.code)
