"""Atomic outputs: write beside the target under a temporary name, then rename into place."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from .errors import OutputError, OutputExistsError


def check_writable(path: str | os.PathLike[str], force: bool) -> Path:
    """Refuse to replace an existing output unless ``force`` is set."""
    target = Path(path)
    if target.exists() and not force:
        raise OutputExistsError(f"{target}: already exists (pass --force to overwrite it)")
    return target


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def _naming_targets(pairs: Sequence[tuple[Path, Path]]) -> Iterator[None]:
    """Turn an OSError while writing into OutputError naming the target, never the temp file."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        name = os.fspath(exc.filename) if exc.filename is not None else None
        reason = exc.strerror or str(exc)
        where = next((str(target) for temp, target in pairs if name and name.startswith(str(temp))), None)
        if where is None:  # e.g. the folder could not be made: name the target, say what blocked it
            where = str(pairs[0][1]) if len(pairs) == 1 else str(pairs[0][1].parent)
            if name and name != where:
                reason = f"{reason}: {name}"
        raise OutputError(exc.errno, reason, where) from exc


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Yield a binary file that becomes ``path`` only if the block finishes without error."""
    target = Path(path)
    temp = _temp_name(target)
    with _naming_targets([(temp, target)]):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (file or folder) that replaces it on success.

    For writers that want a path rather than an open file (numpy's savez, folder trees).
    An existing folder at ``path`` is replaced only once the new one is complete.
    """
    target = Path(path)
    temp = _temp_name(target)
    with _naming_targets([(temp, target)]):
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _naming_targets([(temp, target)]):
            yield temp
        if target.is_dir() and not target.is_symlink():
            old = _temp_name(target)
            os.replace(target, old)
            os.replace(temp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temp, target)
    except BaseException:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        raise


@contextlib.contextmanager
def atomic_files(targets: Sequence[Path], force: bool) -> Iterator[list[Path]]:
    """Yield temporary paths for ``targets``; they replace the targets only if the block succeeds.

    For outputs that appear together or not at all. Existing targets are refused unless
    ``force``. On any error (or Ctrl-C) every temporary file is removed, no target is
    touched, and folders made for the outputs are removed again.
    """
    for target in targets:
        check_writable(target, force)
    temps = [_temp_name(t) for t in targets]
    created = [d for d in dict.fromkeys(t.parent for t in targets) if not d.exists()]
    with _naming_targets(list(zip(temps, targets))):
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _naming_targets(list(zip(temps, targets))):
            yield temps
        for temp, target in zip(temps, targets):
            os.replace(temp, target)
    except BaseException:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
