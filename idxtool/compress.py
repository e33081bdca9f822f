"""Open any file by its content: raw, gzip, xz or bz2, whatever its name says."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from pathlib import Path
from typing import IO, Literal, cast

try:  # isal decompresses gzip about 2x faster than stdlib zlib; stdlib is the fallback.
    from isal import igzip as _gzip
except ImportError:  # pragma: no cover - exercised only without isal installed
    import gzip as _gzip  # type: ignore[no-redef]

Compression = Literal["raw", "gzip", "xz", "bz2"]
COMPRESSIONS: tuple[Compression, ...] = ("raw", "gzip", "xz", "bz2")

_MAGICS: tuple[tuple[bytes, Compression], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bz2"),
)

SUFFIXES: dict[str, Compression] = {".gz": "gzip", ".xz": "xz", ".bz2": "bz2"}


def _stream_errors() -> tuple[type[BaseException], ...]:
    import zlib

    errors: list[type[BaseException]] = [EOFError, OSError, lzma.LZMAError, ValueError, zlib.error]
    try:
        from isal import igzip_lib, isal_zlib

        errors += [isal_zlib.error, igzip_lib.IsalError]  # type: ignore[list-item]  # isal's stubs
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


#: Errors the decompressors raise for truncated or corrupt streams.
STREAM_ERRORS = _stream_errors()

#: Default gzip level for writing: level 9 is ~14x slower than 6 for ~2% smaller files.
GZIP_LEVEL = 6


def sniff(head: bytes) -> Compression:
    """Tell the compression from a file's first bytes."""
    for magic, name in _MAGICS:
        if head.startswith(magic):
            return name
    return "raw"


def detect(path: str | os.PathLike[str]) -> Compression:
    """Tell the compression of the file at ``path`` from its content."""
    with open(path, "rb") as fh:
        return sniff(fh.read(6))


def from_suffix(path: str | os.PathLike[str]) -> Compression:
    """The compression a file name asks for when written: .gz, .xz, .bz2, else raw."""
    return SUFFIXES.get(Path(path).suffix.lower(), "raw")


def open_read(path: str | os.PathLike[str], compression: Compression | None = None) -> IO[bytes]:
    """Open ``path`` for reading its decompressed bytes."""
    kind = compression or detect(path)
    if kind == "gzip":
        return cast(IO[bytes], _gzip.open(path, "rb"))  # type: ignore[no-untyped-call]
    if kind == "xz":
        return lzma.open(path, "rb")
    if kind == "bz2":
        return bz2.open(path, "rb")
    return open(path, "rb")


def open_write(fileobj: IO[bytes], compression: Compression, level: int | None = None) -> IO[bytes]:
    """Wrap an open binary file so that what is written to it is compressed."""
    if compression == "gzip":  # stdlib zlib: isal's levels stop at 3 and compress ~7% worse
        level = GZIP_LEVEL if level is None else level
        # filename="" and mtime=0: the same data gives the same bytes, whatever the temp name.
        return cast(IO[bytes], gzip.GzipFile(filename="", fileobj=fileobj, mode="wb", compresslevel=level, mtime=0))
    if compression == "xz":
        return lzma.LZMAFile(fileobj, "wb", preset=6 if level is None else level)
    if compression == "bz2":
        return bz2.BZ2File(fileobj, "wb", compresslevel=9 if level is None else level)
    return fileobj
