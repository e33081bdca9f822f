"""A small streaming ZIP writer (stored or deflate, zip64 when needed) for .npz files.

``zipfile`` compresses with stdlib zlib only; with ISA-L's deflate an .npz is written ~6x
faster than ``numpy.savez_compressed`` for ~7% more bytes. Entries carry a fixed
1980-01-01 timestamp, so the same arrays give the same bytes.
"""

from __future__ import annotations

import struct
import zlib
from types import ModuleType
from typing import IO, Any

_deflate: ModuleType
try:
    from isal import isal_zlib as _deflate

    _LEVEL = 2  # ISA-L levels are 0-3; 2 is fastest per byte saved on image data
except ImportError:  # pragma: no cover - isal is a dependency; stdlib is the fallback
    _deflate = zlib
    _LEVEL = 1

STORED, DEFLATED = 0, 8
_ZIP64_LIMIT = 0xFFFFFFFF
_DOS_DATE, _DOS_TIME = (0 << 9) | (1 << 5) | 1, 0  # 1980-01-01 00:00


class _Entry:
    def __init__(self, name: bytes, offset: int, method: int, *, zip64: bool) -> None:
        self.name, self.offset, self.method, self.zip64 = name, offset, method, zip64
        self.crc = 0
        self.size = 0
        self.csize = 0


class ZipWriter:
    """Write entries one at a time into a seekable binary file; :meth:`close` adds the directory."""

    def __init__(self, fh: IO[bytes], *, compress: bool = True) -> None:
        self._fh = fh
        self._method = DEFLATED if compress else STORED
        self._entries: list[_Entry] = []
        self._current: _Entry | None = None
        self._compressor: Any = None

    # -- one entry -------------------------------------------------------------------------
    def open(self, name: str, size_hint: int) -> ZipWriter:
        """Start entry ``name``; ``size_hint`` (uncompressed bytes) decides on zip64."""
        zip64 = size_hint * 1.05 + 1024 > _ZIP64_LIMIT
        entry = _Entry(name.encode(), self._fh.tell(), self._method, zip64=zip64)
        self._fh.write(self._local_header(entry))
        if self._method == DEFLATED:
            self._compressor = _deflate.compressobj(_LEVEL, _deflate.DEFLATED, -15)
        self._current = entry
        return self

    def write(self, data: Any) -> int:
        """Add bytes to the open entry (numpy's ``write_array`` calls this)."""
        entry = self._current
        if entry is None:
            raise ValueError("no open entry: call open() first")
        view = memoryview(data).cast("B")
        entry.crc = zlib.crc32(view, entry.crc)
        entry.size += len(view)
        out = self._compressor.compress(view) if self._compressor else view
        entry.csize += len(out)
        self._fh.write(out)
        return len(view)

    def close_entry(self) -> None:
        entry = self._current
        if entry is None:
            raise ValueError("no open entry: call open() first")
        if self._compressor is not None:
            tail = self._compressor.flush()
            entry.csize += len(tail)
            self._fh.write(tail)
            self._compressor = None
        if not entry.zip64 and max(entry.size, entry.csize) >= _ZIP64_LIMIT:
            raise OverflowError(f"{entry.name.decode()}: entry outgrew its size estimate")
        end = self._fh.tell()
        self._fh.seek(entry.offset)
        self._fh.write(self._local_header(entry))
        self._fh.seek(end)
        self._entries.append(entry)
        self._current = None

    # -- headers -----------------------------------------------------------------------------
    def _local_header(self, e: _Entry) -> bytes:
        if e.zip64:
            extra = struct.pack("<HHQQ", 1, 16, e.size, e.csize)
            sizes = (_ZIP64_LIMIT, _ZIP64_LIMIT)
        else:
            extra, sizes = b"", (e.csize, e.size)
        version = 45 if e.zip64 else 20
        head = struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            version,
            0,
            e.method,
            _DOS_TIME,
            _DOS_DATE,
            e.crc,
            *sizes,
            len(e.name),
            len(extra),
        )
        return head + e.name + extra

    def _central_header(self, e: _Entry) -> bytes:
        fields: list[int] = []
        csize, size, offset = e.csize, e.size, e.offset
        if e.zip64 or size >= _ZIP64_LIMIT or csize >= _ZIP64_LIMIT:
            fields += [size, csize]
            size = csize = _ZIP64_LIMIT
        if offset >= _ZIP64_LIMIT:
            fields.append(offset)
            offset = _ZIP64_LIMIT
        extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
        version = 45 if fields else 20
        return (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                version,
                version,
                0,
                e.method,
                _DOS_TIME,
                _DOS_DATE,
                e.crc,
                csize,
                size,
                len(e.name),
                len(extra),
                0,
                0,
                0,
                0o644 << 16,
                offset,
            )
            + e.name
            + extra
        )

    def close(self) -> None:
        """Write the central directory (zip64 records when needed)."""
        start = self._fh.tell()
        for e in self._entries:
            self._fh.write(self._central_header(e))
        end = self._fh.tell()
        n, size = len(self._entries), end - start
        if start >= _ZIP64_LIMIT or n >= 0xFFFF or size >= _ZIP64_LIMIT:
            self._fh.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, size, start))
            self._fh.write(struct.pack("<IIQI", 0x07064B50, 0, end, 1))
        self._fh.write(
            struct.pack(
                "<IHHHHIIH",
                0x06054B50,
                0,
                0,
                min(n, 0xFFFF),
                min(n, 0xFFFF),
                min(size, _ZIP64_LIMIT),
                min(start, _ZIP64_LIMIT),
                0,
            )
        )
