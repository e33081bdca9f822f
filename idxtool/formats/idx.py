"""IDX files from any collection: ``-o DIR`` gets one images and one labels file per split."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import compress
from ..atomic import atomic_files
from ..errors import UsageError
from ..idx import header_for, write_stream
from ..pairs import Collection, PairPaths, load_part

#: The type words of the published file names (QMNIST: ``idx2-int``).
TYPE_WORDS = {"uint8": "ubyte", "int8": "byte", "int16": "short", "int32": "int", "float32": "float", "float64": "double"}
SUFFIXES = {"raw": "", "gzip": ".gz", "xz": ".xz", "bz2": ".bz2"}


def idx_array(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr`` in an IDX element type: as is, or integers narrowed losslessly to one that holds them."""
    if arr.dtype.name in TYPE_WORDS:
        return arr
    if arr.dtype.kind in "iub":
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        for dt in (np.uint8, np.int8, np.int16, np.int32):
            if np.iinfo(dt).min <= lo and hi <= np.iinfo(dt).max:
                return arr.astype(dt)
        raise UsageError(f"{name}: values {lo}..{hi} do not fit any IDX integer type (int32 at most)")
    if arr.dtype == np.float16:
        return arr.astype(np.float32)
    raise UsageError(f"{name}: {arr.dtype} cannot be stored in IDX (uint8, int8, int16, int32, float32, float64)")


def file_name(split: str, kind: str, ndim: int, dtype: np.dtype[Any], compression: compress.Compression) -> str:
    """``train-images-idx3-ubyte.gz``-style names; no split prefix for a lone pair."""
    prefix = f"{split}-" if split else ""
    return f"{prefix}{kind}-idx{ndim}-{TYPE_WORDS[np.dtype(dtype).name]}{SUFFIXES[compression]}"


def write(
    folder: str | os.PathLike[str],
    coll: Collection,
    compression: compress.Compression = "raw",
    force: bool = False,
) -> list[Path]:
    """Write every split's images and labels into ``folder``; all files appear or none."""
    arrays: list[tuple[Path, np.ndarray]] = []
    for split, part in coll.parts.items():
        x = idx_array(part.images, part.images_name)
        arrays.append((Path(folder) / file_name(split, "images", x.ndim, x.dtype, compression), x))
        if part.labels is not None:
            y = idx_array(part.labels, part.labels_name or "labels")
            arrays.append((Path(folder) / file_name(split, "labels", y.ndim, y.dtype, compression), y))
    targets = [t for t, _ in arrays]
    with atomic_files(targets, force) as temps:
        for temp, (_, arr) in zip(temps, arrays):
            with open(temp, "wb") as raw:
                out = compress.open_write(raw, compression)
                write_stream(out, header_for(arr), [arr])
                if out is not raw:
                    out.close()
    return targets


def read(images: str | os.PathLike[str], labels: str | os.PathLike[str] | None = None) -> Collection:
    """An IDX images file and its labels, or a folder written by :func:`write`, checked."""
    if Path(images).is_dir():
        return read_folder(images)
    part = load_part(PairPaths(Path(images), Path(labels) if labels else None))
    return Collection({"": part}, name=str(images))


def read_folder(folder: str | os.PathLike[str]) -> Collection:
    """``[<split>-]images-idx*`` files with their ``[<split>-]labels-idx*`` partners."""
    root = Path(folder)
    parts = {}
    for images in sorted(root.glob("*images-idx*")):
        prefix = images.name.split("images-idx")[0]
        labels = sorted(root.glob(f"{prefix}labels-idx*"))
        parts[prefix.rstrip("-")] = load_part(PairPaths(images, labels[0] if labels else None))
    return Collection(parts, name=str(root))
