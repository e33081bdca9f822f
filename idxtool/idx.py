"""The IDX format: type codes, header parsing, strict validation, reading and atomic writing.

An IDX file is ``0x00 0x00 TYPE NDIM``, NDIM big-endian uint32 sizes, then the body in C
order, big-endian. Files may be gzip, xz or bz2 compressed; that is told by content.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import compress
from .atomic import atomic_file
from .compress import Compression
from .errors import InputNotFoundError, InvalidIdxError, UsageError

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

#: Deflate cannot expand more than 1032:1; a gzip file claiming more is truncated.
_GZIP_MAX_RATIO = 1032
#: Bytes read from a compressed stream at a time.
CHUNK_BYTES = 4 << 20


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
        raise InvalidIdxError(
            f"{name}: not an IDX file (magic starts with {magic[:2].hex(' ')}, expected 00 00)"
        )
    type_code, ndim = magic[2], magic[3]
    if type_code not in FILE_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in FILE_DTYPES)
        raise InvalidIdxError(f"{name}: unknown IDX type code 0x{type_code:02X} (known: {known})")
    dims = _read_exact(fh, 4 * ndim, name)
    if len(dims) < 4 * ndim:
        raise InvalidIdxError(
            f"{name}: header declares {ndim} dimensions but is cut short after {len(dims) // 4}"
        )
    return Header(type_code, struct.unpack(f">{ndim}I", dims))


def _read_exact(fh: IO[bytes], n: int, name: str) -> bytes:
    """Read up to ``n`` bytes, turning a corrupt compressed stream into InvalidIdxError."""
    try:
        return fh.read(n)
    except compress.STREAM_ERRORS as exc:
        raise _stream_error(name, exc) from exc


def _stream_error(name: str, exc: BaseException) -> InvalidIdxError:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError):
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


class IdxFile:
    """An open IDX file: the header at once, the body on demand, in chunks or whole.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = str(path)
        try:
            self.size_on_disk = self.path.stat().st_size
            self.compression: Compression = compress.detect(self.path)
            self._fh: IO[bytes] = compress.open_read(self.path, self.compression)
        except FileNotFoundError:
            raise InputNotFoundError(f"{self.name}: no such file") from None
        except IsADirectoryError:
            raise InputNotFoundError(f"{self.name}: is a folder, not an IDX file") from None
        except PermissionError:
            raise InputNotFoundError(f"{self.name}: permission denied") from None
        try:
            self.header = parse_header(self._fh, self.name)
            self._check_plausible()
        except BaseException:
            self._fh.close()
            raise
        self._position = 0  # body bytes consumed so far

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
        return (
            f"IdxFile({self.name!r}, dtype={self.dtype.name}, shape={self.shape}, "
            f"compression={self.compression!r})"
        )

    def _check_plausible(self) -> None:
        """Fail fast on bodies the file cannot hold, before anything is allocated."""
        declared = self.header.body_bytes
        if self.compression == "raw":
            actual = self.size_on_disk - self.header.nbytes
            if actual != declared:
                self._raise_length(actual)
        elif self.compression == "gzip":
            limit = self.size_on_disk * _GZIP_MAX_RATIO
            if declared > limit:
                raise InvalidIdxError(
                    f"{self.name}: header declares a {_fmt_shape(self.shape)} body of {declared:,} "
                    f"bytes, more than a {self.size_on_disk:,}-byte gzip file can hold"
                )

    def _raise_length(self, actual: int | None) -> None:
        declared = self.header.body_bytes
        what = f"header declares {_fmt_shape(self.shape)} {self.dtype.name} = {declared:,} bytes"
        if actual is None:
            raise InvalidIdxError(f"{self.name}: body is longer than the header says ({what})")
        word = "shorter" if actual < declared else "longer"
        raise InvalidIdxError(f"{self.name}: body is {word} than the header says: {actual:,} bytes, {what}")

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

    def _check_end(self) -> None:
        """After the declared body, the stream must end."""
        try:
            extra = self._fh.read(1)
        except compress.STREAM_ERRORS as exc:
            raise _stream_error(self.name, exc) from exc
        if extra:
            if self.compression == "raw":
                self._raise_length(self.size_on_disk - self.header.nbytes)
            self._raise_length(None)

    def chunks(self, records: int | None = None) -> Iterator[np.ndarray]:
        """Yield the records in order, ``records`` at a time (default: about 4 MiB a chunk).

        Each chunk is a native-endian array of shape ``(k, *record_shape)``. The body's
        length is checked as it streams; a short or long body raises InvalidIdxError.
        """
        if self._position:
            raise UsageError(f"{self.name}: body already consumed; open the file again")
        header = self.header
        rec_bytes = max(header.record_bytes, 1)
        per_chunk = records or max(1, CHUNK_BYTES // rec_bytes)
        remaining = header.count
        while remaining > 0:
            k = min(per_chunk, remaining)
            buf = np.empty(k * header.record_bytes, np.uint8)
            got = self._read_body_into(buf.data)
            if got < buf.size:
                self._raise_length(self._position)
            remaining -= k
            yield _to_native(buf.view(header.file_dtype).reshape((k, *header.record_shape)))
        self._check_end()

    def read(self) -> np.ndarray:
        """Read the whole body as a native-endian array of the file's own element type."""
        if self._position:
            raise UsageError(f"{self.name}: body already consumed; open the file again")
        header = self.header
        if self.compression == "raw":
            return self._read_raw()
        if self.compression == "gzip":  # plausible by construction: allocate once, fill in place
            buf = np.empty(header.body_bytes, np.uint8)
            got = self._read_body_into(buf.data)
            if got < buf.size:
                self._raise_length(got)
        else:  # no tight bound on the ratio: grow with the data actually present
            buf = self._read_growing(header.body_bytes)
        self._check_end()
        return _to_native(buf.view(header.file_dtype).reshape(header.shape))

    def _read_raw(self) -> np.ndarray:
        header = self.header
        arr = np.fromfile(self.path, dtype=header.file_dtype, count=math.prod(header.shape), offset=header.nbytes)
        self._position = header.body_bytes
        return _to_native(arr.reshape(header.shape))

    def _read_growing(self, declared: int) -> np.ndarray:
        data = bytearray()
        try:
            while len(data) < declared:
                piece = self._fh.read(min(CHUNK_BYTES, declared - len(data)))
                if not piece:
                    break
                data += piece
        except compress.STREAM_ERRORS as exc:
            raise _stream_error(self.name, exc) from exc
        self._position = len(data)
        if len(data) < declared:
            self._raise_length(len(data))
        return np.frombuffer(data, np.uint8)

    def memmap(self) -> np.ndarray:
        """Map a raw (uncompressed) file read-only without reading it: lazy and zero-copy.

        The array keeps the file's big-endian element type (numpy reads it correctly);
        convert with ``.astype(arr.dtype.newbyteorder('='))`` when a native copy is wanted.
        """
        if self.compression != "raw":
            raise UsageError(
                f"{self.name}: is {self.compression}-compressed and cannot be memory-mapped; "
                "use read() or chunks(), or decompress it first"
            )
        if self.header.body_bytes == 0:
            return np.empty(self.shape, self.header.file_dtype)
        return np.memmap(self.path, dtype=self.header.file_dtype, mode="r", offset=self.header.nbytes, shape=self.shape)

    def record(self, index: int) -> np.ndarray:
        """Read one record, streaming past the ones before it (bounded memory)."""
        if not -self.count <= index < self.count:
            raise UsageError(f"{self.name}: record {index} out of range (file has {self.count:,} records)")
        index %= self.count
        if self.compression == "raw":
            return np.array(self.memmap()[index]).astype(self.dtype)
        per_chunk = max(1, CHUNK_BYTES // max(self.header.record_bytes, 1))
        seen = 0
        for chunk in self.chunks(per_chunk):
            if index < seen + len(chunk):
                return np.array(chunk[index - seen])
            seen += len(chunk)
        raise AssertionError("unreachable")  # pragma: no cover

    def check_body(self) -> None:
        """Stream the whole body and check its length; raise InvalidIdxError if it is wrong."""
        if self.compression == "raw":
            return  # checked from the file size when opened
        for _ in self.chunks():
            pass

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> IdxFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return " x ".join(str(d) for d in shape) or "scalar"


def open_idx(path: str | os.PathLike[str]) -> IdxFile:
    """Open an IDX file and parse its header without reading the body."""
    return IdxFile(path)


def read(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a whole IDX file (any compression) as a native-endian numpy array."""
    with IdxFile(path) as f:
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
) -> Path:
    """Write ``array`` as an IDX file, atomically; compression from the suffix when None."""
    arr = np.asarray(array)
    header = header_for(arr)
    kind = compression or compress.from_suffix(path)
    if kind not in compress.COMPRESSIONS:
        raise UsageError(f"unknown compression {kind!r} (choose from {', '.join(compress.COMPRESSIONS)})")
    with atomic_file(path) as raw:
        out = compress.open_write(raw, kind, level)
        try:
            write_stream(out, header, [arr])
        finally:
            if out is not raw:
                out.close()
    return Path(path)


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
