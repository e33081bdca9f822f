"""What an IDX file holds: header facts, body check and streamed statistics, as plain data.

Describing a regular file without statistics needs neither numpy nor the full reader: the
header is parsed and the body's length counted as it streams (:func:`_header_only`), which
keeps ``idxtool inspect FILE`` quick to start. Any anomaly falls back to
:class:`~idxtool.idx.IdxFile`, whose errors are the ones reported.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .selection import Selection
from .sources import Stdin

if TYPE_CHECKING:
    import numpy as np

    from .idx import IdxFile

#: IDX type code -> (numpy type name, bytes per element): the header path's own table.
_TYPES = {0x08: ("uint8", 1), 0x09: ("int8", 1), 0x0B: ("int16", 2), 0x0C: ("int32", 4)}
_TYPES.update({0x0D: ("float32", 4), 0x0E: ("float64", 8)})

#: Bytes read at a time when the header path counts a body.
_BLOCK = 1 << 20


def _header_only(path: Path, selection: Selection | None) -> dict[str, Any] | None:
    """The report of a valid regular file, header and body length only; None when anything is off."""
    from . import compress

    try:
        with open(path, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            if not path.is_file():
                return None
            kind = compress.sniff(raw.read(compress.HEAD_BYTES))
            raw.seek(0)
            with compress.decompressing(raw, kind) as fh:
                magic = fh.read(4)
                if len(magic) != 4 or magic[:2] != b"\0\0" or magic[2] not in _TYPES:
                    return None
                type_code, ndim = magic[2], magic[3]
                dims = fh.read(4 * ndim)
                if len(dims) != 4 * ndim:
                    return None
                shape = struct.unpack(f">{ndim}I", dims)
                name, itemsize = _TYPES[type_code]
                elements = 1
                for d in shape:
                    elements *= d
                body = elements * itemsize
                if kind == "raw":
                    seen = size - 4 - 4 * ndim
                else:
                    seen = 0
                    while block := fh.read(_BLOCK):
                        seen += len(block)
                        if seen > body:
                            return None
                if seen != body:
                    return None
    except Exception:  # the full reader reports it, with its own words
        return None
    count = shape[0] if ndim else 1
    first, end = (0, count) if selection is None or not ndim else selection.bounds(count)
    info: dict[str, Any] = {
        "path": str(path),
        "compression": kind,
        "dtype": name,
        "type_code": f"0x{type_code:02X}",
        "ndim": ndim,
        "shape": [end - first, *shape[1:]] if ndim else [],
        "records": end - first if ndim else 1,
        "record_shape": list(shape[1:]),
        "header_bytes": 4 + 4 * ndim,
        "body_bytes": body,
        "raw_size": 4 + 4 * ndim + body,
        "size_on_disk": size,
    }
    if selection is not None:
        info["selection"] = str(selection)
        info["first_record"] = first
        info["file_shape"] = list(shape)
    return info


def _selected(chunks: Iterator[np.ndarray], first: int, end: int) -> Iterator[np.ndarray]:
    """The records ``first`` to ``end`` of a chunk stream (the rest is still read and checked)."""
    seen = 0
    for chunk in chunks:
        lo, hi = max(first - seen, 0), min(end - seen, len(chunk))
        if lo < hi:
            yield chunk[lo:hi]
        seen += len(chunk)


def _flat_values(f: IdxFile, first: int, end: int) -> Iterator[np.ndarray]:
    """The values of records ``first`` to ``end`` as flat chunks of bounded size, however large a record is."""
    import numpy as np

    from .idx import CHUNK_BYTES

    per_record = max(int(np.prod(f.header.record_shape, dtype=np.int64)), 1) if f.header.ndim else 1
    lo, hi = first * per_record, end * per_record
    # Statistics work in float64: a chunk of CHUNK_BYTES / 8 values keeps every temporary small.
    step = max(CHUNK_BYTES // 8, 1)
    seen = 0
    for chunk in f.value_chunks(step):
        flat = chunk.reshape(-1)
        a, b = max(lo - seen, 0), min(hi - seen, flat.size)
        for start in range(a, b, step):
            yield flat[start : min(start + step, b)]
        seen += flat.size


#: A 2-D file with at most this many columns is summarised per column.
MAX_COLUMNS = 64


def describe(
    source: str | os.PathLike[str] | Stdin | BinaryIO,
    *,
    stats: bool = False,
    selection: Selection | None = None,
    fields: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Describe the IDX file at ``source``; raises IdxError when it is invalid.

    The body is streamed once (bounded memory) to check its length against the header and,
    with ``stats``, to compute min/max/mean/std (plus value counts for 1-D integer files).
    With ``selection`` the records and statistics are those of the selected range.
    ``fields`` names the columns of a 2-D labels table; with ``stats`` such a table (up to
    :data:`MAX_COLUMNS` columns) is summarised per column (``columns``), and the overall
    ``stats`` cover every value.
    """
    opened = Path(source) if isinstance(source, (str, os.PathLike)) else source
    if not stats and isinstance(opened, Path):
        quick = _header_only(opened, selection)
        if quick is not None:
            if fields and quick["ndim"] == 2 and len(fields) == quick["record_shape"][0]:
                quick["fields"] = list(fields)
            quick["body_ok"] = True
            return quick
    from .loading import open_input
    from .stats import combined, summarize, summarize_columns

    with open_input(opened) as f:
        header = f.header
        first, end = (0, header.count) if selection is None else selection.bounds(header.count)
        shape = [end - first, *header.shape[1:]] if header.ndim else []
        info: dict[str, Any] = {
            "path": f.name,
            "compression": f.compression,
            "dtype": f.dtype.name,
            "type_code": f"0x{header.type_code:02X}",
            "ndim": header.ndim,
            "shape": shape,
            "records": end - first if header.ndim else 1,
            "record_shape": list(header.record_shape),
            "header_bytes": header.nbytes,
            "body_bytes": header.body_bytes,
            "raw_size": header.nbytes + header.body_bytes,
            "size_on_disk": f.size_on_disk,
        }
        if selection is not None:
            info["selection"] = str(selection)
            info["first_record"] = first
            info["file_shape"] = list(header.shape)
        if fields and header.ndim == 2 and len(fields) == header.shape[1]:
            info["fields"] = list(fields)
        if stats and header.ndim == 2 and 1 < header.shape[1] <= MAX_COLUMNS:
            # A table (QMNIST's extended labels): statistics per column, by the manifest's names.
            columns = summarize_columns(
                _selected(f.chunks(), first, end),
                header.shape[1],
                names=fields,
                count_values=f.dtype.kind in "iu",
            )
            info["columns"] = [c.as_dict() for c in columns]
            info["stats"] = combined(columns).as_dict()
        elif stats:
            counting = header.ndim == 1 and f.dtype.kind in "iu"
            info["stats"] = summarize(_flat_values(f, first, end), count_values=counting).as_dict()
        else:
            f.check_body()
        info["body_ok"] = True
    return info
