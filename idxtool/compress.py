"""Open any file by its content: raw, gzip, xz or bz2, whatever its name says.

Paths and binary file objects alike, including streams that cannot seek (pipes, standard
input, HTTP bodies): the first bytes are read to tell the compression, then replayed in
front of the rest, so nothing is lost and nothing needs to seek.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import struct
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


def default_threads() -> int:
    """The number of cores this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def open_write(
    fileobj: IO[bytes], compression: Compression, level: int | None = None, *, threads: int | None = None
) -> IO[bytes]:
    """Wrap an open binary file so that what is written to it is compressed.

    Parameters
    ----------
    fileobj : binary file object
        Where the compressed bytes go; closing the returned writer never closes it.
    compression : {"raw", "gzip", "xz", "bz2"}
        The compression (``"raw"`` returns ``fileobj`` itself).
    level : int, optional
        The compression level; default 6 for gzip and xz, 9 for bz2.
    threads : int, optional
        gzip only: how many threads compress blocks at once; default the number of cores.
        The bytes written do not depend on it (see :class:`ParallelGzipWriter`).

    Returns
    -------
    binary file object
        A writer; close it to finish the compressed stream.

    Raises
    ------
    ParameterError
        ``level`` or ``threads`` is out of range.

    Examples
    --------
    >>> import gzip, io
    >>> out = io.BytesIO()
    >>> with open_write(out, "gzip", threads=2) as w:
    ...     _ = w.write(b"idx" * 1000)
    >>> gzip.decompress(out.getvalue()) == b"idx" * 1000
    True
    """
    if compression == "gzip":
        return cast(
            IO[bytes], ParallelGzipWriter(fileobj, level=GZIP_LEVEL if level is None else level, threads=threads)
        )
    if compression == "xz":
        return lzma.LZMAFile(fileobj, "wb", preset=6 if level is None else level)
    if compression == "bz2":
        return bz2.BZ2File(fileobj, "wb", compresslevel=9 if level is None else level)
    return fileobj


class ParallelGzipWriter(io.BufferedIOBase):
    """Write one gzip member whose deflate blocks are compressed by several threads (as pigz does).

    The input is cut into blocks of :attr:`BLOCK` bytes. Each block is compressed on its own
    with zlib (which releases the GIL), primed with the last 32 KiB of the block before it
    (so the ratio stays that of one stream), and ends on a byte boundary with a sync flush;
    the last one ends the deflate stream. The blocks, joined in order, are one ordinary
    deflate stream: gzip, zcat, pigz, isal and Python's gzip read the file as usual. The
    CRC-32 of each block is computed in its thread and the CRCs combined.

    The bytes depend only on the data and the level, never on the thread count, nor on how
    the data was split into ``write`` calls: the same input always gives the same file.
    Memory stays at a few blocks per thread.

    Parameters
    ----------
    fileobj : binary file object
        Where the gzip bytes go; left open by :meth:`close`.
    level : int
        zlib level, 0 to 9.
    threads : int, optional
        Compressing threads; default the number of cores. 1 compresses in the caller's thread.
    """

    #: Bytes of input per independently compressed block.
    BLOCK = 1 << 20
    #: How much of the previous block primes the next one (deflate's window).
    WINDOW = 32 << 10
    #: Blocks in flight per thread before the writer waits for the oldest.
    DEPTH = 2

    def __init__(self, fileobj: IO[bytes], *, level: int = GZIP_LEVEL, threads: int | None = None) -> None:
        from .errors import ParameterError

        super().__init__()
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
            raise ParameterError("level", level, "must be an integer from 0 to 9 for gzip")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ParameterError("threads", threads, "must be a positive integer")
        self._out = fileobj
        self._level = level
        self._threads = default_threads() if threads is None else threads
        self._pending = bytearray()  # input not yet cut into a block
        self._window = b""  # the last WINDOW bytes of the previous block
        self._crc = 0
        self._size = 0
        self._finished = False
        self._broken = False  # writing to fileobj failed: close() adds nothing more
        from collections import deque
        from concurrent.futures import Future, ThreadPoolExecutor

        self._queue: deque[Future[tuple[bytes, int, int]]] = deque()
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="idxtool-gzip") if self._threads > 1 else None
        xfl = 2 if level == 9 else 4 if level == 1 else 0  # as gzip.GzipFile writes it
        self._out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + bytes((xfl, 255)))  # no name, mtime 0

    def writable(self) -> bool:
        return True

    def write(self, data: WriteableBuffer) -> int:
        if self.closed or self._finished:
            raise ValueError("write to a closed gzip writer")
        view = memoryview(data).cast("B")
        n = len(view)
        start = 0
        if self._pending:  # complete the block already begun
            take = min(n, self.BLOCK - len(self._pending))
            self._pending += view[:take]
            start = take
            if len(self._pending) < self.BLOCK:
                return n
            self._submit(bytes(self._pending), last=False)
            self._pending.clear()
        while n - start >= self.BLOCK:  # whole blocks straight from the caller's buffer (copied once)
            self._submit(bytes(view[start : start + self.BLOCK]), last=False)
            start += self.BLOCK
        self._pending += view[start:]
        return n

    def _submit(self, block: bytes, *, last: bool) -> None:
        window, self._window = self._window, block[-self.WINDOW :]
        if self._pool is None:
            self._emit(_deflate_block(block, window, self._level, last=last))
            return
        self._queue.append(self._pool.submit(_deflate_block, block, window, self._level, last=last))
        while len(self._queue) > self.DEPTH * self._threads:  # bounded memory: wait for the oldest
            self._emit(self._queue.popleft().result())

    def _emit(self, result: tuple[bytes, int, int]) -> None:
        packed, crc, size = result
        self._broken = True  # until the write returns: a failed write leaves no trailer to add
        self._out.write(packed)
        self._broken = False
        self._crc = _crc_combine(self._crc, crc, size)
        self._size += size

    def flush(self) -> None:
        """Write out the blocks already compressed (a partial block waits for more data)."""
        if not self.closed and not self._finished:
            while self._queue and self._queue[0].done():
                self._emit(self._queue.popleft().result())
        flush = getattr(self._out, "flush", None)
        if flush is not None and not getattr(self._out, "closed", False):
            flush()

    def close(self) -> None:
        """Compress what is left, write the gzip trailer; ``fileobj`` stays open."""
        if self.closed:
            return
        try:
            if not self._finished and not self._broken and not getattr(self._out, "closed", False):
                self._finished = True
                self._submit(bytes(self._pending), last=True)
                self._pending.clear()
                while self._queue:
                    self._emit(self._queue.popleft().result())
                self._out.write(struct.pack("<II", self._crc & 0xFFFFFFFF, self._size & 0xFFFFFFFF))
        finally:
            for future in self._queue:
                future.cancel()
            self._queue.clear()
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            super().close()


def _deflate_block(block: bytes, window: bytes, level: int, *, last: bool) -> tuple[bytes, int, int]:
    """Raw deflate of one block primed with ``window``; ends with a sync flush unless ``last``."""
    import zlib

    if window:
        packer = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, window)
    else:
        packer = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
    packed = packer.compress(block) + packer.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
    return packed, _crc32(block), len(block)


def _crc_tools() -> tuple[Callable[[bytes], int], Callable[[int, int, int], int]]:
    try:
        from isal import isal_zlib

        return isal_zlib.crc32, isal_zlib.crc32_combine
    except (ImportError, AttributeError):  # pragma: no cover - exercised only without isal
        import zlib

        return zlib.crc32, _crc32_combine_py


def _crc32_combine_py(crc1: int, crc2: int, len2: int) -> int:  # pragma: no cover - without isal only
    """zlib's crc32_combine: the CRC of A + B from crc(A), crc(B) and len(B) (GF(2) matrices)."""

    def times(mat: list[int], vec: int) -> int:
        out, i = 0, 0
        while vec:
            if vec & 1:
                out ^= mat[i]
            vec >>= 1
            i += 1
        return out

    def square(mat: list[int]) -> list[int]:
        return [times(mat, mat[n]) for n in range(32)]

    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # the operator for one zero bit
    even = square(odd)  # two zero bits
    odd = square(even)  # four zero bits
    while True:
        even = square(odd)
        if len2 & 1:
            crc1 = times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = square(even)
        if len2 & 1:
            crc1 = times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


_crc32, _crc_combine = _crc_tools()
