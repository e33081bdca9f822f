"""Open any file by its content: raw, gzip, xz or bz2, whatever its name says.

Paths and binary file objects alike, including streams that cannot seek (pipes, standard
input, HTTP bodies): the first bytes are read to tell the compression, then replayed in
front of the rest, so nothing is lost and nothing needs to seek.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, Protocol, TypeVar, cast

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

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

_T = TypeVar("_T")
_R = TypeVar("_R")


class SourceReadError(OSError):
    """Reading a caller's file object failed with an exception that is not an OSError.

    HTTP clients raise their own types for a dropped connection (``http.client.IncompleteRead``,
    urllib3's ``ProtocolError``); they arrive here as one OSError, the original as its cause.
    """


class BinaryReadable(Protocol):
    """What a binary file object needs for reading: ``read(size) -> bytes``."""

    def read(self, size: int = ..., /) -> bytes: ...


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


#: Bytes needed to tell every supported compression apart (the xz magic is the longest).
HEAD_BYTES = max(len(magic) for magic, _ in _MAGICS)


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


def decompressing(fileobj: IO[bytes], kind: Compression) -> IO[bytes]:
    """Wrap an open binary file in the decompressing reader for ``kind``.

    Parameters
    ----------
    fileobj : binary file object
        Read from its current position; it need not be seekable.
    kind : {"raw", "gzip", "xz", "bz2"}
        The compression (gzip through isal when installed, else the standard library).

    Returns
    -------
    binary file object
        A reader of the decompressed bytes (``fileobj`` itself for ``"raw"``). Closing it
        never closes ``fileobj``.

    Examples
    --------
    >>> import io, lzma
    >>> decompressing(io.BytesIO(lzma.compress(b"idx")), "xz").read()
    b'idx'
    """
    if kind == "gzip":
        return cast(IO[bytes], _gzip.open(fileobj, "rb"))  # type: ignore[no-untyped-call]
    if kind == "xz":
        return lzma.LZMAFile(fileobj, "rb")
    if kind == "bz2":
        return bz2.BZ2File(fileobj, "rb")
    return fileobj


class _Replay(io.RawIOBase):
    """A read-only stream that gives back bytes already read from ``source``, then the rest of it.

    Closing it leaves ``source`` open: the source belongs to whoever opened it.
    """

    def __init__(self, head: bytes, source: BinaryReadable) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._source = source
        self._readinto = getattr(source, "readinto", None)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        if self._readinto is not None:
            return int(_guarded(self._readinto, view) or 0)
        data = _guarded(self._source.read, len(view))
        view[: len(data)] = data
        return len(data)


def _guarded(read: Callable[[_T], _R], arg: _T) -> _R:
    """Call a caller's read method; failures other than OSError become SourceReadError."""
    try:
        return read(arg)
    except OSError:
        raise
    except Exception as exc:  # an HTTP client's own "connection dropped" types, a closed file's ValueError
        raise SourceReadError(f"{type(exc).__name__}: {exc}") from exc


def read_head(source: BinaryReadable, size: int = HEAD_BYTES) -> bytes:
    """Read ``size`` bytes from ``source``, fewer only at its end (short reads are retried).

    Parameters
    ----------
    source : binary file object
        Anything with ``read(size) -> bytes``.
    size : int, optional
        How many bytes; default enough to tell every supported compression apart.

    Returns
    -------
    bytes
        The bytes read: ``size`` of them unless the stream ended first.

    Raises
    ------
    TypeError
        If ``source`` gives ``str`` (a file opened in text mode).

    Examples
    --------
    >>> import io
    >>> read_head(io.BytesIO(b"BZh91AY&SY"))
    b'BZh91A'
    """
    head = b""
    while len(head) < size:
        piece = _guarded(source.read, size - len(head))
        if not piece:  # b"" at the end; None from a non-blocking stream with nothing yet
            break
        if not isinstance(piece, bytes | bytearray | memoryview):
            raise TypeError(f"read() gave {type(piece).__name__}, not bytes: open the file in binary mode ('rb')")
        head += bytes(piece)
    return head


def open_stream(source: BinaryReadable) -> tuple[Compression, IO[bytes]]:
    """Tell the compression of a binary file object by content and open its decompressed bytes.

    Reading starts at the stream's current position and only moves forward, so pipes,
    standard input and HTTP bodies work: the first bytes are read to tell the compression,
    then replayed in front of the rest.

    Parameters
    ----------
    source : binary file object
        Anything with ``read(size) -> bytes``; ``readinto`` is used when present.

    Returns
    -------
    tuple of (str, binary file object)
        The compression (``"raw"``, ``"gzip"``, ``"xz"`` or ``"bz2"``) and a reader of the
        decompressed bytes. Closing the reader never closes ``source``.

    Raises
    ------
    TypeError
        If ``source`` is open in text mode.

    Examples
    --------
    >>> import gzip, io
    >>> kind, reader = open_stream(io.BytesIO(gzip.compress(b"hello")))
    >>> kind, reader.read()
    ('gzip', b'hello')
    """
    head = read_head(source)
    kind = sniff(head)
    return kind, decompressing(cast(IO[bytes], _Replay(head, source)), kind)


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
