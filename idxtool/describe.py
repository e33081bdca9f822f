"""What an IDX file holds: header facts, body check and streamed statistics, as plain data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .loading import open_input
from .selection import Selection
from .sources import Stdin
from .stats import summarize


def _selected(chunks: Iterator[np.ndarray], first: int, end: int) -> Iterator[np.ndarray]:
    """The records ``first`` to ``end`` of a chunk stream (the rest is still read and checked)."""
    seen = 0
    for chunk in chunks:
        lo, hi = max(first - seen, 0), min(end - seen, len(chunk))
        if lo < hi:
            yield chunk[lo:hi]
        seen += len(chunk)


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
    ``fields`` names the columns of a 2-D labels table.
    """
    opened = Path(source) if isinstance(source, (str, os.PathLike)) else source
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
        if stats:
            counting = header.ndim == 1 and f.dtype.kind in "iu"
            info["stats"] = summarize(_selected(f.chunks(), first, end), count_values=counting).as_dict()
        else:
            f.check_body()
        info["body_ok"] = True
    return info
