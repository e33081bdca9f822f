"""The one progress protocol between the library and whoever shows progress.

Long operations take ``progress: ProgressFactory | None``. They call it once per task
(``progress("mnist/train-images-idx3-ubyte.gz", total=9912422, unit="bytes")``) and then
``update`` the returned :class:`Progress` with the amount done so far, and ``close`` it.
The CLI turns this into rich bars; library callers pass nothing, or their own factory.
Implementations must be thread-safe: downloads report from worker threads.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """One task's progress: ``update`` with the amount done (and the total when it changes)."""

    def update(self, done: int, total: int | None = None) -> None:
        """Report ``done`` units finished out of ``total`` (None: unchanged or unknown)."""

    def close(self) -> None:
        """The task is over (finished or abandoned)."""


class ProgressFactory(Protocol):
    """Starts a :class:`Progress` for one task: a description, a total and a unit."""

    def __call__(self, description: str, total: int | None, unit: str) -> Progress:
        """A new task; ``unit`` is ``"bytes"``, ``"images"`` or ``"records"``."""
        ...


class _Silent:
    """A Progress that shows nothing."""

    def update(self, done: int, total: int | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def start(factory: ProgressFactory | None, description: str, total: int | None, unit: str) -> Progress:
    """``factory(description, total, unit)``, or a silent Progress when there is no factory."""
    return _Silent() if factory is None else factory(description, total, unit)
