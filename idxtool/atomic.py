"""Atomic files: write beside the target under a temporary name, then rename into place.

The rules for what an output may replace live in :mod:`idxtool.outputs`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from .errors import IdxError, OutputError


def temp_name(target: Path) -> Path:
    """A hidden temporary name beside ``target``, unique to this process and call.

    ``.NAME.PID.RANDOM.tmp``: the PID tells a later run whether its writer is still alive
    (see :func:`temp_owner`).
    """
    return target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


def temp_owner(target: Path, name: str) -> int | None:
    """The PID in ``name`` if it is one of :func:`temp_name`'s names for ``target``, else None.

    Examples
    --------
    >>> temp_owner(Path("out/tree"), ".tree.4242.0a1b2c3d.tmp")
    4242
    >>> temp_owner(Path("out/tree"), ".tree.4242.tmp") is None
    True
    """
    m = re.fullmatch(rf"\.{re.escape(target.name)}\.([0-9]{{1,10}})\.[0-9a-f]{{8}}\.tmp", name)
    return int(m[1]) if m else None


@contextlib.contextmanager
def naming_targets(pairs: Sequence[tuple[Path, Path]]) -> Iterator[None]:
    """Turn an OSError while writing into OutputError naming the target, never the temp file."""
    try:
        yield
    except IdxError:  # already says what and where (OutputExistsError is an OSError too)
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
    temp = temp_name(target)
    with naming_targets([(temp, target)]):
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
