"""NumPy .npz: ``x``, ``y`` for a pair; Keras' ``x_train``, ``y_train``, ``x_test``, ``y_test`` for splits."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import DataError, ParameterError
from ..model import Part, Splits
from ..progress import ProgressFactory
from . import ReadOptions, Target, WriteOptions, stem_suffix
from ._zipwriter import ZipWriter


def split_name(base: str, split: str) -> str:
    """``x`` for a lone pair, ``x_train`` for a split."""
    return f"{base}_{split}" if split else base


def arrays(coll: Splits) -> dict[str, np.ndarray]:
    """The named arrays of ``coll``: x, y or x_<split>, y_<split> (images read whole)."""
    out: dict[str, np.ndarray] = {}
    for split, part in coll.parts.items():
        out[split_name("x", split)] = part.images
        if part.labels is not None:
            out[split_name("y", split)] = part.labels
    return out


@dataclass(frozen=True)
class Entry:
    """One array to write: its name, shape and type, and its contents in chunks (records in order)."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    chunks: Callable[[], Iterable[np.ndarray]]

    @property
    def nbytes(self) -> int:
        """Size of the array's data in bytes."""
        return math.prod(self.shape) * self.dtype.itemsize


def _whole(array: np.ndarray) -> list[np.ndarray]:
    return [array]


def entries(coll: Splits) -> list[Entry]:
    """The named arrays of ``coll`` (x, y or x_<split>, y_<split>), images streamed in chunks."""
    out: list[Entry] = []
    for split, part in coll.parts.items():
        out.append(Entry(split_name("x", split), part.shape, part.dtype, part.image_chunks))
        if part.labels is not None:
            labels = part.labels
            out.append(Entry(split_name("y", split), labels.shape, labels.dtype, partial(_whole, labels)))
    return out


def write_npy(fh: IO[bytes] | ZipWriter, entry: Entry) -> None:
    """Write ``entry`` as .npy bytes: the header (shape and type), then the data chunk by chunk.

    The bytes are those of ``numpy.save`` for the same array (format 1.0, C order).
    """
    header = {"descr": np.lib.format.dtype_to_descr(entry.dtype), "fortran_order": False, "shape": entry.shape}
    np.lib.format.write_array_header_1_0(fh, header)
    written = 0
    for chunk in entry.chunks():
        data = np.ascontiguousarray(chunk, dtype=entry.dtype)
        fh.write(data.data if data.size else b"")
        written += data.nbytes
    if written != entry.nbytes:
        raise DataError(f"{entry.key}: {written:,} bytes written, {entry.nbytes:,} expected")


def write(path: str | os.PathLike[str], coll: Splits, *, compress: bool = True) -> Path:
    """Write ``coll`` as an .npz at ``path`` (deflate unless ``compress`` is False), streaming the images."""
    with open(path, "wb") as fh:
        z = ZipWriter(fh, compress=compress)
        for entry in entries(coll):
            write_npy(z.open(f"{entry.key}.npy", entry.nbytes), entry)
            z.close_entry()
        z.close()
    return Path(path)


_SPLIT_KEY = re.compile(r"^x_(.+)$")


def read(path: str | os.PathLike[str]) -> Splits:
    """Read an .npz in either layout (or numpy's positional ``arr_0``, ``arr_1``)."""
    name = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{name}: not a readable .npz file ({exc})") from exc
    if "arr_0" in data and "x" not in data:
        data = {"x": data["arr_0"], **({"y": data["arr_1"]} if "arr_1" in data else {})}
    if "x" in data:
        return Splits({"": _part(data, "", name)}, name=name)
    splits = [m.group(1) for k in data if (m := _SPLIT_KEY.match(k))]
    if not splits:
        raise DataError(
            f"{name}: has no x or x_<split> array (it holds {', '.join(sorted(data)) or 'nothing'}); "
            "expected x, y or x_train, y_train, x_test, y_test"
        )
    return Splits({s: _part(data, s, name) for s in splits}, name=name)


def _part(data: dict[str, np.ndarray], split: str, name: str) -> Part:
    x, y = split_name("x", split), split_name("y", split)
    return Part(data[x], data.get(y), f"{name}[{x}]", f"{name}[{y}]" if y in data else None)


class NpzFormat:
    """NumPy .npz archives: ``x``/``y`` for a pair, Keras' names for splits."""

    name = "npz"
    max_inputs = 1
    sniff_order = 10

    def sniff(self, path: Path) -> bool:
        return path.is_file() and stem_suffix(path) == ".npz"

    def read(self, paths: Sequence[Path], options: ReadOptions) -> Splits:
        return read(paths[0])

    def target(self, splits: Splits) -> Target:
        return "file"

    def write(
        self, splits: Splits, out: Path, options: WriteOptions, *, final: Path, progress: ProgressFactory | None
    ) -> None:
        if options.compression not in (None, "raw", "gzip"):
            raise ParameterError(
                "compression", options.compression, "cannot be used: an .npz is deflate (gzip) or raw (stored)"
            )
        write(out, splits, compress=options.compression != "raw")


FORMAT = NpzFormat()
