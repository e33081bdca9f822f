"""NumPy .npy: a folder with x.npy, y.npy (or x_<split>.npy, y_<split>.npy), or loose files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_files
from ..errors import DataError
from ..pairs import Collection, Part
from .npz import arrays


def write(folder: str | os.PathLike[str], coll: Collection, force: bool = False) -> list[Path]:
    """Write one .npy per array into ``folder``; all appear or none."""
    named = arrays(coll)
    targets = [Path(folder) / f"{key}.npy" for key in named]
    with atomic_files(targets, force) as temps:
        for temp, arr in zip(temps, named.values()):
            with open(temp, "wb") as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(arr), allow_pickle=False)
    return targets


def _load(path: Path) -> np.ndarray:
    try:
        arr: np.ndarray = np.load(path, allow_pickle=False)
        return arr
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npy file ({exc})") from exc


def read(paths: Sequence[str | os.PathLike[str]]) -> Collection:
    """Read ``IMAGES.npy [LABELS.npy]`` or a folder written by :func:`write`."""
    first = Path(paths[0])
    if first.is_dir():
        files = {p.stem: p for p in sorted(first.glob("*.npy"))}
        if "x" in files:
            splits = {"": ("x", "y")}
        else:
            splits = {k[2:]: (k, "y" + k[1:]) for k in files if k.startswith("x_")}
        if not splits:
            raise DataError(f"{first}: has no x.npy or x_<split>.npy (found {', '.join(files) or 'none'})")
        parts = {
            s: Part(_load(files[x]), _load(files[y]) if y in files else None, str(files[x]), str(files[y]) if y in files else None)
            for s, (x, y) in splits.items()
        }
        return Collection(parts, name=str(first))
    images = _load(first)
    labels = _load(Path(paths[1])) if len(paths) > 1 else None
    return Collection({"": Part(images, labels, str(first), str(paths[1]) if len(paths) > 1 else None)}, name=str(first))
