"""The idxtool command line: one click group whose commands load lazily.

Each command lives in its own module (``idxtool/cli/<name>_cmd.py``), parses its options,
makes one call into the core and renders the result. Errors become exit codes here, in one
place: :meth:`IdxGroup.invoke`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import click

from .._version import __version__
from ..errors import IdxError

#: command name -> "module:attribute", imported only when the command runs or is listed.
COMMANDS: dict[str, str] = {
    "list": "idxtool.cli.list_cmd:list_cmd",
    "info": "idxtool.cli.info_cmd:info_cmd",
    "fetch": "idxtool.cli.fetch_cmd:fetch_cmd",
    "verify": "idxtool.cli.verify_cmd:verify_cmd",
    "inspect": "idxtool.cli.inspect_cmd:inspect_cmd",
    "convert": "idxtool.cli.convert_cmd:convert_cmd",
    "export-png": "idxtool.cli.export_png_cmd:export_png_cmd",
    "split": "idxtool.cli.split_cmd:split_cmd",
}


#: command name -> the first paragraph of its help: ``--help`` and completing a command name
#: show these without importing any command (start-up time). A test keeps them equal to the
#: commands' own help.
SUMMARIES: dict[str, str] = {
    "list": "List the registered datasets (built-in and from IDXTOOL_REGISTRY).",
    "info": "Show one dataset: files, sizes, hashes, URLs, classes, license, cache state.",
    "fetch": "Download datasets into the cache, verified by size and hash.",
    "verify": "Check datasets or files: size, hash, IDX structure, pairing and labels.",
    "inspect": "Show what IDX files hold: type, shape, compression, sizes, body check.",
    "convert": "Convert IDX files or a dataset to another format, or a converted file back to IDX.",
    "export-png": "Write images as 8-bit grayscale PNG files in class folders, or a contact sheet.",
    "split": "Split IDX images and labels into parts (train, val, ...), stratified and seeded.",
}


class IdxGroup(click.Group):
    """A group that imports each command on demand and maps IdxError to exit codes.

    The command list in ``--help`` and command-name completion use :data:`SUMMARIES`, so
    neither imports a command module.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        # A bare Command with the summary as help shortens it exactly as click does.
        rows = [(name, click.Command(name, help=SUMMARIES[name]).get_short_help_str(limit)) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        names = [CompletionItem(n, help=SUMMARIES[n]) for n in COMMANDS if n.startswith(incomplete)]
        return names + click.Command.shell_complete(self, ctx, incomplete)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        command = getattr(importlib.import_module(module), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{COMMANDS[name]} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> Any:
        with _terminate_cleanly():
            return self._invoke(ctx)

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
            _finishing()
            return result
        except IdxError as exc:
            _finishing()
            from .options import remedy

            _fail(ctx, remedy(exc), exc.exit_code)
        except KeyboardInterrupt:
            _finishing()
            _fail(ctx, "interrupted", 130)
        except BrokenPipeError:
            _finishing()
            sys.stderr.close()  # the reader went away (| head): not an error worth a message
            ctx.exit(141)
        except OSError as exc:
            _finishing()
            # Disk full, permission denied on an output, ...: name the file, no traceback.
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(ctx, f"{where}{exc.strerror or exc}", 1)


#: True in the ``idxtool`` program (:func:`run`), not where :func:`main` is called as a function.
_ending_process = False


def _finishing() -> None:
    """The command is over, its exit code decided: in the program, Ctrl-C is ignored from now on.

    A Ctrl-C landing in the last instructions (click's own exit) would otherwise become
    click's ``Aborted!`` and exit code 1 for a run that completed, or that failed for another
    reason. A process that is not ending (tests, a caller of :func:`main`) keeps its handler.
    """
    if _ending_process and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Terminated(BaseException):
    """SIGTERM arrived: unwind (every partial output is removed on the way), then die of it."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """``kill PID`` cleans up as Ctrl-C does, then ends the process by SIGTERM as callers expect."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except _Terminated:
        click.echo("Error: terminated", err=True)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise SystemExit(128 + signal.SIGTERM) from None  # only if SIGTERM is blocked
    finally:
        if signal.getsignal(signal.SIGTERM) is _raise_terminated:
            signal.signal(signal.SIGTERM, previous)


def _fail(ctx: click.Context, message: str, code: int) -> None:
    settings = ctx.find_object(Settings)
    if settings is not None and settings.verbose and sys.exc_info()[0] is not None:
        import traceback

        traceback.print_exc(file=sys.stderr)
    click.echo(f"Error: {message}", err=True)
    ctx.exit(code)


def fail_many(ctx: click.Context, errors: list[IdxError]) -> None:
    """Print one ``Error:`` line per failure and exit with the most severe code."""
    from .options import remedy

    for exc in errors[:-1]:
        click.echo(f"Error: {remedy(exc)}", err=True)
    _fail(ctx, remedy(errors[-1]), max(e.exit_code for e in errors))


class Settings:
    """Global options every command can read with ``click.get_current_context().find_object``."""

    def __init__(self, *, quiet: bool = False, verbose: int = 0) -> None:
        self.quiet = quiet
        self.verbose = verbose


@click.group(cls=IdxGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="idxtool", message="%(prog)s %(version)s")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (and --json output).")
@click.option("-v", "--verbose", count=True, help="Say more: retries, timings; tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, *, quiet: bool, verbose: int) -> None:
    """Fetch, verify, inspect and convert IDX datasets (MNIST and family).

    Exit codes: 0 success, 1 invalid or corrupt data, 2 usage error,
    3 download failed.
    """
    ctx.obj = Settings(quiet=quiet, verbose=0 if quiet else verbose)
    from .render import install_logging

    install_logging(quiet=quiet, verbose=0 if quiet else verbose)


def run() -> None:
    """The ``idxtool`` program: :func:`main`, then the process ends.

    On the way out the garbage collector is told to leave alone every object there is
    (``gc.freeze``): its final sweep over what numpy, click and the rest built took ~18 ms of a
    136 ms run (medians, tests/benchmarks/bench_startup.py), though nothing it could free
    matters to a process that is ending. Every output is closed by then; only a process that
    ends calls this (tests call :func:`main`).
    """
    import gc

    global _ending_process  # one flag, set once, by the program's entry point
    _ending_process = True
    try:
        main()
    finally:
        gc.freeze()
