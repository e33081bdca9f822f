"""Several output files that appear together or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from ..atomic import check_writable


def temp_beside(target: Path) -> Path:
    """A fresh temporary name in the target's folder (same file system: rename is atomic)."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def atomic_files(targets: Sequence[Path], force: bool) -> Iterator[list[Path]]:
    """Yield temporary paths for ``targets``; they replace the targets only if the block succeeds.

    Existing targets are refused unless ``force``. On any error (or Ctrl-C) every temporary
    file is removed and no target is touched.
    """
    for target in targets:
        check_writable(target, force)
    temps = [temp_beside(t) for t in targets]
    created = [d for d in dict.fromkeys(t.parent for t in targets) if not d.exists()]
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield temps
        for temp, target in zip(temps, targets):
            os.replace(temp, target)
    except BaseException:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        for folder in created:  # a folder made for outputs that never came goes too
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def open_new(path: Path) -> IO[bytes]:
    """Open a new file for writing without its name on the object (gzip would record the temp name)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666), "wb")


def split_name(base: str, split: str, sep: str = "_") -> str:
    """``x`` for a lone pair, ``x_train`` for a split."""
    return f"{base}{sep}{split}" if split else base
