"""A plain-text :class:`~idxtool.progress.ProgressFactory` for library calls on a terminal.

``idxtool.load`` and the torchvision-compatible classes show it on standard error while they
fetch, when standard error is a terminal (and ``NO_COLOR``-style quiet is not asked for by
``IDXTOOL_NO_PROGRESS``). One line, redrawn in place at most ten times a second, sums every
task: ``idxtool: fetching 2 files 3.1 MB / 9.9 MB (31%)``. It needs nothing but the
standard library (no rich), and is thread-safe (downloads report from worker threads).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

from .progress import Progress, ProgressFactory

__all__ = ["TextProgress", "auto"]


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


class _Task:
    def __init__(self, owner: TextProgress, total: int | None, unit: str) -> None:
        self.owner, self.total, self.unit, self.done, self.open = owner, total, unit, 0, True

    def update(self, done: int, total: int | None = None) -> None:
        with self.owner.lock:
            self.done = done
            if total is not None:
                self.total = total
        self.owner.draw()

    def close(self) -> None:
        with self.owner.lock:
            self.open = False
        self.owner.draw(final=True)


class TextProgress:
    """One self-redrawing line on ``stream`` summing every task; a newline when all are closed.

    Parameters
    ----------
    stream
        Where to draw (default: standard error).
    what
        The verb shown (``fetching``).
    """

    def __init__(self, stream: TextIO | None = None, what: str = "fetching") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.what = what
        self.lock = threading.Lock()
        self.tasks: list[_Task] = []
        self.last = 0.0
        self.drawn = False

    def __call__(self, description: str, total: int | None, unit: str) -> Progress:
        task = _Task(self, total, unit)
        with self.lock:
            self.tasks.append(task)
        return task

    def line(self) -> str:
        """The current line: the files and the bytes (or items) done of the known total."""
        tasks = self.tasks
        done = sum(t.done for t in tasks)
        totals = [t.total for t in tasks]
        known = None if any(t is None for t in totals) else sum(t or 0 for t in totals)
        as_bytes = all(t.unit == "bytes" for t in tasks)
        show = _size if as_bytes else (lambda n: f"{n:,.0f}")
        text = f"idxtool: {self.what} {len(tasks)} file{'s' if len(tasks) != 1 else ''} {show(done)}"
        if known:
            text += f" / {show(known)} ({100 * done / known:.0f}%)"
        return text

    def draw(self, *, final: bool = False) -> None:
        """Redraw at most ten times a second; the end line always, followed by a newline."""
        with self.lock:
            finished = all(not t.open for t in self.tasks)
            now = time.monotonic()
            if not (final and finished) and now - self.last < 0.1:
                return
            self.last = now
            try:
                self.stream.write("\r" + self.line() + ("\n" if finished else ""))
                self.stream.flush()
            except (OSError, ValueError):  # a closed or broken stderr must not break a download
                return
            self.drawn = not finished


def auto() -> ProgressFactory | None:
    """A :class:`TextProgress` on standard error when it is a terminal, else None (silent)."""
    stream = sys.stderr
    try:
        tty = stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if not tty or os.environ.get("IDXTOOL_NO_PROGRESS"):
        return None
    return TextProgress(stream)
