"""The ``mnist.pkl.gz`` layout of the deeplearning.net tutorials.

One pickle of ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))``: ``x`` float32
of shape (N, pixels) in [0, 1], ``y`` int64. From a dataset the validation set is the last
``val`` records of ``train`` (10,000 for MNIST: 50,000 / 10,000 / 10,000).
Reading uses a restricted unpickler that only rebuilds numpy arrays.
"""

from __future__ import annotations

import io
import math
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .. import compress
from ..errors import DataError, ParameterError, UsageError
from ..model import Part, Splits
from ..progress import ProgressFactory
from . import ReadOptions, Target, WriteOptions, stem_suffix

SPLITS = ("train", "valid", "test")
#: 4 loads in Python 3.4+ and with ``pickle.load(f, encoding="latin1")`` as the tutorials do.
PROTOCOL = 4


def _xy(part: Part) -> tuple[np.ndarray, np.ndarray]:
    if part.images.dtype != np.uint8:
        raise DataError(
            f"{part.images_name}: the pkl layout holds 8-bit images scaled to [0, 1], not {part.images.dtype}"
        )
    if part.labels is None or part.labels.ndim != 1:
        raise DataError(f"{part.images_name}: the pkl layout needs one label per image")
    x = part.images.reshape(part.count, -1).astype(np.float32)
    x /= np.float32(255)
    return x, part.labels.astype(np.int64)


def layout(coll: Splits, val: int = 10000) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(train, valid, test) pairs of ``coll``: its own ``valid`` split, or the tail of ``train``."""
    parts = coll.parts
    if "train" not in parts or "test" not in parts:
        raise UsageError(
            f"{coll.name}: the pkl layout needs train and test splits (a dataset name such as mnist, "
            f"or an .npz with x_train and x_test); this source has "
            + (f"splits {', '.join(map(repr, parts))}" if any(parts) else "one images/labels pair")
        )
    if "valid" in parts:
        return tuple(_xy(parts[s]) for s in SPLITS)
    train = parts["train"]
    if not 0 < val < train.count:
        raise ParameterError(
            "val", val, f"must be between 1 and {train.count - 1} (the train split has {train.count:,} records)"
        )
    x, y = _xy(train)
    cut = train.count - val
    return (x[:cut], y[:cut]), (x[cut:], y[cut:]), _xy(parts["test"])


def write(
    path: str | os.PathLike[str], coll: Splits, val: int = 10000, *, name: str | os.PathLike[str] | None = None
) -> Path:
    """Write the pickle at ``path`` (gzip, xz or bz2 by the suffix of ``name``, as ``mnist.pkl.gz``)."""
    data = layout(coll, val)
    kind = compress.from_suffix(name or path)
    with open(path, "wb") as fh:
        stream = compress.open_write(fh, kind) if kind != "raw" else fh
        pickle.dump(data, stream, protocol=PROTOCOL)
        if stream is not fh:
            stream.close()
    return Path(path)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles tuples of numpy arrays and nothing else: a pickle can run any code."""

    ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are read")
        return super().find_class(module, name)


def _restore(x: np.ndarray) -> np.ndarray:
    """float32 k/255 back to uint8 when every value is exactly that (it is for mnist.pkl.gz)."""
    scaled = np.rint(x.astype(np.float64) * 255)
    if scaled.min(initial=0) >= 0 and scaled.max(initial=0) <= 255:
        u8 = scaled.astype(np.uint8)
        if np.array_equal((u8.astype(np.float32) / np.float32(255)), x):
            x = u8
    side = math.isqrt(x.shape[1]) if x.ndim == 2 else 0
    return x.reshape(len(x), side, side) if side * side == x.shape[1] else x


def read(path: str | os.PathLike[str]) -> Splits:
    """Read the pickle back; pixels return to uint8 (N, 28, 28) when that is exact."""
    name = str(path)
    try:
        with compress.open_read(path) as fh:
            data = _ArraysOnly(io.BytesIO(fh.read()), encoding="latin1").load()
        parts = {}
        for split, (x, y) in zip(SPLITS, data, strict=True):
            labels = np.asarray(y)
            if labels.dtype.kind in "iu" and len(labels) and labels.min() >= 0 and labels.max() <= 255:
                labels = labels.astype(np.uint8)
            parts[split] = Part(_restore(np.asarray(x)), labels, f"{name}[{split}]", f"{name}[{split}]")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, OSError) as exc:
        raise DataError(f"{name}: not a pickle in the mnist.pkl.gz layout ({exc})") from exc
    return Splits(parts, name=name)


class PklFormat:
    """The deeplearning.net tutorial pickle: ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))``."""

    name = "pkl"
    max_inputs = 1
    sniff_order = 20

    def sniff(self, path: Path) -> bool:
        return path.is_file() and stem_suffix(path) in (".pkl", ".pickle")

    def read(self, paths: Sequence[Path], options: ReadOptions) -> Splits:
        return read(paths[0])

    def target(self, splits: Splits) -> Target:
        return "file"

    def write(
        self, splits: Splits, out: Path, options: WriteOptions, *, final: Path, progress: ProgressFactory | None
    ) -> None:
        write(out, splits, options.val, name=final)


FORMAT = PklFormat()
