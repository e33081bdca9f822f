"""IDX files from any collection: ``-o DIR`` gets one images and one labels file per split."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import compress
from ..errors import DataError, UsageError
from ..idx import TYPE_CODES, Header, header_for, write_stream
from ..model import Part, SplitFiles, Splits
from ..progress import ProgressFactory
from . import ReadOptions, Target, WriteOptions

#: The type words of the published file names (QMNIST: ``idx2-int``).
TYPE_WORDS = {
    "uint8": "ubyte",
    "int8": "byte",
    "int16": "short",
    "int32": "int",
    "float32": "float",
    "float64": "double",
}
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


def _streamable(part: Part) -> bool:
    """True when the images can go to IDX as they are read: already an IDX element type."""
    return part.dtype.name in TYPE_WORDS


def write(folder: str | os.PathLike[str], coll: Splits, compression: compress.Compression = "raw") -> list[Path]:
    """Write every split's images and labels into the existing folder ``folder``.

    Images in an IDX element type stream chunk by chunk (header first, then each chunk);
    others are narrowed in memory first (:func:`idx_array`).
    """
    targets: list[Path] = []
    for split, part in coll.parts.items():
        if _streamable(part):
            header = Header(TYPE_CODES[part.dtype.name], tuple(int(d) for d in part.shape))
            items: list[tuple[str, Header, Iterable[np.ndarray]]] = [("images", header, part.image_chunks())]
        else:
            arr = idx_array(part.images, part.images_name)
            items = [("images", header_for(arr), [arr])]
        if part.labels is not None:
            labels = idx_array(part.labels, part.labels_name or "labels")
            items.append(("labels", header_for(labels), [labels]))
        for kind, header, chunks in items:
            target = Path(folder) / file_name(split, kind, header.ndim, header.dtype, compression)
            with open(target, "xb") as raw:
                out = compress.open_write(raw, compression)
                write_stream(out, header, chunks)
                if out is not raw:
                    out.close()
            targets.append(target)
    return targets


def read_folder(folder: str | os.PathLike[str]) -> Splits:
    """``[<split>-]images-idx*`` files with their ``[<split>-]labels-idx*`` partners."""
    from ..loading import read_part

    root = Path(folder)
    parts = {}
    for images in sorted(root.glob("*images-idx*")):
        prefix = images.name.split("images-idx")[0]
        labels = sorted(root.glob(f"{prefix}labels-idx*"))
        parts[prefix.rstrip("-")] = read_part(SplitFiles(images, labels[0] if labels else None))
    if not parts:
        raise DataError(f"{root}: has no IDX images files (*images-idx*)")
    return Splits(parts, name=str(root))


class IdxFormat:
    """IDX files: ``IMAGES [LABELS]``, or a folder of ``<split>-images-idx3-ubyte`` files."""

    name = "idx"
    max_inputs = 2
    sniff_order = 90

    def sniff(self, path: Path) -> bool:
        if path.is_dir():
            return any("images-idx" in p.name for p in path.iterdir())
        return path.is_file()

    def read(self, paths: Sequence[Path], options: ReadOptions) -> Splits:
        from ..loading import read_part

        if paths[0].is_dir():
            return read_folder(paths[0])
        files = SplitFiles(paths[0], paths[1] if len(paths) > 1 else None)
        return Splits({"": read_part(files)}, name=str(paths[0]))

    def target(self, splits: Splits) -> Target:
        return "folder"

    def write(
        self, splits: Splits, out: Path, options: WriteOptions, *, final: Path, progress: ProgressFactory | None
    ) -> None:
        write(out, splits, options.compression or "raw")


FORMAT = IdxFormat()
