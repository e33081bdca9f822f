"""The ``mnist.pkl.gz`` layout of the deeplearning.net tutorials.

One pickle of ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))``: ``x`` float32
of shape (N, pixels), pixel/256 as in the real file (0 .. 0.99609375), ``y`` int64. From a dataset the validation set is the last
``val`` records of ``train`` (10,000 for MNIST: 50,000 / 10,000 / 10,000).
Reading uses a restricted unpickler that only rebuilds numpy arrays.
"""

from __future__ import annotations

import io
import logging
import math
import os
import pickle
import pickletools
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np

from .. import compress
from ..errors import DataError, ParameterError, UsageError
from ..model import Part, Splits
from ..progress import ProgressFactory
from . import ReadOptions, Target, WriteOptions, stem_suffix

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
#: 4 loads in Python 3.4+ and with ``pickle.load(f, encoding="latin1")`` as the tutorials do.
PROTOCOL = 4


#: What the real ``mnist.pkl.gz`` stores: float32 pixel/256 (0 .. 255/256 = 0.99609375), not
#: pixel/255, with int64 labels. Source: the LISA lab, which made the file, wrote "The maximum
#: value of a feature in the MNIST dataset is 255/256 rather than 1" and blamed it on
#: a pylearn1 conversion script (https://github.com/lisa-lab/pylearn2/issues/93, 2012-05-18).
#: k/256 is exact in float32, so every value is float32(k) / 256 for the uint8 pixel k.
SCALE = 256
#: The other scaling in the wild (Keras-style ``x / 255``): read back as exactly as 1/256.
SCALES = (256, 255)
#: float32 bytes converted and written at a time.
CHUNK_BYTES = 4 << 20


@dataclass(frozen=True)
class _Array:
    """One array of the layout: shape and type, and its values in chunks (records in order)."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    chunks: Callable[[], Iterable[np.ndarray]]


def _x(part: Part, first: int, end: int) -> _Array:
    """Records ``first``..``end`` of ``part`` as float32 pixel/256, converted chunk by chunk."""
    if part.dtype != np.uint8:
        raise DataError(f"{part.images_name}: the pkl layout holds 8-bit images scaled to [0, 1), not {part.dtype}")
    if part.labels is None or part.labels.ndim != 1:
        raise DataError(f"{part.images_name}: the pkl layout needs one label per image")
    width = math.prod(part.shape[1:])
    selected = part.select(first, end) if (first, end) != (0, part.count) else part

    def chunks() -> Iterator[np.ndarray]:
        for chunk in selected.image_chunks(max(1, CHUNK_BYTES // max(4 * width, 1))):
            x = chunk.reshape(len(chunk), width).astype(np.float32)
            x *= np.float32(1 / SCALE)  # exact: a power of two
            yield x

    return _Array((end - first, width), np.dtype(np.float32), chunks)


def _y(part: Part, first: int, end: int) -> _Array:
    labels = part.labels[first:end].astype(np.int64)  # type: ignore[index]  # checked by _x
    return _Array(labels.shape, labels.dtype, lambda: [labels])


def layout(coll: Splits, val: int = 10000) -> tuple[tuple[_Array, _Array], ...]:
    """(train, valid, test) pairs of ``coll``: its own ``valid`` split, or the tail of ``train``."""
    parts = coll.parts
    if "train" not in parts or "test" not in parts:
        raise UsageError(
            f"{coll.name}: the pkl layout needs train and test splits (a dataset name such as mnist, "
            f"or an .npz with x_train and x_test); this source has "
            + (f"splits {', '.join(map(repr, parts))}" if any(parts) else "one images/labels pair")
        )
    if "valid" in parts:
        return tuple((_x(parts[s], 0, parts[s].count), _y(parts[s], 0, parts[s].count)) for s in SPLITS)
    train, test = parts["train"], parts["test"]
    if not 0 < val < train.count:
        raise ParameterError(
            "val", val, f"must be between 1 and {train.count - 1} (the train split has {train.count:,} records)"
        )
    cut = train.count - val
    return (
        (_x(train, 0, cut), _y(train, 0, cut)),
        (_x(train, cut, train.count), _y(train, cut, train.count)),
        (_x(test, 0, test.count), _y(test, 0, test.count)),
    )


# -- the pickle stream, written opcode by opcode -------------------------------------------
#
# ``pickle.dump`` of an ndarray copies its data into one bytes object first (``tobytes()``
# under protocols 2-4). Here each array is written as numpy's own reduce, ``_reconstruct``
# then ``__setstate__((1, shape, dtype, False, data))``, with ``data`` one BINBYTES8 opcode
# whose payload is written chunk by chunk. ``numpy.core.multiarray`` loads in numpy 1.x and
# 2.x alike; the stream loads with ``pickle.load(f)`` and ``pickle.load(f, encoding="latin1")``.

_RECONSTRUCT = b"cnumpy.core.multiarray\n_reconstruct\n"
_NDARRAY = b"cnumpy\nndarray\n"


def _int(value: int) -> bytes:
    return pickle.BININT + struct.pack("<i", value)


def _tuple(items: Sequence[bytes]) -> bytes:
    return pickle.MARK + b"".join(items) + pickle.TUPLE


def _dtype(dtype: np.dtype[Any]) -> bytes:
    """A dtype as numpy pickles it (protocol 2 opcodes, no memo, without PROTO and STOP)."""
    data = pickletools.optimize(pickle.dumps(dtype, protocol=2))  # drops the unused memo puts
    return data[2:-1]


def _write_array(out: IO[bytes], array: _Array) -> None:
    """Write one array's opcodes to ``out``; the data in chunks, never copied whole."""
    nbytes = math.prod(array.shape) * array.dtype.itemsize
    out.write(
        _RECONSTRUCT
        + _tuple([_NDARRAY, _tuple([_int(0)]), pickle.SHORT_BINBYTES + b"\x01b"])
        + pickle.REDUCE
        + pickle.MARK
        + _int(1)
        + _tuple([_int(d) for d in array.shape])
        + _dtype(array.dtype)
        + pickle.NEWFALSE
        + pickle.BINBYTES8
        + struct.pack("<Q", nbytes)
    )
    written = 0
    for chunk in array.chunks():
        data = np.ascontiguousarray(chunk, array.dtype.newbyteorder("<"))
        out.write(data.data)
        written += data.nbytes
    if written != nbytes:
        raise DataError(f"pkl: {written:,} bytes of data written, {nbytes:,} declared")
    out.write(pickle.TUPLE + pickle.BUILD)


def dump(data: Sequence[Sequence[_Array]], out: IO[bytes]) -> None:
    """Write ``((x, y), (x, y), (x, y))`` as one pickle to ``out``, array data in chunks."""
    out.write(pickle.PROTO + bytes([PROTOCOL]))
    out.write(pickle.MARK)
    for pair in data:
        out.write(pickle.MARK)
        for array in pair:
            _write_array(out, array)
        out.write(pickle.TUPLE)
    out.write(pickle.TUPLE + pickle.STOP)


def write(
    path: str | os.PathLike[str], coll: Splits, val: int = 10000, *, name: str | os.PathLike[str] | None = None
) -> Path:
    """Write the pickle at ``path`` (gzip, xz or bz2 by the suffix of ``name``, as ``mnist.pkl.gz``).

    Pixels are float32 pixel/256 and labels int64, as in the real ``mnist.pkl.gz``; images are
    converted and written chunk by chunk, so memory holds one chunk, not the arrays.
    """
    data = layout(coll, val)
    kind = compress.from_suffix(name or path)
    with open(path, "wb") as fh:
        stream = compress.open_write(fh, kind) if kind != "raw" else fh
        dump(data, stream)
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
            # Python 3's protocol 2 pickles bytes as _codecs.encode(text, "latin1"): harmless
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are read")
        return super().find_class(module, name)


def _restore(x: np.ndarray, name: str) -> np.ndarray:
    """float32 pixel/256 (the real mnist.pkl.gz) or pixel/255 back to uint8 when that is exact.

    Any other float array stays float, with a note in the log.
    """
    if x.dtype.kind == "f" and x.size:
        for scale in SCALES:
            scaled = np.rint(x.astype(np.float64) * scale)
            if scaled.min() >= 0 and scaled.max() <= 255:
                u8 = scaled.astype(np.uint8)
                if np.array_equal(u8.astype(np.float32) / np.float32(scale), x):
                    x = u8
                    break
        else:
            logger.warning("%s: pixels are not k/256 nor k/255 for integers k; kept as %s", name, x.dtype)
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
            parts[split] = Part(
                _restore(np.asarray(x), f"{name}[{split}]"), labels, f"{name}[{split}]", f"{name}[{split}]"
            )
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
