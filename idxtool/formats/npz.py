"""NumPy .npz: ``x``, ``y`` for a pair; Keras' ``x_train``, ``y_train``, ``x_test``, ``y_test`` for splits."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..atomic import atomic_file
from ..errors import DataError
from ..pairs import Collection, Part
from .zipwriter import ZipWriter


def split_name(base: str, split: str) -> str:
    """``x`` for a lone pair, ``x_train`` for a split."""
    return f"{base}_{split}" if split else base

def arrays(coll: Collection) -> dict[str, np.ndarray]:
    """The named arrays of ``coll``: x, y or x_<split>, y_<split>."""
    out: dict[str, np.ndarray] = {}
    for split, part in coll.parts.items():
        out[split_name("x", split)] = part.images
        if part.labels is not None:
            out[split_name("y", split)] = part.labels
    return out


def write(path: str | os.PathLike[str], coll: Collection, compress: bool = True) -> Path:
    """Write ``coll`` as an .npz (deflate unless ``compress`` is False), atomically."""
    with atomic_file(path) as fh:
        z = ZipWriter(fh, compress)
        for key, arr in arrays(coll).items():
            arr = np.ascontiguousarray(arr)
            np.lib.format.write_array(z.open(f"{key}.npy", arr.nbytes), arr, allow_pickle=False)
            z.close_entry()
        z.close()
    return Path(path)


_SPLIT_KEY = re.compile(r"^x_(.+)$")


def read(path: str | os.PathLike[str]) -> Collection:
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
        return Collection({"": _part(data, "", name)}, name=name)
    splits = [m.group(1) for k in data if (m := _SPLIT_KEY.match(k))]
    if not splits:
        raise DataError(
            f"{name}: has no x or x_<split> array (it holds {', '.join(sorted(data)) or 'nothing'}); "
            "expected x, y or x_train, y_train, x_test, y_test"
        )
    return Collection({s: _part(data, s, name) for s in splits}, name=name)


def _part(data: dict[str, np.ndarray], split: str, name: str) -> Part:
    x, y = split_name("x", split), split_name("y", split)
    return Part(data[x], data.get(y), f"{name}[{x}]", f"{name}[{y}]" if y in data else None)
