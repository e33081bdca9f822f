"""The IDX format: type codes, header parsing, strict validation, reading and atomic writing.

An IDX file is ``0x00 0x00 TYPE NDIM``, NDIM big-endian uint32 sizes, then the body in C
order, big-endian. Files may be gzip, xz or bz2 compressed; that is told by content.
"""

from __future__ import annotations

import errno
import io
import math
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeAlias

import numpy as np

from . import compress
from .atomic import atomic_file
from .compress import Compression
from .errors import (
    DataError,
    InputNotFoundError,
    InvalidIdxError,
    OutputError,
    ParameterError,
    RecordIndexError,
    UsageError,
)

#: IDX type code -> element type as stored (big-endian).
FILE_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
#: numpy type name -> IDX type code.
TYPE_CODES: dict[str, int] = {dt.newbyteorder("=").name: code for code, dt in FILE_DTYPES.items()}

#: What idxtool reads: a path, or a binary file object (an open file, io.BytesIO, a pipe or
#: standard input, an HTTP response body, a zip member), seekable or not.
Source: TypeAlias = "str | os.PathLike[str] | BinaryIO | compress.BinaryReadable"

#: Deflate cannot expand more than 1032:1; a gzip file claiming more is truncated.
_GZIP_MAX_RATIO = 1032
#: Bytes read from a compressed stream at a time.
CHUNK_BYTES = 4 << 20
#: numpy's limit on the number of dimensions of an array (IDX allows 255).
MAX_NUMPY_DIMS = 64


@dataclass(frozen=True)
class Header:
    """What an IDX header declares."""

    type_code: int
    shape: tuple[int, ...]

    @property
    def file_dtype(self) -> np.dtype[Any]:
        """The element type as stored: big-endian."""
        return FILE_DTYPES[self.type_code]

    @property
    def dtype(self) -> np.dtype[Any]:
        """The element type as returned: native byte order."""
        return self.file_dtype.newbyteorder("=")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        """Size of the header in bytes."""
        return 4 + 4 * self.ndim

    @property
    def count(self) -> int:
        """Number of records (the first dimension; 1 for a 0-d file)."""
        return self.shape[0] if self.shape else 1

    @property
    def record_shape(self) -> tuple[int, ...]:
        return self.shape[1:]

    @property
    def record_bytes(self) -> int:
        return math.prod(self.record_shape) * self.file_dtype.itemsize

    @property
    def body_bytes(self) -> int:
        """Size of the body the header declares."""
        return math.prod(self.shape) * self.file_dtype.itemsize

    def pack(self) -> bytes:
        return struct.pack(f">BBBB{self.ndim}I", 0, 0, self.type_code, self.ndim, *self.shape)


def parse_header(fh: IO[bytes], name: str) -> Header:
    """Read and validate an IDX header from the start of ``fh``."""
    magic = _read_exact(fh, 4, name)
    if not magic:
        raise InvalidIdxError(f"{name}: file is empty")
    if len(magic) < 4:
        raise InvalidIdxError(f"{name}: file is {len(magic)} bytes, shorter than an IDX magic number")
    if magic[0] != 0 or magic[1] != 0:
        raise InvalidIdxError(f"{name}: not an IDX file (magic starts with {magic[:2].hex(' ')}, expected 00 00)")
    type_code, ndim = magic[2], magic[3]
    if type_code not in FILE_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in FILE_DTYPES)
        raise InvalidIdxError(f"{name}: unknown IDX type code 0x{type_code:02X} (known: {known})")
    dims = _read_exact(fh, 4 * ndim, name)
    if len(dims) < 4 * ndim:
        raise InvalidIdxError(f"{name}: header declares {ndim} dimensions but is cut short after {len(dims) // 4}")
    return Header(type_code, struct.unpack(f">{ndim}I", dims))


def has_magic(path: str | os.PathLike[str]) -> bool:
    """True when the file at ``path``, decompressed if it is compressed, starts with an IDX
    magic number (two zero bytes and a known type code); False when it does not or cannot be read.

    Examples
    --------
    >>> has_magic(tmp / "nothing-here")
    False
    """
    try:
        with compress.open_read(path) as fh:
            magic = fh.read(4)
    except compress.STREAM_ERRORS:  # OSError among them
        return False
    return len(magic) == 4 and magic[:2] == b"\0\0" and magic[2] in FILE_DTYPES


def _read_exact(fh: IO[bytes], n: int, name: str) -> bytes:
    """Read ``n`` bytes (fewer only at the end), turning a failed or corrupt read into InvalidIdxError."""
    try:
        data = fh.read(n)
        while len(data) < n:  # an unbuffered pipe may return less than asked before its end
            more = fh.read(n - len(data))
            if not more:
                break
            data += more
    except compress.STREAM_ERRORS as exc:
        raise _stream_error(name, exc) from exc
    return data


def _stream_error(name: str, exc: BaseException) -> InvalidIdxError:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, compress.SourceReadError):
        detail = f"read failed ({detail})"
    elif isinstance(exc, OSError) and exc.errno is not None:  # I/O failed; not a decoder's complaint
        detail = f"read failed ({exc.strerror or detail})"
    elif isinstance(exc, EOFError):
        detail = f"compressed stream is truncated ({detail})"
    else:
        detail = f"compressed stream is corrupt ({detail})"
    return InvalidIdxError(f"{name}: {detail}")


def _to_native(arr: np.ndarray) -> np.ndarray:
    """Swap a big-endian array to native byte order in place (no copy, no widening)."""
    if arr.dtype.isnative:
        return arr.view(arr.dtype.newbyteorder("="))
    arr.byteswap(inplace=True)
    return arr.view(arr.dtype.newbyteorder("="))


def _alloc(size: int, name: str) -> np.ndarray:
    """An uninitialised uint8 buffer; running out of memory is an IdxError naming the file."""
    try:
        return np.empty(size, np.uint8)
    except (MemoryError, ValueError, OverflowError) as exc:
        raise DataError(f"{name}: cannot allocate {_fmt_bytes(size)} to read it ({type(exc).__name__})") from None


def _stream_name(stream: object) -> str:
    name = getattr(stream, "name", None)
    return name if isinstance(name, str) else "<stream>"


class IdxFile:
    """An open IDX file or stream: the header at once, the body on demand, whole or in chunks.

    Use as a context manager, or call :meth:`close`.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        A path, or a binary file object (anything with ``read(size) -> bytes``) read from its
        current position: an open file, ``io.BytesIO``, a pipe or ``sys.stdin.buffer``, an
        HTTP response body (``urllib.request.urlopen(...)``, ``requests``' ``response.raw``),
        a ``zipfile.ZipFile.open(...)`` member. Gzip, xz, bz2 or no compression is told by
        content, never by name; a stream need not be seekable.
    name : str, optional
        The name used in messages. Default: the path as given; for a file object, its
        ``name`` attribute when that is a str, else ``"<stream>"``.

    Attributes
    ----------
    header : Header
        What the header declares: type code, shape.
    name : str
        The name used in messages.
    path : pathlib.Path or None
        The path, or None for a file object.
    compression : {"raw", "gzip", "xz", "bz2"}
        The compression, told by content.
    size_on_disk : int or None
        The size of a regular file in bytes; None for a file object, a pipe or a device,
        whose size is not known before it is read.

    Raises
    ------
    InputNotFoundError
        The path does not exist, is a folder, or cannot be opened (also a FileNotFoundError).
    InvalidIdxError
        The header is invalid, the file cannot hold the body it declares, or reading failed.
    UsageError
        ``source`` is neither a path nor an open binary file object (text mode, closed, bytes).

    Notes
    -----
    The body is read once, forward: one of :meth:`read`, :meth:`chunks`,
    :meth:`value_chunks`, :meth:`record` or :meth:`check_body`; a second raises UsageError
    ("body already consumed"). Only an uncompressed regular file allows :meth:`memmap` and
    repeated :meth:`record` calls.

    Whatever the input, every failure is an :class:`~idxtool.errors.IdxError` naming the
    file (InvalidIdxError for bad data; DataError for valid files numpy cannot hold, such as
    more than 64 dimensions), and memory follows the data present, never what the header
    declares.

    A stream's size is not known up front, so its length is checked as it is read, and
    memory grows with the data that actually arrives, never with what the header declares.

    :meth:`close` (and leaving the ``with`` block) closes only what idxtool opened, never
    a file object the caller passed in.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from idxtool.idx import header_for, write_stream
    >>> arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    >>> out = io.BytesIO()
    >>> write_stream(out, header_for(arr), [arr])  # IDX bytes, as idxtool.write() writes them
    >>> data = out.getvalue()
    >>> with IdxFile(io.BytesIO(data), name="example") as f:
    ...     print(f.shape, f.dtype, f.compression, f.size_on_disk)
    ...     print(f.read())
    (2, 3) uint8 raw None
    [[0 1 2]
     [3 4 5]]
    """

    def __init__(self, source: Source, *, name: str | None = None) -> None:
        self._position = 0  # body bytes consumed so far
        self._owned: IO[bytes] | None = None  # what idxtool opened, and so closes
        self.size_on_disk: int | None = None
        self.path: Path | None
        if isinstance(source, str | os.PathLike):
            self.path = Path(source)
            self.name = str(source) if name is None else name
            self._open_path(self.path)
        elif isinstance(source, bytes | bytearray | memoryview):
            raise UsageError(
                f"got {type(source).__name__}, not a path or a binary file object: wrap data in io.BytesIO(...)"
            )
        elif callable(getattr(source, "read", None)):
            self.path = None
            self.name = _stream_name(source) if name is None else name
            self._open_stream(source)
        else:
            raise UsageError(f"expected a path or a binary file object, got {type(source).__name__}")
        try:
            self.header = parse_header(self._fh, self.name)
            self._check_plausible()
        except BaseException:
            self.close()
            raise

    def _open_path(self, path: Path) -> None:
        shown = self.name
        try:
            fh = open(path, "rb")  # noqa: SIM115  # closed by close()
        except (FileNotFoundError, NotADirectoryError):
            raise InputNotFoundError(f"{shown}: no such file", filename=str(path)) from None
        except IsADirectoryError:
            raise InputNotFoundError(f"{shown}: is a folder, not an IDX file", filename=str(path)) from None
        except PermissionError:
            raise InputNotFoundError(f"{shown}: permission denied", filename=str(path)) from None
        except OSError as exc:
            raise InputNotFoundError(f"{shown}: cannot open ({exc.strerror or exc})", filename=str(path)) from exc
        self._owned = fh
        try:
            st = os.fstat(fh.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a folder")
            if stat.S_ISREG(st.st_mode):
                self.size_on_disk = st.st_size
                head = fh.read(compress.HEAD_BYTES)
                fh.seek(0)
                self.compression: Compression = compress.sniff(head)
                self._fh: IO[bytes] = compress.decompressing(fh, self.compression)
            else:  # a named pipe, /dev/stdin, <(process substitution): one forward read, like a stream
                self.compression, self._fh = compress.open_stream(fh)
        except IsADirectoryError:
            fh.close()
            raise InputNotFoundError(f"{shown}: is a folder, not an IDX file", filename=str(path)) from None
        except OSError as exc:
            fh.close()
            raise InvalidIdxError(f"{shown}: read failed ({exc.strerror or exc})") from exc

    def _open_stream(self, stream: compress.BinaryReadable) -> None:
        if getattr(stream, "closed", False) is True:
            raise UsageError(f"{self.name}: the file object is closed")
        if isinstance(stream, io.TextIOBase):
            raise UsageError(f"{self.name}: the file object is in text mode; open it in binary mode ('rb')")
        try:
            self.compression, self._fh = compress.open_stream(stream)
        except TypeError as exc:
            raise UsageError(f"{self.name}: {exc}") from exc
        except compress.STREAM_ERRORS as exc:
            raise _stream_error(self.name, exc) from exc

    # -- header facts ------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype[Any]:
        return self.header.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self.header.shape

    @property
    def ndim(self) -> int:
        return self.header.ndim

    @property
    def count(self) -> int:
        return self.header.count

    def __repr__(self) -> str:
        return f"IdxFile({self.name!r}, dtype={self.dtype.name}, shape={self.shape}, compression={self.compression!r})"

    @property
    def _size_vouched(self) -> bool:
        """Has the file size bounded the declared body (so allocating it up front is safe)?"""
        return self.size_on_disk is not None and self.compression in ("raw", "gzip")

    @property
    def _regular_raw(self) -> bool:
        """An uncompressed regular file: readable at any offset, mappable."""
        return self.compression == "raw" and self.size_on_disk is not None

    def _check_plausible(self) -> None:
        """Fail fast on bodies the file cannot hold, before anything is allocated.

        Only a regular file has a size to check against; a stream is checked as it is read.
        """
        if self.size_on_disk is None:
            return
        declared = self.header.body_bytes
        if self.compression == "raw":
            actual = self.size_on_disk - self.header.nbytes
            if actual != declared:
                self._raise_length(actual)
        elif self.compression == "gzip":
            limit = self.size_on_disk * _GZIP_MAX_RATIO
            if declared > limit:
                raise InvalidIdxError(
                    f"{self.name}: header declares a {_fmt_shape(self.shape)} body of {_fmt_bytes(declared)}, "
                    f"more than a {self.size_on_disk:,}-byte gzip file can hold"
                )

    def _raise_length(self, actual: int | None) -> None:
        declared = self.header.body_bytes
        what = f"header declares {_fmt_shape(self.shape)} {self.dtype.name} = {_fmt_bytes(declared)}"
        if actual is None:
            raise InvalidIdxError(f"{self.name}: body is longer than the header says ({what})")
        word = "shorter" if actual < declared else "longer"
        raise InvalidIdxError(f"{self.name}: body is {word} than the header says: {actual:,} bytes, {what}")

    def _consume(self) -> None:
        """Claim the body for one forward read; a second read is a UsageError."""
        if self._position:
            raise UsageError(f"{self.name}: body already consumed; open the file again")

    def _shaped(self, flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """``flat`` reshaped; a shape numpy cannot represent is a DataError naming the file."""
        try:
            return flat.reshape(shape)
        except ValueError as exc:  # e.g. a zero-size shape whose other sizes overflow numpy's index
            raise DataError(f"{self.name}: shape {_fmt_shape(shape)} cannot be a numpy array ({exc})") from None

    def _check_rank(self, ndim: int, what: str) -> None:
        """numpy arrays have at most 64 dimensions; IDX files up to 255."""
        if ndim > MAX_NUMPY_DIMS:
            raise DataError(
                f"{self.name}: has {self.ndim} dimensions, and {what} would need a {ndim}-dimensional array "
                f"(numpy allows at most {MAX_NUMPY_DIMS}); value_chunks() reads its values flat"
            )

    # -- body ----------------------------------------------------------------------------
    def _read_body_into(self, out: memoryview) -> int:
        """Fill ``out`` from the stream; return the bytes read (fewer only at end of stream)."""
        filled = 0
        total = len(out)
        try:
            while filled < total:
                n = self._fh.readinto(out[filled : filled + CHUNK_BYTES])  # type: ignore[attr-defined]
                if not n:
                    break
                filled += n
        except compress.STREAM_ERRORS as exc:
            raise _stream_error(self.name, exc) from exc
        self._position += filled
        return filled

    def _read_growing(self, size: int) -> np.ndarray:
        """Read up to ``size`` body bytes into memory that grows with the data actually read.

        The data is read in pieces of one chunk and joined at the end, so a header declaring
        terabytes costs nothing, and a body that stops early costs about twice what arrived.
        """
        pieces: list[np.ndarray] = []
        filled = 0
        while filled < size:
            piece = _alloc(min(size - filled, CHUNK_BYTES), self.name)
            got = self._read_body_into(piece.data)
            pieces.append(piece if got == piece.size else piece[:got])
            filled += got
            if got < piece.size:
                break
        if len(pieces) == 1:
            return pieces[0]
        out = _alloc(filled, self.name)
        at = 0
        while pieces:
            piece = pieces.pop(0)  # released as soon as copied: the peak stays near twice the data
            out[at : at + piece.size] = piece
            at += piece.size
        return out

    def _read_block(self, size: int, *, whole: bool = False) -> np.ndarray:
        """Read the next ``size`` body bytes as a writable uint8 array (shorter only at the end).

        The buffer is allocated whole only when it is small, or for a whole-body ``read()``
        when the file size vouches for the header; otherwise it grows with the data, so a
        header declaring terabytes costs nothing.
        """
        if size <= CHUNK_BYTES or (whole and self._size_vouched):
            buf = _alloc(size, self.name)
            got = self._read_body_into(buf.data)
            return buf if got == size else buf[:got]
        return self._read_growing(size)

    def _check_end(self) -> None:
        """After the declared body, the stream must end."""
        try:
            extra = self._fh.read(1)
        except compress.STREAM_ERRORS as exc:
            raise _stream_error(self.name, exc) from exc
        if extra:
            if self._regular_raw and self.size_on_disk is not None:
                self._raise_length(self.size_on_disk - self.header.nbytes)
            self._raise_length(None)

    def chunks(self, records: int | None = None, *, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Yield the records in order, ``records`` at a time, in bounded memory.

        The body's length is checked as it streams: a short or long body raises
        InvalidIdxError when the stream reaches it (the chunks before it are yielded).

        Parameters
        ----------
        records : int, optional
            Records per chunk; default about 4 MiB of data a chunk (at least one record).
        start, stop : int, optional
            Only records ``start`` to ``stop`` (exclusive; default: to the end). An
            uncompressed file is read from ``start`` on; a compressed one or a stream is
            decompressed and dropped up to it. The end of the body is checked only when
            ``stop`` is the end.

        Returns
        -------
        Iterator[numpy.ndarray]
            Native-endian arrays of shape ``(k, *record_shape)``, ``k <= records``.

        Raises
        ------
        InvalidIdxError
            The body is shorter or longer than the header says, or the stream is corrupt.
        DataError
            The file has more than 64 dimensions (numpy's limit): use :meth:`value_chunks`.
        ParameterError
            ``records`` is not a positive integer.
        UsageError
            The body was already read (:meth:`read`, :meth:`chunks`, :meth:`record`).

        Notes
        -----
        A chunk holds at least one record, so memory follows the record size: for files
        whose records may be huge, :meth:`value_chunks` bounds memory by a number of values.
        Memory never grows beyond the data actually present, whatever the header declares.

        Examples
        --------
        >>> import io
        >>> from idxtool.idx import Header
        >>> data = Header(0x08, (2, 3)).pack() + bytes(range(6))  # a 2 x 3 uint8 IDX file
        >>> with IdxFile(io.BytesIO(data)) as f:
        ...     [chunk.tolist() for chunk in f.chunks(1)]
        [[[0, 1, 2]], [[3, 4, 5]]]
        >>> with IdxFile(io.BytesIO(data)) as f:
        ...     [chunk.tolist() for chunk in f.chunks(start=1)]
        [[[3, 4, 5]]]
        """
        if records is not None and (isinstance(records, bool) or not isinstance(records, int) or records < 1):
            raise ParameterError("records", records, "must be a positive integer")
        end = self.count if stop is None else stop
        if not 0 <= start <= end <= self.count:
            raise ParameterError("start, stop", (start, stop), f"must be 0 <= start <= stop <= {self.count:,}")
        self._check_rank(1 + len(self.header.record_shape), "a chunk of records")
        self._consume()
        return self._chunks(records, start, end)

    def value_chunks(self, max_values: int | None = None) -> Iterator[np.ndarray]:
        """Yield the body's values in order as flat 1-D arrays of at most ``max_values`` each.

        Memory is bounded by ``max_values``, never by the record size: a file whose one
        record is 1 GiB is read a few MiB at a time. Any rank works, including files with
        more dimensions than numpy arrays allow. The body's length is checked as it streams.

        Parameters
        ----------
        max_values : int, optional
            Values per chunk; default about 4 MiB of data a chunk.

        Returns
        -------
        Iterator[numpy.ndarray]
            Native-endian 1-D arrays of the file's element type; the last may be shorter.

        Raises
        ------
        InvalidIdxError
            The body is shorter or longer than the header says, or the stream is corrupt.
        ParameterError
            ``max_values`` is not a positive integer.
        UsageError
            The body was already read.

        Examples
        --------
        >>> import io
        >>> from idxtool.idx import Header
        >>> data = Header(0x08, (2, 3)).pack() + bytes(range(6))  # a 2 x 3 uint8 IDX file
        >>> with IdxFile(io.BytesIO(data)) as f:
        ...     [chunk.tolist() for chunk in f.value_chunks(4)]
        [[0, 1, 2, 3], [4, 5]]
        """
        if max_values is not None and (
            isinstance(max_values, bool) or not isinstance(max_values, int) or max_values < 1
        ):
            raise ParameterError("max_values", max_values, "must be a positive integer")
        self._consume()
        return self._value_chunks(max_values or max(1, CHUNK_BYTES // self.dtype.itemsize))

    def _value_chunks(self, max_values: int) -> Iterator[np.ndarray]:
        header = self.header
        itemsize = header.file_dtype.itemsize
        remaining = header.body_bytes
        step = max_values * itemsize
        while remaining > 0:
            want = min(step, remaining)
            buf = self._read_block(want)
            if buf.size < want:
                self._raise_length(self._position)
            remaining -= want
            yield _to_native(buf.view(header.file_dtype))
        self._check_end()

    def _chunks(self, records: int | None, start: int, stop: int) -> Iterator[np.ndarray]:
        header = self.header
        rec_bytes = max(header.record_bytes, 1)
        per_chunk = records or max(1, CHUNK_BYTES // rec_bytes)
        self._seek_body(start * header.record_bytes)
        remaining = stop - start
        while remaining > 0:
            k = min(per_chunk, remaining)
            want = k * header.record_bytes
            buf = self._read_block(want)
            if buf.size < want:
                self._raise_length(self._position)
            remaining -= k
            yield _to_native(self._shaped(buf.view(header.file_dtype), (k, *header.record_shape)))
        if stop == header.count:
            self._check_end()

    def _seek_body(self, offset: int) -> None:
        """Move to body byte ``offset``: a seek in an uncompressed file, otherwise read and dropped."""
        if offset and self._regular_raw:
            try:
                self._fh.seek(self.header.nbytes + offset)
            except OSError as exc:
                raise InvalidIdxError(f"{self.name}: read failed ({exc.strerror or exc})") from exc
            self._position += offset
        else:
            self._skip(offset)

    def read(self) -> np.ndarray:
        """Read the whole body as a native-endian array of the file's own element type.

        Returns
        -------
        numpy.ndarray
            Shape and element type as the header declares (uint8 stays uint8), native byte
            order, writable.

        Raises
        ------
        InvalidIdxError
            The body is shorter or longer than the header says, or the stream is corrupt.
        DataError
            The file has more than 64 dimensions (numpy's limit), or its body does not fit in
            memory: use :meth:`value_chunks`.
        UsageError
            The body was already read.

        Examples
        --------
        >>> import io
        >>> from idxtool.idx import Header
        >>> data = Header(0x08, (2, 3)).pack() + bytes(range(6))  # a 2 x 3 uint8 IDX file
        >>> with IdxFile(io.BytesIO(data)) as f:
        ...     f.read().sum()
        np.uint64(15)
        """
        self._check_rank(self.ndim, "its body")
        self._consume()
        header = self.header
        if self._regular_raw:
            return self._read_raw()
        # gzip on disk: allocated once (the file size bounds it), filled in place
        buf = self._read_block(header.body_bytes, whole=True)
        if buf.size < header.body_bytes:
            self._raise_length(self._position)
        self._check_end()
        return _to_native(self._shaped(buf.view(header.file_dtype), header.shape))

    def _read_raw(self) -> np.ndarray:
        header = self.header
        path = self.path if self.path is not None else self.name  # set for every regular file
        try:
            arr = np.fromfile(path, dtype=header.file_dtype, count=math.prod(header.shape), offset=header.nbytes)
        except MemoryError:
            raise DataError(f"{self.name}: cannot allocate {_fmt_bytes(header.body_bytes)} to read it") from None
        except OSError as exc:
            raise InvalidIdxError(f"{self.name}: read failed ({exc.strerror or exc})") from exc
        if arr.size * header.file_dtype.itemsize != header.body_bytes:  # the file changed under us
            self._raise_length(arr.size * header.file_dtype.itemsize)
        self._position = header.body_bytes
        return _to_native(self._shaped(arr, header.shape))

    def memmap(self) -> np.ndarray:
        """Map an uncompressed regular file read-only without reading it: lazy and zero-copy.

        The array keeps the file's big-endian element type (numpy reads it correctly);
        convert with ``.astype(arr.dtype.newbyteorder('='))`` when a native copy is wanted.

        Returns
        -------
        numpy.memmap
            Shape as the header declares, big-endian element type, read-only.

        Raises
        ------
        UsageError
            The input is a stream or file object, or is compressed: use :meth:`read` or
            :meth:`chunks`.

        Examples
        --------
        >>> import io
        >>> from idxtool.idx import Header
        >>> data = Header(0x08, (2, 3)).pack() + bytes(range(6))  # a 2 x 3 uint8 IDX file
        >>> IdxFile(io.BytesIO(data), name="example").memmap()
        Traceback (most recent call last):
        ...
        idxtool.errors.UsageError: example: is a stream, not a file on disk, and cannot be memory-mapped; \
use read() or chunks()
        """
        if self.path is None or self.size_on_disk is None:
            raise UsageError(
                f"{self.name}: is a stream, not a file on disk, and cannot be memory-mapped; use read() or chunks()"
            )
        if self.compression != "raw":
            raise UsageError(
                f"{self.name}: is {self.compression}-compressed and cannot be memory-mapped; "
                "use read() or chunks(), or decompress it first"
            )
        self._check_rank(self.ndim, "mapping it")
        if self.header.body_bytes == 0:
            return self._shaped(np.empty(0, self.header.file_dtype), self.shape)
        try:
            return np.memmap(
                self.path, dtype=self.header.file_dtype, mode="r", offset=self.header.nbytes, shape=self.shape
            )
        except (OSError, ValueError) as exc:  # the file shrank since it was opened, or cannot be mapped
            raise InvalidIdxError(f"{self.name}: cannot be memory-mapped ({exc})") from exc

    def record(self, index: int) -> np.ndarray:
        """Read one record, streaming past the ones before it (bounded memory).

        An uncompressed regular file is mapped, so any number of records can be read, in any
        order. Otherwise this reads the body forward, once: a second call raises UsageError.

        Parameters
        ----------
        index : int
            The record's position; negative counts from the end, as in Python.

        Returns
        -------
        numpy.ndarray
            The record, native-endian, of shape ``record_shape``.

        Raises
        ------
        RecordIndexError
            ``index`` is outside the file (also an IndexError and a UsageError).
        InvalidIdxError
            The body ends before the record, or the stream is corrupt.
        UsageError
            The body was already read.

        Examples
        --------
        >>> import io
        >>> from idxtool.idx import Header
        >>> data = Header(0x08, (2, 3)).pack() + bytes(range(6))  # a 2 x 3 uint8 IDX file
        >>> with IdxFile(io.BytesIO(data)) as f:
        ...     f.record(-1)
        array([3, 4, 5], dtype=uint8)
        >>> try:
        ...     IdxFile(io.BytesIO(data), name="example").record(2)
        ... except IndexError as exc:
        ...     print(exc)
        example: record 2 out of range (file has 2 records)
        """
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise ParameterError("index", index, "must be an integer")
        index = int(index)
        if not -self.count <= index < self.count:
            raise RecordIndexError(f"{self.name}: record {index} out of range (file has {self.count:,} records)")
        index %= self.count
        header = self.header
        self._check_rank(len(header.record_shape), "a record")
        if self._regular_raw:
            mapped = self.memmap() if self.ndim <= MAX_NUMPY_DIMS else None
            if mapped is not None:
                return np.array(mapped[index] if mapped.ndim else mapped).astype(self.dtype)
        self._consume()
        self._skip(index * header.record_bytes)
        buf = self._read_block(header.record_bytes)
        if buf.size < header.record_bytes:
            self._raise_length(self._position)
        return _to_native(self._shaped(buf.view(header.file_dtype), header.record_shape))

    def _skip(self, size: int) -> None:
        """Read and drop ``size`` body bytes through one reused buffer (bounded memory)."""
        if size <= 0:
            return
        scratch = _alloc(min(size, CHUNK_BYTES), self.name)
        left = size
        while left > 0:
            want = min(left, scratch.size)
            got = self._read_body_into(scratch.data[:want])
            if got < want:
                self._raise_length(self._position)
            left -= got

    def check_body(self) -> None:
        """Stream the whole body and check its length; raise InvalidIdxError if it is wrong.

        Memory stays at one chunk (a reused buffer), whatever the record size.
        """
        if self._regular_raw:
            return  # checked from the file size when opened
        self._consume()
        self._skip(self.header.body_bytes)
        self._check_end()

    def close(self) -> None:
        """Close what idxtool opened; a file object passed in by the caller stays open."""
        try:
            self._fh.close()
        finally:
            if self._owned is not None:
                self._owned.close()

    def __enter__(self) -> IdxFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fmt_shape(shape: tuple[int, ...]) -> str:
    if len(shape) > 8:  # up to 255 dimensions: keep the message on one readable line
        head = " x ".join(str(d) for d in shape[:3])
        tail = " x ".join(str(d) for d in shape[-2:])
        return f"{head} x ... x {tail} ({len(shape)} dimensions)"
    return " x ".join(str(d) for d in shape) or "scalar"


def _fmt_bytes(n: int) -> str:
    """``1,234 bytes``, or ``about 2**200 bytes`` for sizes no file can have."""
    return f"{n:,} bytes" if n < 10**18 else f"about 2**{n.bit_length() - 1} bytes"


def open_idx(source: Source, *, name: str | None = None) -> IdxFile:
    """Open an IDX file or binary stream and parse its header, without reading the body.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        A path, or a binary file object read forward from its current position: an open
        file, ``io.BytesIO``, ``sys.stdin.buffer`` or a pipe, an HTTP response body, a zip
        member. Compression (gzip, xz, bz2 or none) is told by content.
    name : str, optional
        The name used in messages; default the path, or the file object's ``name``
        attribute when it is a str, else ``"<stream>"``.

    Returns
    -------
    IdxFile
        Header facts (``dtype``, ``shape``, ``compression``) at once; the body on demand
        with ``read()``, ``chunks()``, ``value_chunks()`` or ``record()``. Use it as a context manager: leaving
        it closes only what idxtool opened, never a file object passed in.

    Raises
    ------
    InputNotFoundError
        The path does not exist, is a folder, or cannot be opened (also a FileNotFoundError).
    InvalidIdxError
        The header is invalid, or the file cannot hold the body it declares.
    UsageError
        ``source`` is neither a path nor an open binary file object.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from idxtool.idx import header_for, write_stream
    >>> arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    >>> out = io.BytesIO()
    >>> write_stream(out, header_for(arr), [arr])  # IDX bytes, as idxtool.write() writes them
    >>> data = out.getvalue()
    >>> with open_idx(io.BytesIO(data)) as f:
    ...     f.shape, f.dtype.name, f.compression, f.name
    ((2, 3), 'uint8', 'raw', '<stream>')
    """
    return IdxFile(source, name=name)


def read(source: Source, *, name: str | None = None) -> np.ndarray:
    """Read a whole IDX file or binary stream (any compression) as a native-endian array.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        A path, or a binary file object read forward from its current position (an open
        file, ``io.BytesIO``, ``sys.stdin.buffer`` or a pipe, an HTTP response body, a zip
        member); it is left open. Compression (gzip, xz, bz2 or none) is told by content.
    name : str, optional
        The name used in messages; default the path, or the file object's ``name``
        attribute when it is a str, else ``"<stream>"``.

    Returns
    -------
    numpy.ndarray
        Shape and element type as the header declares, native byte order, writable.

    Raises
    ------
    InputNotFoundError
        The path does not exist, is a folder, or cannot be opened (also a FileNotFoundError).
    InvalidIdxError
        Not a valid IDX file: bad header, body shorter or longer than the header says,
        corrupt or truncated compressed stream, failed read.
    UsageError
        ``source`` is neither a path nor an open binary file object.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from idxtool.idx import header_for, write_stream
    >>> arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    >>> out = io.BytesIO()
    >>> write_stream(out, header_for(arr), [arr])  # IDX bytes, as idxtool.write() writes them
    >>> data = out.getvalue()
    >>> import gzip
    >>> read(io.BytesIO(gzip.compress(data)))
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    >>> read(io.BytesIO(data[:-1]), name="short")
    Traceback (most recent call last):
    ...
    idxtool.errors.InvalidIdxError: short: body is shorter than the header says: 5 bytes, header declares \
2 x 3 uint8 = 6 bytes
    """
    with IdxFile(source, name=name) as f:
        return f.read()


def header_for(array: np.ndarray) -> Header:
    """The IDX header that describes ``array``; UsageError for unsupported types or sizes."""
    name = array.dtype.newbyteorder("=").name
    if name not in TYPE_CODES or array.dtype.kind not in "uif":
        supported = ", ".join(TYPE_CODES)
        raise UsageError(f"cannot write {array.dtype} to IDX (supported element types: {supported})")
    if array.ndim > 255:
        raise UsageError(f"cannot write a {array.ndim}-dimensional array to IDX (at most 255)")
    if any(d >= 2**32 for d in array.shape):
        raise UsageError(f"cannot write shape {array.shape} to IDX: dimensions must be below 2**32")
    return Header(TYPE_CODES[name], tuple(int(d) for d in array.shape))


def write(
    path: str | os.PathLike[str],
    array: Any,
    compression: Compression | None = None,
    level: int | None = None,
    *,
    threads: int | None = None,
) -> Path:
    """Write ``array`` as an IDX file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write. Its folder must exist: no folder is ever created for it.
    array : array_like
        uint8, int8, int16, int32, float32 or float64 data, of any shape with sizes below 2**32.
    compression : {"raw", "gzip", "xz", "bz2"}, optional
        Default: from the suffix (``.gz``, ``.xz``, ``.bz2``, else raw).
    level : int, optional
        The compression level; default 6 for gzip and xz, 9 for bz2.
    threads : int, optional
        gzip: threads compressing at once; default the number of cores. The bytes written
        are the same whatever the thread count: the same array always gives the same file.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputError
        The folder of ``path`` does not exist (or is not a folder), or writing failed.
    UsageError
        The element type or shape cannot be written to IDX, or the compression is unknown.
    ParameterError
        ``level`` or ``threads`` is out of range.

    Examples
    --------
    >>> path = write(tmp / "small.idx.gz", np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> read(path).tolist()
    [[0, 1, 2], [3, 4, 5]]
    >>> write(tmp / "missing" / "small.idx", np.zeros(2, np.uint8))
    Traceback (most recent call last):
    ...
    idxtool.errors.OutputError: ...missing/small.idx: folder ...missing does not exist (no folder is created for a file)
    """
    arr = np.asarray(array)
    header = header_for(arr)
    kind = compression or compress.from_suffix(path)
    if kind not in compress.COMPRESSIONS:
        raise UsageError(f"unknown compression {kind!r} (choose from {', '.join(compress.COMPRESSIONS)})")
    _check_folder(Path(path))
    with atomic_file(path) as raw:
        out = (
            compress.open_write(raw, kind, level, threads=threads)
            if kind == "gzip"
            else compress.open_write(raw, kind, level)
        )
        try:
            write_stream(out, header, [arr])
        finally:
            if out is not raw:
                out.close()
    return Path(path)


def _check_folder(target: Path) -> None:
    """The folder a file is written into must exist: writing never creates folders the user did not name."""
    folder = target.parent
    if folder.is_dir():
        return
    if folder.exists():
        raise OutputError(errno.ENOTDIR, f"{folder} is not a folder", str(target))
    raise OutputError(errno.ENOENT, f"folder {folder} does not exist (no folder is created for a file)", str(target))


def write_stream(out: IO[bytes], header: Header, chunks: Any) -> None:
    """Write ``header`` then the arrays in ``chunks`` (records in order) as big-endian bytes."""
    out.write(header.pack())
    big = header.file_dtype
    written = 0
    for chunk in chunks:
        flat = np.ascontiguousarray(chunk).reshape(-1)
        step = max(1, CHUNK_BYTES // big.itemsize)
        for start in range(0, flat.size, step):
            part = flat[start : start + step]
            out.write(part.astype(big, copy=False).view(np.uint8).data)
        written += flat.size * big.itemsize
    if written != header.body_bytes:
        raise UsageError(f"records written ({written:,} bytes) do not match the header ({header.body_bytes:,} bytes)")
