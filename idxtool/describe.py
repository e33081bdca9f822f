"""What an IDX file holds: header facts, body check and streamed statistics, as plain data."""

from __future__ import annotations

import os
from typing import Any

from .errors import IdxError
from .idx import IdxFile
from .stats import summarize


def describe(path: str | os.PathLike[str], *, stats: bool = False) -> dict[str, Any]:
    """Describe the IDX file at ``path``; raises IdxError when it is invalid.

    The body is streamed once (bounded memory) to check its length against the header and,
    with ``stats``, to compute min/max/mean/std (plus value counts for 1-D integer files).
    """
    with IdxFile(path) as f:
        header = f.header
        info: dict[str, Any] = {
            "path": str(path),
            "compression": f.compression,
            "dtype": f.dtype.name,
            "type_code": f"0x{header.type_code:02X}",
            "ndim": header.ndim,
            "shape": list(header.shape),
            "records": header.count,
            "record_shape": list(header.record_shape),
            "header_bytes": header.nbytes,
            "body_bytes": header.body_bytes,
            "raw_size": header.nbytes + header.body_bytes,
            "size_on_disk": f.size_on_disk,
        }
        if stats:
            counting = header.ndim == 1 and f.dtype.kind in "iu"
            info["stats"] = summarize(f.chunks(), count_values=counting).as_dict()
        else:
            f.check_body()
        info["body_ok"] = True
    return info


def describe_or_error(path: str | os.PathLike[str], *, stats: bool = False) -> dict[str, Any]:
    """Like :func:`describe`, but an invalid file gives ``{"path", "error", "body_ok": False}``."""
    try:
        return describe(path, stats=stats)
    except IdxError as exc:
        return {"path": str(path), "error": str(exc), "exit_code": exc.exit_code, "body_ok": False}
