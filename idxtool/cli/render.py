"""Shared rendering for commands: consoles, JSON, progress bars, human sizes.

stdout carries results (tables or one JSON document); stderr carries progress, warnings and
logs. Colour and bars appear only on a terminal, never with NO_COLOR or --quiet.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


def settings() -> Any:
    """The global options (quiet, verbose) of the running command."""
    from . import Settings

    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(Settings) if ctx else None
    return found or Settings()


def _no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def _console(stream: Any) -> Console:
    """A rich console on ``stream``: colour only on a terminal without NO_COLOR; silent with -q."""
    from rich.console import Console

    tty = stream.isatty()
    return Console(
        file=stream,
        # Off a terminal, rich's 80 columns would fold file names; COLUMNS still wins.
        width=None if tty or os.environ.get("COLUMNS") else 160,
        no_color=_no_color() or not tty,
        force_terminal=tty and not _no_color(),
        highlight=False,
        soft_wrap=not tty and stream is sys.stdout,
        quiet=settings().quiet,
    )


def stdout_console() -> Console:
    """Results: tables and previews."""
    return _console(sys.stdout)


def stderr_console() -> Console:
    """Progress, warnings and logs."""
    return _console(sys.stderr)


def _jsonable(value: Any) -> Any:
    """numpy arrays and scalars become lists and Python numbers; paths become strings."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout and nothing else."""
    click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=_jsonable))


def log(message: str, *, level: int = 0) -> None:
    """A line on stderr: level 0 unless --quiet, level 1 only with --verbose."""
    s = settings()
    if s.quiet or s.verbose < level:
        return
    click.echo(message, err=True)


class _Handler(logging.Handler):
    """idxtool's log records on stderr: above live progress bars when there are any.

    Warnings read ``Warning: ...``; info and debug lines are printed as they are. Safe
    from worker threads (downloads log from them).
    """

    def __init__(self) -> None:
        super().__init__()
        self.lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            message = f"Warning: {message}"
        with self.lock_:
            live = _live[-1] if _live else None
            if live is not None:
                live.console.print(message, markup=False, highlight=False, soft_wrap=True)
            else:
                sys.stderr.write(message + "\n")
                sys.stderr.flush()


#: Progress displays currently on screen (log lines print above the newest).
_live: list[Any] = []


def install_logging(*, quiet: bool, verbose: int) -> None:
    """Route the ``idxtool`` loggers to stderr: -q shows nothing, -v info, -vv debug.

    Default: warnings and the lines a command says to the user (level INFO on the
    ``idxtool.say`` logger); ``-v`` adds every INFO, ``-vv`` DEBUG.
    """
    root = logging.getLogger("idxtool")
    for handler in list(root.handlers):
        if isinstance(handler, _Handler):
            root.removeHandler(handler)
    root.propagate = False
    handler = _Handler()
    root.addHandler(handler)
    if quiet:
        root.setLevel(logging.CRITICAL + 1)
    else:
        root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING)


def show_progress() -> bool:
    """Bars only when stdout and stderr are terminals, without --quiet or NO_COLOR."""
    return sys.stdout.isatty() and sys.stderr.isatty() and not settings().quiet and not _no_color()


@contextmanager
def progress(unit: str = "items", *, transient: bool = False) -> Iterator[Progress | None]:
    """A rich Progress on stderr with rate and ETA, or None when bars must not show.

    ``unit="bytes"`` shows sizes and transfer speed (downloads); anything else shows
    ``done/total`` and ``N <unit>/s``.
    """
    if not show_progress():
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None and task.elapsed:  # too quick for rich's sampled speed
                speed = task.completed / task.elapsed
            return Text("" if speed is None else f"{speed:,.0f} {unit}/s", style="progress.data.speed")

    counted: tuple[ProgressColumn, ...] = (
        (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(), RateColumn())
    )
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        *counted,
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=transient,
    ) as bar:
        _live.append(bar)
        try:
            yield bar
        finally:
            _live.remove(bar)


def human_bytes(n: int | None) -> str:
    """1234567 -> '1.2 MB'."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


class _Task:
    """One rich task behind the library's Progress protocol."""

    def __init__(self, bars: Bars, task: Any) -> None:
        self.bars, self.task = bars, task

    def update(self, done: int, total: int | None = None) -> None:
        self.bars.update(self.task, done, total)

    def close(self) -> None:
        """Tasks stay on screen until the bars end (transient bars vanish then)."""


class _Nothing:
    def update(self, done: int, total: int | None = None) -> None:
        pass

    def close(self) -> None:
        pass


class Bars:
    """The library's ProgressFactory as rich bars on stderr, started by the first task.

    Starting late matters: the PNG writer forks its worker processes first, and a bar's
    refresh thread should not exist when it does. Thread-safe (downloads report from
    worker threads). Use as a context manager; off a terminal it shows nothing.
    """

    def __init__(self, unit: str = "items", *, transient: bool = False) -> None:
        self.unit, self.transient = unit, transient
        self.stack = contextlib.ExitStack()
        self.bar: Any = None
        self.off = not show_progress()
        self.lock = threading.Lock()

    def __enter__(self) -> Bars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def __call__(self, description: str, total: int | None, unit: str) -> _Task | _Nothing:
        with self.lock:
            if self.off:
                return _Nothing()
            if self.bar is None:
                self.bar = self.stack.enter_context(progress(unit=unit, transient=self.transient))
            return _Task(self, self.bar.add_task(description, total=total))

    def update(self, task: Any, done: int, total: int | None) -> None:
        with self.lock:
            if total is None:
                self.bar.update(task, completed=done)
            else:
                self.bar.update(task, completed=done, total=total)
